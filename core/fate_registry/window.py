"""The decisions of the last hour in this process, for ``status`` and the console: the most
recent ones, and per capability and minute the counts by result and a latency histogram.
Bounded whatever the traffic: RECENT decisions, MINUTES buckets per capability."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .recording import RESULTS, Decided, decided, party_of

if TYPE_CHECKING:
    from .dispatch import Outcome

RECENT = 500
MINUTES = 60
# Latency buckets: bucket k holds decisions under 0.5 ms * 2**k (the last, everything slower),
# found with one bit_length: no search on the hot path.
BUCKETS = 16
BOUNDS: tuple[float, ...] = (*(0.0005 * 2**k for k in range(BUCKETS - 1)), float("inf"))
_LATENCY = len(RESULTS)  # where a row's latency counts begin
# A row counts latencies in more slots than BUCKETS, folded into the last on reading: no min()
# on the hot path. 24 slots reach 0.5 ms * 2**23, over an hour; a decision's budget is 120 s.
_SLOTS = 24
_KEEP = MINUTES + 1  # minutes kept


@dataclass(slots=True)
class Minute:
    minute: int  # minutes since the epoch
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))
    latency: list[int] = field(default_factory=lambda: [0] * BUCKETS)


def _value(counter: Iterator[int]) -> int:
    """What an ``itertools.count`` has counted to, without counting."""
    return int(counter.__reduce__()[1][0])


class DecisionWindow:
    """A sink of the recorder, read by ``recent``, ``minutes`` and ``summary``.

    It is on every decision's path, so a decision costs: a tuple appended to a deque, and two
    ``itertools.count`` steps in its capability's row of the minute (counts by result, then
    latency buckets); all three are atomic in CPython, so no lock is taken but to add a row.
    The ring holds the outcome itself (its signature stays in memory, as the decision cache
    holds it); what is read out of it is ``decided``'s record, which has none.
    """

    def __init__(self) -> None:
        self._recent: deque[tuple[Outcome, str | None, float]] = deque(maxlen=RECENT)
        self._rows: dict[tuple[str, int], list[Iterator[int]]] = {}
        # The current minute's rows by capability, and when that minute ends: most decisions
        # find their row with one comparison and one lookup.
        self._current: dict[str, list[Iterator[int]]] = {}
        self._until = 0.0
        self._lock = threading.Lock()

    def __call__(self, outcome: Outcome, request: BaseModel, at: float) -> None:
        self._recent.append((outcome, party_of(request), at))
        row = self._current.get(outcome.capability) if at < self._until else None
        if row is None:
            row = self._add(outcome.capability, at)
        if outcome.failed:
            next(row[2] if outcome.allowed else row[3])
        else:
            next(row[0] if outcome.allowed else row[1])
        next(row[_LATENCY + int(outcome.elapsed * 2000).bit_length()])

    def _add(self, capability: str, at: float) -> list[Iterator[int]]:
        """The row of ``capability`` for the minute of ``at``; rows older than the window go."""
        minute = int(at) // 60
        with self._lock:
            row = self._rows.get((capability, minute))
            if row is None:
                old = [k for k in self._rows if k[1] <= minute - _KEEP]
                for k in old:
                    del self._rows[k]
                row = self._rows[(capability, minute)] = [
                    itertools.count() for _ in range(_LATENCY + _SLOTS)
                ]
            if minute * 60 + 60 > self._until:  # a new minute: its rows only
                self._current = {}
                self._until = minute * 60 + 60
            if minute * 60 + 60 == self._until:
                self._current[capability] = row
            return row

    def recent(self, capability: str | None = None, limit: int = 100) -> list[Decided]:
        """The newest decisions first."""
        items = list(self._recent)
        items.reverse()
        if capability is not None:
            items = [item for item in items if item[0].capability == capability]
        return [decided(outcome, None, at, party) for outcome, party, at in items[:limit]]

    def minutes(
        self, capability: str, span: int = MINUTES, now: float | None = None
    ) -> list[Minute]:
        """One Minute per minute of the last ``span`` (oldest first), empty ones included."""
        current = int(time.time() if now is None else now) // 60
        found = []
        for minute in range(current - span + 1, current + 1):
            row = self._rows.get((capability, minute))
            if row is None:
                found.append(Minute(minute))
                continue
            values = [_value(counter) for counter in row]
            counts = dict(zip(RESULTS, values[:_LATENCY], strict=True))
            latency = values[_LATENCY : _LATENCY + BUCKETS]
            latency[-1] += sum(values[_LATENCY + BUCKETS :])
            found.append(Minute(minute, counts, latency))
        return found

    def summary(self, capability: str, span: int = 15, now: float | None = None) -> dict[str, Any]:
        """Counts by result and latency p50/p99 (upper bounds of their buckets, in ms) over the
        last ``span`` minutes."""
        counts = dict.fromkeys(RESULTS, 0)
        latency = [0] * BUCKETS
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
