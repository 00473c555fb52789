"""Worker threads that run plugin calls under a deadline; the caller stops waiting at it.

Lighter than ``concurrent.futures.ThreadPoolExecutor`` (one lock hand-off per call, about half
the latency), and its threads are daemons: a hung plugin delays neither callers beyond their
deadline nor the interpreter's exit.
"""

from __future__ import annotations

import _thread
import queue
import threading
from collections.abc import Callable
from typing import Any


class DeadlineExceeded(TimeoutError):
    """The call did not finish before its deadline; it may still be running."""


class WorkersClosed(RuntimeError):
    """A call came after ``shutdown()``."""


class _Task:
    __slots__ = ("abandoned", "args", "done", "error", "function", "result")

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.function = function
        self.args = args
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False


class Workers:
    """Up to ``max_workers`` daemon threads, started as calls need them."""

    def __init__(self, max_workers: int, name: str = "fate-registry-hook") -> None:
        self.max_workers = max_workers
        self.name = name
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # workers free for a new task
        self._backlog = 0  # tasks queued while every worker was busy
        self._threads = 0
        self._closed = False

    def call(self, function: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        """``function(*args)`` in a worker; raises DeadlineExceeded after ``timeout`` seconds."""
        task = _Task(function, args)
        with self._lock:
            if self._closed:
                raise WorkersClosed(f"{self.name} workers are shut down")
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
        if not task.done.acquire(timeout=max(timeout, 0.0)):
            task.abandoned = True  # a worker that has not started it yet skips it
            raise DeadlineExceeded(f"not finished after {timeout:.2f} s")
        if task.error is not None:
            raise task.error
        return task.result

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
            if not task.abandoned:
                try:
                    task.result = task.function(*task.args)
                except BaseException as exc:
                    task.error = exc
                task.done.release()
            with self._lock:
                if self._closed:
                    continue  # no more accounting: take queued tasks, then the sentinel
                if self._backlog:
                    self._backlog -= 1  # this worker takes a queued task next
                else:
                    self._idle += 1
