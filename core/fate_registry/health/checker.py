"""The health checker a ``serve`` process runs in a thread of its own, with its own event loop.

Every process of every node runs one; a lease in the database elects the one that probes, so N
nodes do not multiply the probes. The prober renews the lease as it goes; when it dies, the
lease runs out (three intervals) and another process takes it at its next try. The others read
the results from the database every interval, so every node (its fail-fast, its metrics, its
console) sees what the prober found.

No probe storm: each target keeps one place in the interval (a hash of its name), so the
probes of a round are spread evenly over it; at most ``concurrency`` run at once, and a round
that cannot keep up runs late rather than piling up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import time
import zlib
from contextlib import suppress
from typing import TYPE_CHECKING

import aiohttp

from .. import __version__
from ..errors import RegistryUnavailable
from ..metrics import DEFAULT_HEALTH_METRICS, HealthMetrics
from ..settings import HealthSettings
from ..store import tables
from ..store.health import SERVER_CHECK, CheckResult, HealthStore, Target
from . import PASSING
from .probes import http_check, tcp_check
from .view import HealthView

if TYPE_CHECKING:
    from ..registry import Registry

log = logging.getLogger("fate_registry.health")

LEASE = "health"
FLUSH_EVERY = 1.0  # seconds between two writes of a round's results


class LostLease(Exception):
    """Another process holds the lease now (this one stalled past its end): stop probing."""


def holder_id() -> str:
    """Who holds the lease: host, process id and a random part (a pid is reused)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{os.urandom(3).hex()}"


def place(key: tuple[str, str]) -> float:
    """A target's fixed place in the interval, from 0 to 1: the same every round, so that each
    target is checked once an interval and the round's checks are spread evenly."""
    return zlib.crc32(f"{key[0]}/{key[1]}".encode()) / 2**32


class Checker:
    """Runs the health checks of ``registry``'s database while this process is the prober."""

    def __init__(
        self,
        registry: Registry,
        settings: HealthSettings,
        metrics: HealthMetrics = DEFAULT_HEALTH_METRICS,
    ) -> None:
        self.settings = settings
        self.view: HealthView = registry.health
        self.store: HealthStore = self.view.store
        self.view.metrics = metrics
        self.metrics = metrics
        self.holder = holder_id()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._renewed = 0.0

    # -- the thread -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fate-registry-health", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop checking and let the lease go, so another node takes over at once."""
        self._stopping.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(wake.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        session = aiohttp.ClientSession(
            # A new connection per check, as Consul's: a kept-alive one would hide a server
            # that stopped accepting.
            connector=aiohttp.TCPConnector(limit=self.settings.concurrency, force_close=True),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # a proxy from the environment must not answer for the services
            headers={"User-Agent": f"fate-registry-health/{__version__} ({self.holder})"},
        )
        held = False
        try:
            while not self._stopping.is_set():
                started = time.monotonic()
                held = await self._step(session, started)
                self.metrics.prober.set(1 if held else 0)
                interval = self.settings.interval * random.uniform(0.95, 1.05)  # jitter
                await self._sleep(started + interval - time.monotonic())
        finally:
            await session.close()
            self.metrics.prober.set(0)
            if held:
                with suppress(Exception):  # it runs out by itself anyway
                    await asyncio.to_thread(self.store.release_lease, LEASE, self.holder)

    async def _step(self, session: aiohttp.ClientSession, started: float) -> bool:
        """One interval: take (or keep) the lease and probe a round, or read what the prober
        found. Whether this process is the prober; a failure is logged, never raised."""
        try:
            if await asyncio.to_thread(self._take_lease):
                await self._round(session, started)
                self.metrics.rounds.inc()
                return True
            await asyncio.to_thread(self.view.refresh)
        except LostLease:
            log.warning("health checks: another process took the lease; it probes now")
        except RegistryUnavailable as exc:
            log.warning("health checks paused: %s", exc)
        except Exception:
            log.exception("health checks: a round failed")
        return False

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        if seconds > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)

    def _take_lease(self) -> bool:
        now_ms = int(time.time() * 1000)
        held = self.store.take_lease(LEASE, self.holder, now_ms, int(self.settings.lease * 1000))
        self._renewed = time.monotonic()
        return held

    # -- a round ----------------------------------------------------------------------------------

    async def _round(self, session: aiohttp.ClientSession, started: float) -> None:
        targets = await asyncio.to_thread(self.store.targets)
        known = await asyncio.to_thread(self.view.refresh)  # the last prober's results
        gone = known.keys() - {target.key for target in targets}
        if gone:
            await asyncio.to_thread(self.store.delete_results, gone)
            self.view.forget(set(gone))
        interval = self.settings.interval
        slots = asyncio.Semaphore(self.settings.concurrency)
        found: dict[tuple[str, str], CheckResult] = {}
        running: set[asyncio.Task[None]] = set()
        # Results are written once a second beside the schedule, so a slow write never
        # holds the probes back (and a lost lease stops the round: LostLease).
        writer = asyncio.create_task(self._flush_every(found))
        try:
            for target in sorted(targets, key=lambda target: place(target.key)):
                wait = started + place(target.key) * interval - time.monotonic()
                if wait > 0.01:  # closer than that: now (a sleep each would cost more)
                    await self._sleep(wait)
                if self._stopping.is_set() or writer.done():
                    break
                await slots.acquire()  # at most `concurrency` at once: the round runs late
                task = asyncio.create_task(self._probe(session, target, found))
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _: slots.release())
            while running and not writer.done():
                await asyncio.wait(set(running) | {writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in running:
                task.cancel()
            if not writer.done():
                writer.cancel()
                with suppress(asyncio.CancelledError):
                    await writer
                if found and not self._stopping.is_set():
                    await self._flush(found)
            elif writer.exception() is not None:
                raise writer.exception()  # type: ignore[misc]

    async def _flush_every(self, found: dict[tuple[str, str], CheckResult]) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self._flush(found)

    async def _flush(self, found: dict[tuple[str, str], CheckResult]) -> None:
        """Write the results found since the last flush, renewing the lease when due."""
        batch = dict(found)
        found.clear()
        await asyncio.to_thread(self._write, batch)

    def _write(self, batch: dict[tuple[str, str], CheckResult]) -> None:
        if time.monotonic() - self._renewed >= self.settings.interval and not self._take_lease():
            raise LostLease
        self.store.save_results(batch)

    async def _probe(
        self,
        session: aiohttp.ClientSession,
        target: Target,
        found: dict[tuple[str, str], CheckResult],
    ) -> None:
        kind = "tcp" if target.check is None else "http"
        begun = time.monotonic()
        if target.check is None:
            status, output = await tcp_check(target, self.settings.timeout)
        else:
            status, output = await http_check(session, target)
        duration = time.monotonic() - begun
        now = tables.now()
        before = self.view.results().get(target.key)
        changed_at = before.changed_at if before is not None and before.status == status else now
        result = CheckResult(status, output, duration, now, changed_at)
        found[target.key] = result
        self.view.update({target.key: result})  # this process's fail-fast sees it at once
        self.metrics.probed(kind, status, duration)
        if changed_at is now:  # a change: one log line, on every node's behalf
            what = (
                f"server {target.server_name} ({kind})"
                if target.service_name == SERVER_CHECK
                else f"service {target.server_name}/{target.service_name} ({kind})"
            )
            was = before.status if before is not None else "unchecked"
            level = logging.INFO if status == PASSING else logging.WARNING
            log.log(level, "health of %s: %s -> %s: %s", what, was, status, output)
