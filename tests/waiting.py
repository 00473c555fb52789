"""Waiting for a state the code under test reaches on its own time (a worker thread going idle,
a thread exiting), with no event to await: poll, and fail only after a patient limit, so that a
loaded machine is slow, not wrong."""

from __future__ import annotations

import time
from collections.abc import Callable

PATIENCE = 10.0  # seconds: far beyond any wait here on an idle machine


def wait_until(condition: Callable[[], bool], what: str, within: float = PATIENCE) -> float:
    """Seconds until ``condition()`` is true; AssertionError naming ``what`` after ``within``."""
    started = time.monotonic()
    while not condition():
        waited = time.monotonic() - started
        assert waited < within, f"{what}: not after {within} s"
        time.sleep(0.01)
    return time.monotonic() - started
