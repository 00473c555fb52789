"""The audit trail's writer: the recorder's durable sink takes each decision into a bounded
queue on the decision's thread, and a thread of its own writes them in batches and prunes."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ..errors import RegistryUnavailable
from ..metrics import AuditMetrics
from ..settings import AuditSettings
from .records import Chain, Content, content_of

if TYPE_CHECKING:
    from ..dispatch import Outcome
    from ..store.audit import AuditStore

log = logging.getLogger("fate_registry.audit")

MAX_BACKOFF = 5.0  # seconds between two tries of a database that failed
WARN_EVERY = 60.0  # seconds between two warnings of the same trouble
Item = tuple["Outcome", BaseModel, float]


class AuditTrail:
    """A durable sink of the recorder (``recording.DurableSink``).

    On the decision's thread a decision costs a length check and a deque append, both atomic:
    no lock, no record built. Past ``queue_size`` waiting decisions it answers False and counts
    a drop; whether the decision then stands is the dispatcher's policy (``audit.when_full``).
    The writer thread, started with the first decision, takes what waits (up to
    ``batch_size``), builds the records (``content_of``: what the seam lets a sink keep) and
    appends them in one transaction; under load batches grow, so the writes keep up. A database
    that fails is tried again with backoff while the queue fills. Every ``prune_interval`` it
    prunes by age and rows. ``close`` (or the interpreter's exit) writes what is left, within a
    few seconds.
    """

    def __init__(
        self,
        store: AuditStore,
        settings: AuditSettings,
        chain: Chain,
        metrics: AuditMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.chain = chain
        self.metrics = metrics
        self.clock = clock
        self._queue: deque[Item] = deque()
        self._limit = settings.queue_size
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._writing = 0  # records taken off the queue, not yet written
        self._pruned_at = time.monotonic()
        self._warned: dict[str, float] = {}

    def __call__(self, outcome: Outcome, request: BaseModel, at: float) -> bool:
        queue = self._queue
        if len(queue) >= self._limit or self._stopping.is_set():
            self.metrics.dropped.inc()
            return False
        queue.append((outcome, request, at))
        if self._thread is None:
            self._start()
        return True

    @property
    def waiting(self) -> int:
        """Decisions taken and not yet written."""
        return len(self._queue) + self._writing

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every decision taken so far is written; False when ``timeout`` passed
        first (the database fails, say)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self.waiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return not self.waiting
                self._idle.wait(min(remaining, self.settings.flush_interval))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what waits (for up to ``timeout`` seconds), then stop the writer."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        lost = len(self._queue) + self._writing
        if lost:
            self.metrics.dropped.inc(lost)
            log.error("audit trail closed with %d decisions not written", lost)

    # -- the writer thread ------------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="fate-registry-audit", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        backoff = self.settings.flush_interval
        stop_by: float | None = None
        while True:
            if self._stopping.is_set() and stop_by is None:
                stop_by = time.monotonic() + 5.0
            if not self._queue:
                with self._idle:
                    self._idle.notify_all()
                if self._stopping.is_set():
                    return
                self._prune_when_due()
                self._stopping.wait(self.settings.flush_interval)
                continue
            contents = self._take()
            while True:
                try:
                    written = self.store.append(contents, self.chain)
                except Exception as exc:  # the database failed: keep them and try again
                    self._warn("write", f"could not write audit records: {_reason(exc)}")
                    self.metrics.failures.inc()
                    if stop_by is not None and time.monotonic() >= stop_by:
                        return  # close() counts what is left
                    time.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                backoff = self.settings.flush_interval
                self.metrics.written.inc(written)
                self._writing = 0
                break
            self.metrics.queue.set(len(self._queue))

    def _take(self) -> list[Content]:
        queue = self._queue
        batch: list[Content] = []
        count = self._writing = min(len(queue), self.settings.batch_size)  # before they leave
        for _ in range(count):
            outcome, request, at = queue.popleft()
            try:
                batch.append(content_of(outcome, request, at))
            except Exception:  # a bug, not the decision's fault: the others are written
                log.exception("could not build the audit record of %s", outcome.decision_id)
                self.metrics.dropped.inc()
        self._writing = len(batch)
        return batch

    def _prune_when_due(self) -> None:
        settings = self.settings
        if not (settings.max_age_days or settings.max_rows):
            return
        if time.monotonic() - self._pruned_at < settings.prune_interval:
            return
        self._pruned_at = time.monotonic()
        try:
            self.prune()
        except Exception as exc:
            self._warn("prune", f"could not prune the audit trail: {_reason(exc)}")

    def prune(self) -> int:
        """Delete the records past ``max_age_days`` and ``max_rows``, a chunk per transaction,
        so writers wait for none for long; how many went."""
        settings = self.settings
        cutoff = None
        if settings.max_age_days:
            cutoff = int((self.clock() - settings.max_age_days * 86400) * 1000)
        total = 0
        while not self._stopping.is_set():
            deleted = self.store.prune(cutoff, settings.max_rows or None)
            total += deleted
            if not deleted:
                break
        if total:
            self.metrics.pruned.inc(total)
            log.info("audit trail: pruned %d records", total)
        return total

    def _warn(self, trouble: str, message: str) -> None:
        now = time.monotonic()
        if now - self._warned.get(trouble, float("-inf")) >= WARN_EVERY:
            self._warned[trouble] = now
            log.warning("%s", message)


def _reason(exc: Exception) -> str:
    """What a failure may say in the log: RegistryUnavailable's message is written for users
    (no connection details); any other error only its type."""
    if isinstance(exc, (RegistryUnavailable, LookupError)):
        return str(exc)
    return type(exc).__name__
