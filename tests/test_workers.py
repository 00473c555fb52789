"""Worker threads under a deadline: results, errors, abandonment, saturation, clean exit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from fate_registry.workers import DeadlineExceeded, Workers, WorkersClosed


def test_a_call_returns_its_result_from_a_worker_thread() -> None:
    workers = Workers(2)
    assert workers.call(lambda: threading.current_thread().name, (), 1).startswith(
        "fate-registry-hook"
    )


def test_a_call_raises_the_functions_error() -> None:
    with pytest.raises(KeyError, match="x"):
        Workers(1).call({}.__getitem__, ("x",), 1)


def test_the_caller_stops_waiting_at_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        Workers(1).call(time.sleep, (5,), 0.2)
    assert time.monotonic() - started < 0.4


def test_when_every_worker_is_busy_calls_wait_within_their_deadline_and_are_skipped() -> None:
    workers = Workers(1)
    release = threading.Event()
    ran: list[str] = []
    with pytest.raises(DeadlineExceeded):
        workers.call(release.wait, (5,), 0.1)  # occupies the only worker
    with pytest.raises(DeadlineExceeded):
        workers.call(ran.append, ("late",), 0.1)  # queued behind it, then abandoned
    release.set()
    assert workers.call(ran.append, ("next",), 1) is None
    assert ran == ["next"]
    time.sleep(0.05)
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
    workers = Workers(1)
    release = threading.Event()
    with pytest.raises(DeadlineExceeded):
        workers.call(release.wait, (5,), 0.05)  # the worker is busy during shutdown
    workers.shutdown()
    release.set()
    time.sleep(0.05)  # the busy worker finishes its call, then exits
    started = time.monotonic()
    with pytest.raises(WorkersClosed, match="shut down"):
        workers.call(int, (), 2)
    assert time.monotonic() - started < 0.1


def test_tasks_queued_before_shutdown_still_run() -> None:
    workers = Workers(1)
    release = threading.Event()
    ran: list[str] = []
    busy = threading.Thread(target=workers.call, args=(release.wait, (5,), 5))
    busy.start()
    time.sleep(0.05)
    queued = threading.Thread(target=workers.call, args=(ran.append, ("queued",), 5))
    queued.start()
    time.sleep(0.05)
    workers.shutdown()
    release.set()
    busy.join(2)
    queued.join(2)
    assert ran == ["queued"]
