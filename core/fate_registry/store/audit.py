"""The audit trail's records and the head of their hash chain.

Appending locks the head row (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``) in the
transaction that inserts: writers of every node append one after the other, so the chain is one
sequence. Pruning deletes a prefix of the chain and moves the head's anchor (where the kept chain
starts, and the hash before it) in the same transaction, so what is kept stays verifiable.
Neither bumps the revision: records change nothing any node caches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update

from ..audit.records import CONTENT, AuditQuery, AuditRecord, Chain, Content
from . import transactions
from .tables import audit_head_t, audit_t

HEAD_ID = 1


@dataclass(frozen=True, slots=True)
class Head:
    """The chain's last record and its anchor: the first record kept and the hash before it
    (empty when that record was already missing when the ones before it were pruned)."""

    last_seq: int
    last_hash: str
    first_seq: int
    anchor_hash: str


class AuditStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = insert(audit_t)

    def append(self, contents: Sequence[Content], chain: Chain) -> int:
        """Append records in one transaction, numbered and hashed after the chain's last one;
        how many were written."""
        if not contents:
            return 0
        key_id = chain.key_id
        with transactions.write(self.engine, bump=False) as conn:
            head = self._locked_head(conn)
            seq, previous = head.last_seq, head.last_hash
            rows = []
            for content in contents:
                seq += 1
                previous = chain.link(previous, seq, content, key_id)
                row = dict(zip(CONTENT, content, strict=True))
                row.update(seq=seq, key_id=key_id, hash=previous)
                rows.append(row)
            conn.execute(self._insert, rows)
            conn.execute(
                update(audit_head_t)
                .where(audit_head_t.c.id == HEAD_ID)
                .values(last_seq=seq, last_hash=previous)
            )
        return len(rows)

    def prune(self, cutoff_ms: int | None, max_rows: int | None, chunk: int = 10_000) -> int:
        """Delete at most ``chunk`` of the oldest records: those before the first one decided at
        or after ``cutoff_ms``, and those beyond the newest ``max_rows``; how many went."""
        with transactions.write(self.engine, bump=False) as conn:
            head = self._locked_head(conn)
            first = head.first_seq
            end = min(first + chunk, head.last_seq + 1)  # at most a chunk this time
            keep_from = first
            if max_rows is not None:
                keep_from = max(keep_from, head.last_seq - max_rows + 1)
            if cutoff_ms is not None and keep_from < end:
                # In the chain's order: records of several nodes interleave, so a record is
                # pruned once it and every record before it are old enough.
                young = conn.execute(
                    select(audit_t.c.seq)
                    .where(
                        audit_t.c.seq >= keep_from,
                        audit_t.c.seq < end,
                        audit_t.c.decided_at >= cutoff_ms,
                    )
                    .order_by(audit_t.c.seq)
                    .limit(1)
                ).scalar()
                keep_from = end if young is None else int(young)
            keep_from = min(keep_from, end)
            if keep_from <= first:
                return 0
            anchor = conn.execute(
                select(audit_t.c.hash).where(audit_t.c.seq == keep_from - 1)
            ).scalar()
            deleted = conn.execute(delete(audit_t).where(audit_t.c.seq < keep_from)).rowcount
            conn.execute(
                update(audit_head_t)
                .where(audit_head_t.c.id == HEAD_ID)
                .values(first_seq=keep_from, anchor_hash=anchor or "")
            )
            return int(deleted)

    def head(self) -> Head | None:
        """The chain's head; None when its row is gone (deleted by hand)."""
        with transactions.read(self.engine) as conn:
            row = conn.execute(select(audit_head_t).where(audit_head_t.c.id == HEAD_ID)).first()
        return None if row is None else _head(row)

    def page(self, after: int, until: int, size: int) -> list[AuditRecord]:
        """Up to ``size`` records after seq ``after`` and up to ``until``, in the chain's order."""
        stmt = (
            select(audit_t)
            .where(audit_t.c.seq > after, audit_t.c.seq <= until)
            .order_by(audit_t.c.seq)
            .limit(size)
        )
        with transactions.read(self.engine) as conn:
            return [AuditRecord.from_row(row) for row in conn.execute(stmt).mappings()]

    def query(self, query: AuditQuery, before: int | None, limit: int) -> list[AuditRecord]:
        """The newest ``limit`` records matching ``query`` with seq below ``before``, newest
        first."""
        where: list[Any] = []
        if before is not None:
            where.append(audit_t.c.seq < before)
        if query.capability is not None:
            where.append(audit_t.c.capability == query.capability)
        if query.party is not None:
            where.append(
                or_(audit_t.c.src_party == query.party, audit_t.c.dest_party == query.party)
            )
        if query.job_id is not None:
            where.append(audit_t.c.job_id == query.job_id)
        if query.result is not None:
            where.append(audit_t.c.result == query.result)
        if query.since_ms is not None:
            where.append(audit_t.c.decided_at >= query.since_ms)
        if query.until_ms is not None:
            where.append(audit_t.c.decided_at < query.until_ms)
        stmt = select(audit_t).where(*where).order_by(audit_t.c.seq.desc()).limit(limit)
        with transactions.read(self.engine) as conn:
            return [AuditRecord.from_row(row) for row in conn.execute(stmt).mappings()]

    @staticmethod
    def _locked_head(conn: Connection) -> Head:
        row = conn.execute(
            select(audit_head_t).where(audit_head_t.c.id == HEAD_ID).with_for_update()
        ).first()
        if row is None:
            raise LookupError("the audit chain's head row (fr_audit_head) is missing")
        return _head(row)


def _head(row: Any) -> Head:
    return Head(int(row.last_seq), row.last_hash, int(row.first_seq), row.anchor_hash)
