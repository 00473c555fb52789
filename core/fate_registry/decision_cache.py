"""A small TTL cache of decisions, bounded in size; safe to share between threads."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """Entries expire at their own instant; the oldest are dropped past ``maxsize``."""

    def __init__(self, maxsize: int = 10000) -> None:
        self.maxsize = maxsize
        self._data: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._data.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, value: V, ttl: float) -> None:
        if ttl <= 0:
            return
        self._data[key] = (time.monotonic() + ttl, value)
        while len(self._data) > self.maxsize:
            try:
                self._data.pop(next(iter(self._data)), None)
            except (StopIteration, RuntimeError):  # emptied or resized by another thread
                break

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
