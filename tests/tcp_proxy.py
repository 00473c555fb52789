"""A TCP proxy on loopback in front of a database server, with the faults a network can have:
``hang`` (nothing is forwarded any more, yet every connection stays open, and new ones are
accepted and then ignored), ``resume`` (new connections are forwarded again; those caught in the
hang stay silent until closed, as behind a NAT that lost their state), and ``down``/``up``
(every connection reset, new ones refused). asyncio in a thread of its own; the tests and
benchmarks/bench_db_outage.py use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.engine import URL, make_url


class _Link:
    """One client connection, and its upstream connection when it has one."""

    def __init__(self, client: asyncio.StreamWriter, held: bool) -> None:
        self.writers = [client]
        self.held = held  # caught in a hang: forwards nothing, ever

    def abort(self) -> None:
        for writer in self.writers:
            writer.transport.abort()  # RST, as a cut network or a dead server gives


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._hanging = False
        self._resumed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # -- control, from any thread ----------------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        self._run(self._listen())
        return self

    def url(self, database_url: str | URL) -> URL:
        """``database_url`` pointed at the proxy."""
        return make_url(database_url).set(host="127.0.0.1", port=self.port)

    def hang(self) -> None:
        self._run(self._set_hanging(True))

    def resume(self) -> None:
        self._run(self._set_hanging(False))

    def down(self) -> None:
        """Reset every connection and refuse new ones, as a stopped server does."""
        self._run(self._down())

    def up(self) -> None:
        self._run(self._listen())

    def stop(self) -> None:
        self._run(self._shut_down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # -- the loop ------------------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port or 0)
        sock: socket.socket = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.abort()

    async def _shut_down(self) -> None:
        self._hanging = False
        self._resumed.set()  # pumps waiting for the end of a hang finish now
        await self._down()  # every pump then reads the end of its stream
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)

    async def _set_hanging(self, hanging: bool) -> None:
        self._hanging = hanging
        if hanging:
            self._resumed.clear()
            for link in self._links:
                link.held = True
        else:
            self._resumed.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer, held=self._hanging)
        self._links.add(link)
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            if link.held:  # accepted, then never answered
                await self._pump(reader, None, link)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                return
            link.writers.append(up_writer)
            await asyncio.gather(
                self._pump(reader, up_writer, link), self._pump(up_reader, writer, link)
            )
        finally:
            self._links.discard(link)
            self._handlers.discard(handler)  # type: ignore[arg-type]
            for each in link.writers:
                each.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None, link: _Link
    ) -> None:
        """Forward until either side closes; while held, read and drop. A close seen during a
        hang reaches the other side only once the hang is over."""
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if link.held or writer is None:
                    continue
                writer.write(data)
                await writer.drain()
        if self._hanging:
            await self._resumed.wait()
        for each in link.writers:
            each.close()
