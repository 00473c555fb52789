"""Worker threads that run plugin calls under a deadline; the caller stops waiting at it.

Lighter than ``concurrent.futures.ThreadPoolExecutor`` (one lock hand-off per call, about half
the latency), its threads are daemons (a hung plugin delays neither callers beyond their
deadline nor the interpreter's exit), it can be awaited from an event loop without holding a
thread, and it bounds the calls in flight: past ``max_in_flight`` a call is refused at once
instead of waiting behind calls that a hung service holds. A coroutine plugin needs no thread:
``Workers.call_coroutine`` awaits it under the same bound, and ``LoopThread`` is the event loop
where blocking callers have it run.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import queue
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any


class DeadlineExceeded(TimeoutError):
    """The call did not finish before its deadline; it may still be running."""


class WorkersBusy(RuntimeError):
    """``max_in_flight`` calls are already running or waiting: refused at once."""


class WorkersClosed(RuntimeError):
    """A call came after ``shutdown()``."""


class _Task:
    __slots__ = ("abandoned", "args", "done", "error", "function", "notify", "result")

    def __init__(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        notify: Callable[[_Task], None] | None,
    ) -> None:
        self.function = function
        self.args = args
        self.notify = notify  # called in the worker when done; None: release ``done``
        self.done = None if notify is not None else _thread.allocate_lock()
        if self.done is not None:
            self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False

    def finish(self) -> None:
        if self.notify is not None:
            self.notify(self)
        else:
            assert self.done is not None
            self.done.release()


class Workers:
    """Up to ``max_workers`` daemon threads, started as calls need them, and at most
    ``max_in_flight`` calls running or queued (default: no bound beyond memory)."""

    def __init__(
        self,
        max_workers: int,
        name: str = "fate-registry-hook",
        max_in_flight: int | None = None,
    ) -> None:
        self.max_workers = max_workers
        self.max_in_flight = max_in_flight
        self.name = name
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # workers free for a new task
        self._backlog = 0  # tasks queued while every worker was busy
        self._threads = 0
        self._in_flight = 0  # tasks submitted and not yet finished or skipped
        self._closed = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def submit(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        notify: Callable[[_Task], None] | None = None,
    ) -> _Task:
        """Queue ``function(*args)`` for a worker; raises WorkersBusy or WorkersClosed at once."""
        task = _Task(function, args, notify)
        with self._lock:
            self._admit()
            if self._idle:
                self._idle -= 1  # reserved for this task
            elif self._threads < self.max_workers:
                self._threads += 1
                threading.Thread(
                    target=self._work, name=f"{self.name}-{self._threads}", daemon=True
                ).start()
            else:  # every worker is busy: the task waits in the queue, within its deadline
                self._backlog += 1
        self._queue.put(task)
        return task

    def call(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        timeout: float,
        *,
        cancel: threading.Event | None = None,
        grace: float = 0.0,
    ) -> Any:
        """``function(*args)`` in a worker; raises DeadlineExceeded after ``timeout`` seconds.

        When the wait ends early (the deadline, or the caller interrupted, e.g. by Ctrl-C),
        ``cancel`` is set and the call waits up to ``grace`` more seconds for ``function`` to
        notice it and clean up (remove a temporary file), then raises.
        """
        task = self.submit(function, args)
        assert task.done is not None
        try:
            finished = task.done.acquire(timeout=max(timeout, 0.0))
        except BaseException:  # interrupted while waiting
            _give_up(task, cancel, grace)
            raise
        if not finished:
            _give_up(task, cancel, grace)
            raise DeadlineExceeded(f"not finished after {timeout:.2f} s")
        return _outcome(task)

    async def call_async(
        self, function: Callable[..., Any], args: tuple[Any, ...], timeout: float
    ) -> Any:
        """``call``, awaited: the event loop waits, no thread does."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Task] = loop.create_future()

        def notify(task: _Task) -> None:  # in the worker thread
            loop.call_soon_threadsafe(_settle, future, task)

        task = self.submit(function, args, notify)
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await future
        except TimeoutError:
            task.abandoned = True
            raise DeadlineExceeded(f"not finished after {timeout:.2f} s") from None
        return _outcome(task)

    async def call_coroutine(
        self,
        function: Callable[..., Coroutine[Any, Any, Any]],
        args: tuple[Any, ...],
        timeout: float,
    ) -> Any:
        """``await function(*args)`` on the caller's event loop, no thread: counted against
        ``max_in_flight`` as a thread's call is, and cancelled after ``timeout`` seconds
        (DeadlineExceeded), so whatever it holds (a connection) is closed then, not later."""
        with self._lock:
            self._admit()
        try:
            async with asyncio.timeout(max(timeout, 0.0)) as scope:
                return await function(*args)
        except TimeoutError:
            if scope.expired():
                raise DeadlineExceeded(f"not finished after {timeout:.2f} s") from None
            raise  # the plugin's own TimeoutError: its error, not the deadline
        finally:
            with self._lock:
                self._in_flight -= 1

    def _admit(self) -> None:
        """Count a new call in flight, or refuse it (WorkersClosed, WorkersBusy); lock held."""
        if self._closed:
            raise WorkersClosed(f"{self.name} workers are shut down")
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            raise WorkersBusy(
                f"{self._in_flight} calls already in flight (limit {self.max_in_flight})"
            )
        self._in_flight += 1

    def shutdown(self) -> None:
        """Later calls raise WorkersClosed; tasks already queued run, then every worker exits."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            count = self._threads
        for _ in range(count):
            self._queue.put(None)  # one per worker, behind the queued tasks

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            ran = not task.abandoned
            if ran:
                try:
                    task.result = task.function(*task.args)
                except BaseException as exc:
                    task.error = exc
            with self._lock:  # the slot is free before the caller hears back
                self._in_flight -= 1
                if not self._closed:  # after shutdown: take queued tasks, then the sentinel
                    if self._backlog:
                        self._backlog -= 1  # this worker takes a queued task next
                    else:
                        self._idle += 1
            if ran:
                with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits
                    task.finish()


class LoopThread:
    """An event loop in a daemon thread of its own, started on first use: where a blocking
    caller (FATE Flow's Python calls to the dispatcher) has a coroutine plugin run.

    ``shutdown()``, or the interpreter's exit, stops it: tasks still running are cancelled and
    the loop's async generators closed before the loop closes, so that what a plugin keeps per
    loop (the ``http`` plugin's connection pool) is closed with it.
    """

    def __init__(self, name: str = "fate-registry-loop") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: (
            weakref.finalize[[asyncio.AbstractEventLoop, threading.Thread], LoopThread] | None
        ) = None
        self._closed = False

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` in the loop and wait for its result; interrupted (Ctrl-C), the
        coroutine is cancelled. The coroutine should bound its own time (``call_coroutine``)."""
        try:
            loop = self._started()
        except BaseException:
            coroutine.close()  # never to run: no "never awaited" warning
            raise
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # nothing once it is done; else its task is cancelled in the loop
            raise

    def shutdown(self) -> None:
        """Stop the loop, waiting a little for it to close; later calls raise WorkersClosed."""
        with self._lock:
            self._closed = True
            stop = self._stop
        if stop is not None:
            stop()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise WorkersClosed(f"{self.name} is shut down")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_run_forever, args=(loop,), name=self.name, daemon=True
                )
                thread.start()
                self._loop = loop
                # Also at exit, and if this object is dropped unclosed: never referring to self.
                self._stop = weakref.finalize(self, _stop_loop, loop, thread)
            return self._loop


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    with contextlib.suppress(RuntimeError):  # already closed
        loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(5.0)


def _give_up(task: _Task, cancel: threading.Event | None, grace: float) -> None:
    task.abandoned = True  # a worker that has not started it yet skips it
    if cancel is not None:
        cancel.set()
    if grace > 0 and task.done is not None:
        task.done.acquire(timeout=grace)


def _settle(future: asyncio.Future[_Task], task: _Task) -> None:
    if not future.done():  # not timed out meanwhile
        future.set_result(task)


def _outcome(task: _Task) -> Any:
    if task.error is not None:
        raise task.error
    return task.result
