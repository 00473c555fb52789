"""Permission grants: entries per source party, component or dataset, role and effect.

Writes bump the revision counter, so every node reloads its snapshot of the grants (and drops
cached decisions) at its next revision check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select

from ..grants import Grant
from . import tables, transactions
from .tables import as_utc, grants_t


class GrantStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._upsert = transactions.upsert(
            engine.dialect.name, grants_t, ["party_id", "kind", "value", "role"]
        )

    def upsert(self, entries: Sequence[Grant]) -> None:
        now = tables.now()
        rows = [
            {
                "party_id": e.party_id,
                "kind": e.kind,
                "value": e.value,
                "role": e.role,
                "effect": e.effect,
                "created_at": now,
            }
            for e in entries
        ]
        with transactions.write(self.engine) as conn:
            conn.execute(self._upsert, rows)

    def delete(
        self, party_id: str, targets: Sequence[tuple[str | None, str | None]], role: str | None
    ) -> int:
        """Delete the party's entries matching any ``(kind, value)`` target (None: any)."""
        conditions: list[Any] = []
        for kind, value in targets:
            parts = []
            if kind is not None:
                parts.append(grants_t.c.kind == kind)
            if value is not None:
                parts.append(grants_t.c.value == value)
            conditions.append(and_(*parts) if parts else grants_t.c.kind.is_not(None))
        where = [grants_t.c.party_id == party_id, or_(*conditions)]
        if role is not None:
            where.append(grants_t.c.role == role)
        with transactions.write(self.engine) as conn:
            return int(conn.execute(delete(grants_t).where(*where)).rowcount)

    def entries(self, party_id: str | None) -> list[Grant]:
        stmt = select(grants_t).order_by(
            grants_t.c.party_id, grants_t.c.kind, grants_t.c.value, grants_t.c.role
        )
        if party_id is not None:
            stmt = stmt.where(grants_t.c.party_id == party_id)
        with transactions.read(self.engine) as conn:
            return [
                Grant(
                    party_id=row["party_id"],
                    kind=row["kind"],
                    value=row["value"],
                    role=row["role"],
                    effect=row["effect"],
                    created_at=as_utc(row["created_at"]),
                )
                for row in conn.execute(stmt).mappings()
            ]
