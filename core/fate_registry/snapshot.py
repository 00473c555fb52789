"""Data loaded from the registry database once per process and kept while its revision holds.

Plugins decide from a snapshot without I/O: the first ``get`` loads it; later ones answer from
memory and, at most every ``cache_ttl`` seconds, start a background check of the revision
counter that reloads the data when any node wrote (with ``cache_ttl`` 0 the check runs in the
caller, on every call). A write through this process reloads on the next ``get``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from .registry import Registry

T = TypeVar("T")
log = logging.getLogger(__name__)


class Snapshot(Generic[T]):
    def __init__(self, registry: Registry, load: Callable[[], T]) -> None:
        self._registry = registry
        self._load = load
        self._data: T | None = None
        self._revision: int | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self._refreshing = False

    def get(self) -> T:
        data = self._data
        if data is None:
            return self._reload()
        ttl = self._registry.cache_ttl
        if time.monotonic() - self._checked_at >= ttl:
            if ttl <= 0:
                return self._check()
            self._check_in_background()
        return data

    def invalidate(self) -> None:
        """Drop the data: the next ``get`` loads it again (after a write of our own)."""
        with self._lock:
            self._data = None

    def _reload(self) -> T:
        with self._lock:
            if self._data is None:
                # Revision first: a write between the two reads is seen at the next check.
                self._revision = self._registry.store.revision()
                self._data = self._load()
                self._checked_at = time.monotonic()
            return self._data

    def _check(self) -> T:
        revision = self._registry.store.revision()
        with self._lock:
            if revision != self._revision or self._data is None:
                self._data = self._load()
                self._revision = revision
            self._checked_at = time.monotonic()
            return self._data

    def _check_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(
            target=self._background_check, name="fate-registry-snapshot", daemon=True
        ).start()

    def _background_check(self) -> None:
        try:
            self._check()
        except Exception as exc:  # the database is down: keep the data, try again later
            log.warning("could not refresh a snapshot of the registry: %s", type(exc).__name__)
            self._checked_at = time.monotonic()
        finally:
            self._refreshing = False
