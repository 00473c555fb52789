"""The decisions of the last hour in this process, for ``status`` and the console: the most
recent ones, and per capability and minute the counts by result and a latency histogram.
Bounded whatever the traffic: RECENT decisions, MINUTES buckets per capability."""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .recording import Decided

RECENT = 500
MINUTES = 60
RESULTS = ("allow", "deny", "failed_open", "failed_closed")
# Upper bounds of the latency buckets, in seconds; the last catches everything slower.
BOUNDS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30,
          float("inf"))  # fmt: skip


@dataclass(slots=True)
class Minute:
    minute: int  # minutes since the epoch
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))
    latency: list[int] = field(default_factory=lambda: [0] * len(BOUNDS))


class DecisionWindow:
    """A sink of the recorder (``window(decided)``), read by ``recent``, ``minutes`` and
    ``summary``."""

    def __init__(self) -> None:
        self._recent: deque[Decided] = deque(maxlen=RECENT)
        self._minutes: dict[str, deque[Minute]] = {}
        self._lock = threading.Lock()

    def __call__(self, decided: Decided) -> None:
        minute = int(decided.at // 60)
        slot = bisect.bisect_left(BOUNDS, decided.elapsed)
        with self._lock:
            self._recent.append(decided)
            minutes = self._minutes.get(decided.capability)
            if minutes is None:
                minutes = self._minutes[decided.capability] = deque(maxlen=MINUTES)
            if not minutes or minutes[-1].minute != minute:
                minutes.append(Minute(minute))
            last = minutes[-1]
            last.counts[decided.result] += 1
            last.latency[slot] += 1

    def recent(self, capability: str | None = None, limit: int = 100) -> list[Decided]:
        """The newest decisions first."""
        with self._lock:
            items = list(self._recent)
        items.reverse()
        if capability is not None:
            items = [item for item in items if item.capability == capability]
        return items[:limit]

    def minutes(
        self, capability: str, span: int = MINUTES, now: float | None = None
    ) -> list[Minute]:
        """One Minute per minute of the last ``span`` (oldest first), empty ones included."""
        current = int((time.time() if now is None else now) // 60)
        with self._lock:
            kept = {m.minute: m for m in self._minutes.get(capability, ())}
            return [
                _copy(kept[m]) if m in kept else Minute(m)
                for m in range(current - span + 1, current + 1)
            ]

    def summary(self, capability: str, span: int = 15, now: float | None = None) -> dict[str, Any]:
        """Counts by result and latency p50/p99 (upper bounds of their buckets, in ms) over the
        last ``span`` minutes."""
        counts = dict.fromkeys(RESULTS, 0)
        latency = [0] * len(BOUNDS)
        for minute in self.minutes(capability, span, now):
            for result, count in minute.counts.items():
                counts[result] += count
            latency = [a + b for a, b in zip(latency, minute.latency, strict=True)]
        return {
            **counts,
            "total": sum(counts.values()),
            "p50_ms": percentile_ms(latency, 0.50),
            "p99_ms": percentile_ms(latency, 0.99),
        }


def percentile_ms(latency: list[int], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding quantile ``q``; None with no decision. The
    slowest bucket has no bound: it says the one below it (the latency is above that)."""
    total = sum(latency)
    if not total:
        return None
    rank = q * total
    seen = 0
    for slot, count in enumerate(latency):
        seen += count
        if seen >= rank and count:
            bound = BOUNDS[slot] if BOUNDS[slot] != float("inf") else BOUNDS[slot - 1]
            return bound * 1000
    return BOUNDS[-2] * 1000


def _copy(minute: Minute) -> Minute:
    return Minute(minute.minute, dict(minute.counts), list(minute.latency))
