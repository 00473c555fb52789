"""The decision audit trail of a registry (``reg.audit``): every decision recorded in the
registry database, hash-chained; listed, exported and verified here."""

from __future__ import annotations

import atexit
import csv
import json
import logging
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TextIO

from ..capabilities import DECISIONS
from ..errors import InvalidRegistration
from ..metrics import DEFAULT_AUDIT_METRICS, AuditMetrics
from ..recording import RESULTS
from .records import AuditQuery, AuditRecord, Chain
from .trail import AuditTrail
from .verify import Verification, verify

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["Audit", "AuditQuery", "AuditRecord", "Verification", "audit_query"]

log = logging.getLogger("fate_registry.audit")
MAX_LIMIT = 10_000  # records one listing returns at most
PAGE = 1000  # records read at a time when exporting
ExportFormat = Literal["jsonl", "csv"]
EXPORT_COLUMNS = (
    "seq",
    "at",
    "decision_id",
    "capability",
    "src_party",
    "dest_party",
    "src_role",
    "role",
    "job_id",
    "components",
    "datasets",
    "result",
    "code",
    "plugin",
    "cached",
    "latency_ms",
    "key_id",
    "hash",
)


class Audit:
    """The audit trail of ``registry``: ``trail`` is its writer (None when ``audit.enabled`` is
    off, or the database is an in-memory SQLite one, which threads do not share); ``list``,
    ``records``, ``export`` and ``verify`` read the database, whoever wrote it."""

    def __init__(self, registry: Registry, metrics: AuditMetrics | None = None) -> None:
        from ..store.audit import AuditStore

        self.registry = registry
        self.settings = registry.settings.audit
        self.store = AuditStore(registry.engine)
        key = self.settings.key
        self.chain = Chain(None if key is None else key.get_secret_value())
        self.trail: AuditTrail | None = None
        if not self.settings.enabled:
            return
        if registry.engine.url.get_backend_name() == "sqlite" and registry.engine.url.database in (
            None,
            "",
            ":memory:",
        ):
            log.warning("audit trail off: an in-memory SQLite database is not shared by threads")
            return
        self.trail = AuditTrail(
            self.store,
            self.settings,
            self.chain,
            metrics or DEFAULT_AUDIT_METRICS,
            registry.clock,
        )
        atexit.register(_close_at_exit, weakref.ref(self.trail))

    # -- reading ------------------------------------------------------------------------------

    def list(
        self,
        *,
        capability: str | None = None,
        party: Any = None,
        job_id: str | None = None,
        result: str | None = None,
        since: Any = None,
        until: Any = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """The newest ``limit`` records that match, newest first; ``before`` (a record's seq)
        pages on: pass the last one's. ``party`` matches the source or the destination;
        ``since``/``until``: ISO 8601 times or durations ago (``1d``)."""
        query = audit_query(capability, party, job_id, result, since, until, self.registry.clock())
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRegistration([("limit", f"must be from 1 to {MAX_LIMIT}")])
        if before is not None and before < 1:
            raise InvalidRegistration([("before", "must be a record's seq (1 or more)")])
        return self.store.query(query, before, limit)

    def records(self, **filters: Any) -> Iterator[AuditRecord]:
        """Every record that matches (``list``'s filters), newest first, read a page at a
        time."""
        before = filters.pop("before", None)
        while True:
            page = self.list(**filters, before=before, limit=PAGE)
            yield from page
            if len(page) < PAGE:
                return
            before = page[-1].seq

    def export(self, out: TextIO, fmt: ExportFormat = "jsonl", **filters: Any) -> int:
        """Write the matching records to ``out`` as JSON lines or CSV; how many."""
        return write_records(out, fmt, self.records(**filters))

    def verify(self) -> Verification:
        """Walk the chain and report every record changed, missing or not checkable."""
        return verify(self.store, self.chain)

    # -- the writer ---------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until this process's decisions so far are written (True without a writer)."""
        return True if self.trail is None else self.trail.flush(timeout)

    def prune(self) -> int:
        """Prune by age and rows now, as the writer does every ``prune_interval``."""
        from .trail import AuditTrail

        trail = self.trail or AuditTrail(
            self.store, self.settings, self.chain, DEFAULT_AUDIT_METRICS, self.registry.clock
        )
        return trail.prune()

    def close(self) -> None:
        if self.trail is not None:
            self.trail.close()


def audit_query(
    capability: str | None,
    party: Any,
    job_id: str | None,
    result: str | None,
    since: Any,
    until: Any,
    now: float,
) -> AuditQuery:
    """The filters checked and canonical (InvalidRegistration names a bad one)."""
    from ..canonical import party_of
    from ..times import since as time_of

    if capability is not None and capability not in DECISIONS:
        raise InvalidRegistration([("capability", f"must be one of {', '.join(DECISIONS)}")])
    if result is not None and result not in RESULTS:
        raise InvalidRegistration([("result", f"must be one of {', '.join(RESULTS)}")])
    if job_id is not None and not 0 < len(job_id) <= 128:
        raise InvalidRegistration([("job_id", "must be 1 to 128 characters")])
    start = None if since is None else time_of(since, "since", now)
    end = None if until is None else time_of(until, "until", now)
    if start is not None and end is not None and end <= start:
        raise InvalidRegistration([("until", "must be after since")])
    return AuditQuery(
        capability=capability,
        party=None if party is None else party_of(party, "party"),
        job_id=job_id,
        result=result,
        since_ms=None if start is None else int(start.timestamp() * 1000),
        until_ms=None if end is None else int(end.timestamp() * 1000),
    )


def write_records(out: TextIO, fmt: ExportFormat, records: Iterable[AuditRecord]) -> int:
    """``records`` to ``out`` as JSON lines or CSV (lists as JSON text); how many."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            row = record.as_dict()
            row["components"] = record.components
            row["datasets"] = record.datasets
            writer.writerow(row)
            count += 1
        return count
    for record in records:
        out.write(json.dumps(record.as_dict(), ensure_ascii=False) + "\n")
        count += 1
    return count


def _close_at_exit(ref: weakref.ref[AuditTrail]) -> None:
    trail = ref()
    if trail is not None:
        trail.close()
