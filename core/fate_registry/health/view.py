"""What one process knows of the health checks' results: the dispatcher asks it on the hot path
(fail-fast), so it answers from memory and reads the database in the background."""

from __future__ import annotations

import logging
import threading
import time

from ..errors import RegistryUnavailable
from ..metrics import HealthMetrics
from ..store.health import SERVER_CHECK, CheckResult, HealthStore
from . import rank, worst

log = logging.getLogger("fate_registry.health")

Results = dict[tuple[str, str], CheckResult]


class HealthView:
    """The last results of every check, by ``(server, service)`` (``SERVER_CHECK``: the
    server's TCP check). ``status`` never waits: when what it holds is older than ``refresh``
    seconds, one background thread reads the table again. The prober hands over its results
    as it gets them (``update``)."""

    def __init__(self, store: HealthStore, refresh: float) -> None:
        self.store = store
        self.refresh_after = refresh
        self.metrics: HealthMetrics | None = None  # set by the checker of a serve
        self._results: Results = {}
        self._read_at = float("-inf")
        self._refreshing = False
        self._lock = threading.Lock()

    def status(self, server_name: str, service_name: str) -> str | None:
        """A service's status: the worse of its HTTP check and its server's TCP check; None
        when neither has run yet."""
        if time.monotonic() - self._read_at >= self.refresh_after and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh_soon, daemon=True).start()
        results = self._results
        server = results.get((server_name, SERVER_CHECK))
        service = results.get((server_name, service_name))
        return worst(
            server.status if server is not None else None,
            service.status if service is not None else None,
        )

    def results(self) -> Results:
        return self._results

    def refresh(self) -> Results:
        """Read every result from the database now (``RegistryUnavailable`` when it cannot)."""
        results = self.store.results()
        self.update(results, replace=True)
        return results

    def update(self, results: Results, *, replace: bool = False) -> None:
        """Take ``results`` (all of them with ``replace``, else some that changed)."""
        with self._lock:
            old = self._results
            new = dict(results) if replace else {**old, **results}
            self._results = new
            self._read_at = time.monotonic()
            if self.metrics is not None:
                self._show(old, new, replace)

    def _show(self, old: Results, new: Results, replace: bool) -> None:
        assert self.metrics is not None
        for key, result in new.items():
            before = old.get(key)
            if before is None or before.status != result.status:
                self._gauge(key, rank(result.status))
        if replace:
            for key in old.keys() - new.keys():
                self._gauge(key, None)

    def forget(self, keys: set[tuple[str, str]]) -> None:
        with self._lock:
            self._results = {k: v for k, v in self._results.items() if k not in keys}
            if self.metrics is not None:
                for key in keys:
                    self._gauge(key, None)

    def _gauge(self, key: tuple[str, str], value: int | None) -> None:
        assert self.metrics is not None
        server, service = key
        self.metrics.show(server, None if service == SERVER_CHECK else service, value)

    def _refresh_soon(self) -> None:
        try:
            self.refresh()
        except RegistryUnavailable as exc:  # asked again at the next stale lookup
            log.warning("could not read the health checks' results: %s", exc)
        except Exception as exc:
            log.warning("could not read the health checks' results: %s", type(exc).__name__)
        finally:
            self._read_at = time.monotonic()
            self._refreshing = False
