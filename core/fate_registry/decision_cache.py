"""A small TTL cache of decisions, bounded in size; safe to share between threads."""

from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """Entries expire at their own instant; the oldest are dropped past ``maxsize``.

    One lock guards every access: dropping an expired entry must not drop the fresh one
    another thread has just written under the same key.
    """

    def __init__(self, maxsize: int = 10000) -> None:
        self.maxsize = maxsize
        self._data: dict[str, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._data[key]
                return None
            return entry[1]

    def put(self, key: str, value: V, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)
            while len(self._data) > self.maxsize:
                del self._data[next(iter(self._data))]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
