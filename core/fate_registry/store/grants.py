"""Permission grants: entries per source party, component or dataset, role and effect, with
their limits, and the jobs that entries with ``max_uses`` admitted.

Granting and revoking bump the revision counter, so every node reloads its snapshot of the
grants (and drops cached decisions) at its next revision check. Admitting a job does not: its
count changes nothing a node caches, and is exact because it is decided in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, delete, or_, select, update

from ..grants import Grant, GrantKey
from . import tables, transactions
from .tables import as_utc, grant_uses_t, grants_t

KEY = ("party_id", "kind", "value", "role")


class _Refused(Exception):
    """A need had no use left: the transaction is rolled back."""

    def __init__(self, key: GrantKey) -> None:
        self.key = key


class GrantStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # A new grant of an entry replaces its effect and limits; the jobs it admitted stay
        # counted (uses is never reset by a grant: only a revoke forgets them).
        changing = ["effect", "not_before", "expires_at", "max_uses"]
        self._upsert = transactions.upsert(engine.dialect.name, grants_t, list(KEY), changing)
        self._insert_use = transactions.insert_if_absent(engine.dialect.name, grant_uses_t)

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
                "not_before": e.not_before,
                "expires_at": e.expires_at,
                "max_uses": e.max_uses,
                "uses": 0,
            }
            for e in entries
        ]
        with transactions.write(self.engine) as conn:
            conn.execute(self._upsert, rows)

    def delete(
        self, party_id: str, targets: Sequence[tuple[str | None, str | None]], role: str | None
    ) -> int:
        """Delete the party's entries matching any ``(kind, value)`` target (None: any), and
        the jobs they admitted."""
        with transactions.write(self.engine) as conn:
            conn.execute(
                delete(grant_uses_t).where(*_matching(grant_uses_t, party_id, targets, role))
            )
            where = _matching(grants_t, party_id, targets, role)
            return int(conn.execute(delete(grants_t).where(*where)).rowcount)

    def entries(self, party_id: str | None) -> list[Grant]:
        stmt = select(grants_t).order_by(
            grants_t.c.party_id, grants_t.c.kind, grants_t.c.value, grants_t.c.role
        )
        if party_id is not None:
            stmt = stmt.where(grants_t.c.party_id == party_id)
        with transactions.read(self.engine) as conn:
            return [_grant(row) for row in conn.execute(stmt).mappings()]

    def admit(
        self, job_id: str | None, needs: Sequence[Sequence[GrantKey]], now: float
    ) -> tuple[list[Grant], Grant | None]:
        """Count a use of one entry of each need (the first of its candidates with a use left
        and in force at ``now``) in one transaction; see ``Grants.admit``. Each count is one
        conditional UPDATE (``uses < max_uses``), which the database serialises per entry: two
        nodes admitting an entry's last use at once, one wins."""
        at = datetime.fromtimestamp(now, UTC)
        counted: list[GrantKey] = []
        try:
            with transactions.write(self.engine, bump=False) as conn:
                for candidates in sorted(tuple(need) for need in needs):  # one order: no deadlock
                    if any(key in counted for key in candidates):
                        continue
                    key = next((k for k in candidates if self._use(conn, k, job_id, at)), None)
                    if key is None:
                        raise _Refused(candidates[0])
                    counted.append(key)
                entries = [self._entry(conn, key) for key in counted]
        except _Refused as refused:
            with transactions.read(self.engine) as conn:
                entry = self._entry(conn, refused.key)
            if entry is None:  # revoked meanwhile: refused all the same
                party_id, kind, value, role = refused.key
                entry = Grant(party_id, kind, value, role)  # type: ignore[arg-type]
            return [], entry
        return [entry for entry in entries if entry is not None], None

    def _use(self, conn: Connection, key: GrantKey, job_id: str | None, at: datetime) -> bool:
        """Count ``job_id`` on entry ``key``; True when counted now or before. A job is
        counted once per entry; a request without a job id counts each time."""
        match = dict(zip(KEY, key, strict=True))
        if job_id is not None:
            row = {**match, "job_id": job_id, "used_at": at.replace(microsecond=0)}
            if not transactions.inserted(conn, self._insert_use, row):
                return True  # this job is counted already
        counted = conn.execute(
            update(grants_t)
            .where(
                *(grants_t.c[name] == value for name, value in match.items()),
                grants_t.c.max_uses.is_not(None),
                grants_t.c.uses < grants_t.c.max_uses,
                or_(grants_t.c.not_before.is_(None), grants_t.c.not_before <= at),
                or_(grants_t.c.expires_at.is_(None), grants_t.c.expires_at > at),
            )
            .values(uses=grants_t.c.uses + 1)
        ).rowcount
        if counted == 1:
            return True
        if job_id is not None:  # not admitted by this entry: it holds no use of the job
            conn.execute(
                delete(grant_uses_t).where(
                    *(grant_uses_t.c[name] == value for name, value in match.items()),
                    grant_uses_t.c.job_id == job_id,
                )
            )
        return False

    @staticmethod
    def _entry(conn: Connection, key: GrantKey) -> Grant | None:
        where = (grants_t.c[name] == value for name, value in zip(KEY, key, strict=True))
        row = conn.execute(select(grants_t).where(*where)).mappings().first()
        return None if row is None else _grant(row)


def _matching(
    table: Table, party_id: str, targets: Sequence[tuple[str | None, str | None]], role: str | None
) -> list[Any]:
    """The conditions of ``table`` (grants or their uses) for a party's entries matching any
    ``(kind, value)`` target (None: any), in ``role`` when given."""
    conditions: list[Any] = []
    for kind, value in targets:
        parts = []
        if kind is not None:
            parts.append(table.c.kind == kind)
        if value is not None:
            parts.append(table.c.value == value)
        conditions.append(and_(*parts) if parts else table.c.kind.is_not(None))
    where = [table.c.party_id == party_id, or_(*conditions)]
    if role is not None:
        where.append(table.c.role == role)
    return where


def _grant(row: Any) -> Grant:
    return Grant(
        party_id=row["party_id"],
        kind=row["kind"],
        value=row["value"],
        role=row["role"],
        effect=row["effect"],
        created_at=as_utc(row["created_at"]),
        not_before=None if row["not_before"] is None else as_utc(row["not_before"]),
        expires_at=None if row["expires_at"] is None else as_utc(row["expires_at"]),
        max_uses=row["max_uses"],
        uses=int(row["uses"] or 0),
    )
