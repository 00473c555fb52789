"""The database check behind ``/readyz``: its own connection and its own thread, so it never
waits behind a busy pool or busy request threads, and a caller can stop waiting at its timeout."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy.engine import URL

from .engine import Timeouts, create_engine
from .registrations import Store


class ReadinessProbe:
    """Reads the revision counter on one dedicated connection, bounded by ``timeout`` seconds.

    A check still running when the next is asked for is shared rather than queued: a database
    that hangs holds one thread, however often the probe is called.
    """

    def __init__(self, url: str | URL, timeout: float) -> None:
        self.timeout = timeout
        timeouts = Timeouts(connect=timeout, statement=timeout, pool=timeout)
        engine = create_engine(url, timeouts, pool_size=1)
        self._store = Store(engine)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fate-registry-readiness")
        self._running: Future[int] | None = None
        self._lock = threading.Lock()

    def revision(self) -> Future[int]:
        """The revision counter, soon: ``RegistryUnavailable`` when the database cannot answer."""
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._executor.submit(self._store.revision)
            return self._running

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._store.engine.dispose()
