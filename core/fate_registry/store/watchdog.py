"""A client-side deadline on PostgreSQL calls. libpq has no read timeout: a server that stops
answering behind a proxy or a partition the kernel cannot see (a NAT, a load balancer that holds
the connection) would keep a thread and a pooled connection for hours. Neither psycopg nor
SQLAlchemy offers such a deadline, hence this module: one daemon thread shuts down the socket of
a connection whose call overran; the driver then fails at once with a lost connection, and
SQLAlchemy replaces it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time

log = logging.getLogger("fate_registry.store")


class Watchdog:
    """Deadlines of sockets, kept by one thread for all engines of the process.

    ``arm`` before a call (again before each next one), ``disarm`` when the connection goes back
    to the pool. The sockets are duplicates the caller owns (``socket.socket(fileno=os.dup(fd))``):
    shutting one down cuts the connection, and it can never be a socket that a closed
    connection's number was reused for.
    """

    def __init__(self) -> None:
        self._deadlines: dict[socket.socket, tuple[float, float, int]] = {}
        self._cut: dict[int, float] = {}  # thread id -> the deadline its call overran
        self._changed = threading.Condition()
        self._wakes_at = float("inf")
        self._thread: threading.Thread | None = None

    def arm(self, sock: socket.socket, seconds: float) -> None:
        """Cut ``sock`` unless it is armed again or disarmed within ``seconds``."""
        deadline = time.monotonic() + seconds
        with self._changed:
            self._deadlines[sock] = (deadline, seconds, threading.get_ident())
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fate-registry-db-watchdog", daemon=True
                )
                self._thread.start()
            if deadline < self._wakes_at:
                self._changed.notify()

    def disarm(self, sock: socket.socket) -> None:
        with self._changed:
            self._deadlines.pop(sock, None)

    def overran(self) -> float | None:
        """The seconds of the deadline that the calling thread's last call overran, once."""
        with self._changed:
            return self._cut.pop(threading.get_ident(), None)

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for sock, (deadline, seconds, owner) in list(self._deadlines.items()):
                    if deadline <= now:
                        del self._deadlines[sock]
                        self._cut[owner] = seconds
                        _shut_down(sock)
                        log.warning(
                            "cut a database connection that had not answered within %g s",
                            seconds,
                        )
                if self._deadlines:
                    self._wakes_at = min(deadline for deadline, _, _ in self._deadlines.values())
                    self._changed.wait(self._wakes_at - now)
                else:
                    self._wakes_at = float("inf")
                    self._changed.wait()

    def _forget_thread(self) -> None:
        """In a forked child the thread is gone; the next ``arm`` starts a new one."""
        self._changed = threading.Condition()
        self._deadlines.clear()
        self._cut.clear()
        self._wakes_at = float("inf")
        self._thread = None


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        sock.shutdown(socket.SHUT_RDWR)


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG._forget_thread)
