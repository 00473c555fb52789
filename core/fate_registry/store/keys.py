"""Site keys: public keys as PEM; private keys only encrypted or as a file path (the caller,
``fate_registry.keys``, encrypts before anything reaches this module).

Writes bump the revision counter, so every node reloads its key snapshot at its next check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, select

from . import tables, transactions
from .tables import as_utc, site_keys_t


@dataclass(frozen=True, slots=True)
class KeyRow:
    party_id: str
    kind: str  # public, private
    storage: str  # pem, encrypted, file
    material: str
    fingerprint: str
    created_at: datetime
    updated_at: datetime


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._upsert = transactions.upsert(engine.dialect.name, site_keys_t, ["party_id", "kind"])

    def save(self, rows: list[tuple[str, str, str, str, str]]) -> bool:
        """Store ``(party_id, kind, storage, material, fingerprint)`` rows in one transaction;
        True when the first of them is new (FATE's "save" rather than "update")."""
        now = tables.now()
        with transactions.write(self.engine) as conn:
            party_id, kind = rows[0][0], rows[0][1]
            existed = conn.execute(
                select(site_keys_t.c.party_id).where(
                    site_keys_t.c.party_id == party_id, site_keys_t.c.kind == kind
                )
            ).first()
            conn.execute(
                self._upsert,
                [
                    {
                        "party_id": p,
                        "kind": k,
                        "storage": s,
                        "material": m,
                        "fingerprint": f,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for p, k, s, m, f in rows
                ],
            )
            return existed is None

    def delete(self, party_id: str, kinds: tuple[str, ...]) -> int:
        with transactions.write(self.engine) as conn:
            return int(
                conn.execute(
                    delete(site_keys_t).where(
                        site_keys_t.c.party_id == party_id, site_keys_t.c.kind.in_(kinds)
                    )
                ).rowcount
            )

    def rows(self, party_id: str | None = None, kind: str | None = None) -> list[KeyRow]:
        stmt = select(site_keys_t).order_by(site_keys_t.c.party_id, site_keys_t.c.kind)
        if party_id is not None:
            stmt = stmt.where(site_keys_t.c.party_id == party_id)
        if kind is not None:
            stmt = stmt.where(site_keys_t.c.kind == kind)
        with transactions.read(self.engine) as conn:
            return [
                KeyRow(
                    party_id=row["party_id"],
                    kind=row["kind"],
                    storage=row["storage"],
                    material=row["material"],
                    fingerprint=row["fingerprint"],
                    created_at=as_utc(row["created_at"]),
                    updated_at=as_utc(row["updated_at"]),
                )
                for row in conn.execute(stmt).mappings()
            ]
