"""Coroutine hook implementations: awaited on an event loop, no worker thread, same policy."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from typing import Any

import pytest
from test_dispatch import PERMISSION, dispatcher, manager

from fate_registry import hookimpl
from fate_registry.capabilities import Decision
from fate_registry.workers import DeadlineExceeded, LoopThread, Workers, WorkersBusy, WorkersClosed

# As in test_workers: a hung call takes far longer than any deadline here (it is released or
# cancelled when the test ends), and the checks give a loaded machine seconds of slack.
HANG = 30.0
SLACK = 3.0


class AsyncAnswers:
    """An async plugin: answers, or hangs until released; records where it ran and whether
    it was cancelled."""

    def __init__(self, answer: Any, hang: bool = False) -> None:
        self.answer = answer
        self.hang = hang
        self.threads: list[str] = []
        self.cancelled = threading.Event()

    @hookimpl
    async def permission(self) -> Any:
        self.threads.append(threading.current_thread().name)
        try:
            if self.hang:
                await asyncio.sleep(HANG)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_a_blocking_caller_has_an_async_plugin_run_on_the_dispatchers_loop_thread() -> None:
    plugin = AsyncAnswers(Decision.allow("from a coroutine"))
    d = dispatcher(manager(local=plugin))
    outcome = d.permission(PERMISSION)
    d.close()
    assert (outcome.allowed, outcome.message, outcome.plugin) == (True, "from a coroutine", "local")
    assert plugin.threads == ["fate-registry-hooks-loop"]
    assert d._workers["permission"]._threads == 0  # no worker thread was started


def test_an_event_loop_awaits_an_async_plugin_itself() -> None:
    plugin = AsyncAnswers(Decision.allow())
    d = dispatcher(manager(local=plugin))
    outcome = asyncio.run(d.decide_async("permission", PERMISSION))
    assert outcome.allowed
    assert plugin.threads == [threading.current_thread().name]
    assert d._workers["permission"]._threads == 0


@pytest.mark.parametrize("caller", ["blocking", "event loop"])
def test_a_hung_async_plugin_is_cancelled_at_its_deadline(caller: str) -> None:
    plugin = AsyncAnswers(Decision.allow(), hang=True)
    d = dispatcher(manager(hung=plugin), permission={"timeout": 0.2, "cache": False})
    started = time.monotonic()
    if caller == "blocking":
        outcome = d.permission(PERMISSION)
    else:
        outcome = asyncio.run(d.decide_async("permission", PERMISSION))
    elapsed = time.monotonic() - started
    d.close()
    assert (outcome.allowed, outcome.failed) == (False, True)
    assert "timed out after" in (outcome.error or "")
    assert elapsed < 0.2 + SLACK, f"took {elapsed:.2f} s"
    assert plugin.cancelled.wait(SLACK), "the plugin was not cancelled: it still holds its I/O"
    assert d._workers["permission"].in_flight == 0


def test_async_calls_past_max_in_flight_are_refused_at_once() -> None:
    plugin = AsyncAnswers(Decision.allow(), hang=True)
    d = dispatcher(
        manager(hung=plugin),
        permission={"max_in_flight": 2, "timeout": HANG, "cache": False},
    )

    async def flood() -> Any:
        hung = [asyncio.create_task(d.decide_async("permission", PERMISSION)) for _ in range(2)]
        while len(plugin.threads) < 2:  # both in flight
            await asyncio.sleep(0)
        started = time.monotonic()
        refused = await d.decide_async("permission", PERMISSION)
        elapsed = time.monotonic() - started
        for task in hung:
            task.cancel()
        await asyncio.gather(*hung, return_exceptions=True)
        return refused, elapsed

    refused, elapsed = asyncio.run(flood())
    assert (refused.allowed, refused.failed) == (False, True)
    assert "refused at once: 2 calls already in flight" in (refused.error or "")
    assert elapsed < SLACK
    assert d._workers["permission"].in_flight == 0  # cancelled calls gave their places back


def test_an_async_plugins_own_timeout_error_is_its_error_not_the_deadline() -> None:
    d = dispatcher(manager(own=AsyncAnswers(TimeoutError("upstream said so"))))
    outcome = d.permission(PERMISSION)
    assert outcome.failed and "TimeoutError: upstream said so" in (outcome.error or "")
    assert "timed out after" not in (outcome.error or "")


def test_after_close_an_async_plugin_fails_at_once() -> None:
    d = dispatcher(manager(yes=AsyncAnswers(Decision.allow())))
    d.close()
    outcome = d.permission(PERMISSION)
    assert not outcome.allowed and "shut down" in (outcome.error or "")


# -- the pieces: Workers.call_coroutine and LoopThread --------------------------------------


def test_call_coroutine_counts_in_flight_with_thread_calls() -> None:
    workers = Workers(1, max_in_flight=1)
    release = threading.Event()
    workers.submit(release.wait, (HANG,))  # a thread's call takes the only place
    try:

        async def later() -> None:
            return None

        with pytest.raises(WorkersBusy):
            asyncio.run(workers.call_coroutine(later, (), 1.0))
    finally:
        release.set()


def test_call_coroutine_raises_deadline_exceeded_and_refuses_after_shutdown() -> None:
    workers = Workers(1)
    with pytest.raises(DeadlineExceeded):
        asyncio.run(workers.call_coroutine(asyncio.sleep, (HANG,), 0.05))
    workers.shutdown()
    with pytest.raises(WorkersClosed):
        asyncio.run(workers.call_coroutine(asyncio.sleep, (0,), 1.0))


def test_the_loop_thread_closes_its_async_generators_when_shut_down() -> None:
    """What a plugin keeps per loop (the http plugin's sessions) closes with the loop."""
    closed = threading.Event()

    async def keeper() -> Any:
        try:
            yield
        finally:
            closed.set()

    kept: list[Any] = []

    async def start() -> None:
        generator = keeper()
        await anext(generator)
        kept.append(generator)  # alive until the loop closes it

    loop = LoopThread("test-loop")
    loop.run(start())
    assert not closed.is_set()
    loop.shutdown()
    assert closed.is_set()
    with pytest.raises(WorkersClosed):
        loop.run(start())


def test_interrupting_a_blocking_caller_cancels_its_coroutine() -> None:
    cancelled = threading.Event()

    async def hang() -> None:
        try:
            await asyncio.sleep(HANG)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    loop = LoopThread("test-loop")
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()
    # Ctrl-C, delivered to the main thread (the kernel may hand a process's SIGINT to any thread)
    timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run(hang())
        assert cancelled.wait(SLACK)
    finally:
        timer.cancel()
        loop.shutdown()
