"""Worker threads under a deadline: results, errors, abandonment, saturation, clean exit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from waiting import wait_until

from fate_registry.workers import DeadlineExceeded, Workers, WorkersClosed

# A call cut at its deadline must return near it, not at the pace of what it runs. The checks
# give a loaded machine (load 4 on 2 cores) seconds of slack, and what they run hangs far longer
# (until released at the end of the test), so neither a slow machine nor a wrong wait passes
# for the other.
HANG = 30.0  # seconds a hung call takes unless released


def test_a_call_returns_its_result_from_a_worker_thread() -> None:
    workers = Workers(2)
    assert workers.call(lambda: threading.current_thread().name, (), 1).startswith(
        "fate-registry-hook"
    )


def test_a_call_raises_the_functions_error() -> None:
    with pytest.raises(KeyError, match="x"):
        Workers(1).call({}.__getitem__, ("x",), 1)


def test_the_caller_stops_waiting_at_the_deadline() -> None:
    hung = threading.Event()
    started = time.monotonic()
    try:
        with pytest.raises(DeadlineExceeded):
            Workers(1).call(hung.wait, (HANG,), 0.2)
        elapsed = time.monotonic() - started
    finally:
        hung.set()
    assert elapsed < 3, f"took {elapsed:.2f} s"  # the 0.2 s deadline, not the call's 30 s


def test_when_every_worker_is_busy_calls_wait_within_their_deadline_and_are_skipped() -> None:
    workers = Workers(1)
    release = threading.Event()
    ran: list[str] = []
    with pytest.raises(DeadlineExceeded):
        workers.call(release.wait, (HANG,), 0.1)  # occupies the only worker
    with pytest.raises(DeadlineExceeded):
        workers.call(ran.append, ("late",), 0.1)  # queued behind it, then abandoned
    release.set()
    assert workers.call(ran.append, ("next",), 10) is None
    assert ran == ["next"]
    # The worker frees its slot before its caller hears back, so by now it took all three.
    assert (workers._threads, workers._idle, workers._backlog) == (1, 1, 0)


def test_a_hung_call_does_not_hold_the_interpreter_at_exit() -> None:
    code = (
        "import time; from fate_registry.workers import Workers, DeadlineExceeded\n"
        "try:\n    Workers(1).call(time.sleep, (60,), 0.1)\n"
        "except DeadlineExceeded:\n    print('gave up')\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "gave up"
    assert time.monotonic() - started < 10


def test_calls_after_shutdown_raise_at_once_even_when_a_worker_was_busy() -> None:
    workers = Workers(1, name="closing")
    release = threading.Event()
    with pytest.raises(DeadlineExceeded):
        workers.call(release.wait, (HANG,), 0.05)  # the worker is busy during shutdown
    workers.shutdown()
    release.set()

    def worker_exited() -> bool:
        return not any(t.name == "closing-1" for t in threading.enumerate())

    wait_until(worker_exited, "the busy worker finishes its call, then exits")
    started = time.monotonic()
    with pytest.raises(WorkersClosed, match="shut down"):
        workers.call(int, (), HANG)
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"took {elapsed:.2f} s"  # at once, not at the call's 30 s deadline


def test_tasks_queued_before_shutdown_still_run() -> None:
    workers = Workers(1)
    release = threading.Event()
    ran: list[str] = []
    busy = threading.Thread(target=workers.call, args=(release.wait, (HANG,), HANG))
    busy.start()
    wait_until(lambda: workers.in_flight == 1, "the first call runs")
    queued = threading.Thread(target=workers.call, args=(ran.append, ("queued",), HANG))
    queued.start()
    wait_until(lambda: workers.in_flight == 2, "the second call is queued behind it")
    workers.shutdown()
    release.set()
    busy.join(HANG)
    queued.join(HANG)
    assert ran == ["queued"]
