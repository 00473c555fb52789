"""Engines of the supported backends: the drivers we ship, the connection options each needs,
and the timeouts that bound every wait on the database (the ``db_*`` settings)."""

from __future__ import annotations

import math
import os
import socket
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, event, exc, make_url
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import URL

from ..errors import UnsupportedDatabase
from ..settings import Settings
from .watchdog import WATCHDOG

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")
# The client waits this much longer than the server's own statement timeout, so that a server
# that still answers reports its timeout itself and the connection stays usable.
CLIENT_MARGIN = 1.0
# TCP keepalive of PostgreSQL connections: a dead peer of an idle connection is noticed in
# about IDLE + INTERVAL * COUNT seconds, so the pool's check finds it closed.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 30, 5, 3


@dataclass(frozen=True)
class Timeouts:
    """Seconds the database may take: the ``db_*`` settings (docs/configuration.md)."""

    connect: float
    statement: float
    pool: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Timeouts:
        return cls(
            connect=settings.db_connect_timeout,
            statement=settings.db_statement_timeout,
            pool=settings.db_pool_timeout,
        )

    @property
    def client(self) -> float:
        """How long the client waits for an answer before it cuts the connection."""
        return self.statement + CLIENT_MARGIN


DEFAULT_TIMEOUTS = Timeouts.from_settings(Settings.model_construct())
_timeouts: weakref.WeakKeyDictionary[Engine, Timeouts] = weakref.WeakKeyDictionary()


def timeouts_of(engine: Engine) -> Timeouts:
    """The timeouts ``engine`` was created with (the defaults for an engine made elsewhere)."""
    return _timeouts.get(engine, DEFAULT_TIMEOUTS)


def normalise_url(url: str | URL) -> URL:
    """Pick the drivers we ship for bare ``postgresql://`` and ``mysql://`` URLs."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise UnsupportedDatabase(
            f"unsupported database {parsed.get_backend_name()!r} in the database URL: "
            "use sqlite, postgresql or mysql"
        )
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername in ("mysql", "mariadb"):
        parsed = parsed.set(drivername="mysql+pymysql")
    return parsed


def create_engine(
    url: str | URL, timeouts: Timeouts = DEFAULT_TIMEOUTS, *, pool_size: int | None = None
) -> Engine:
    """An engine whose every wait is bounded by ``timeouts``; options given in the URL's query
    win over ours. ``pool_size`` fixes the pool at that many connections (no overflow)."""
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    pool: dict[str, Any] = {"pool_timeout": timeouts.pool}
    if pool_size is not None:
        pool.update(pool_size=pool_size, max_overflow=0)
    if backend == "postgresql":
        engine = sa_create_engine(
            parsed, connect_args=_postgres_args(parsed, timeouts), pool_recycle=3600, **pool
        )
        _watch_postgres(engine, timeouts)
    elif backend == "mysql":
        engine = sa_create_engine(
            parsed,
            connect_args=_mysql_args(parsed, timeouts),
            pool_pre_ping=True,  # bounded by the read timeout
            pool_recycle=3600,
            **pool,
        )
    else:
        engine = _sqlite_engine(parsed, timeouts, pool)
    _timeouts[engine] = timeouts
    return engine


def _not_given(url: URL, args: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in args.items() if name not in url.query}


def _postgres_args(url: URL, timeouts: Timeouts) -> dict[str, Any]:
    statement_ms = round(timeouts.statement * 1000)
    # The server ends a statement, or a transaction left idle (say by a client that was cut off
    # while holding the revision row's lock), after the statement timeout.
    options = (
        f"-c statement_timeout={statement_ms} -c idle_in_transaction_session_timeout={statement_ms}"
    )
    given = url.query.get("options")
    args = _not_given(
        url,
        {
            "connect_timeout": max(2, math.ceil(timeouts.connect)),  # libpq: whole s, at least 2
            "keepalives": 1,
            "keepalives_idle": KEEPALIVE_IDLE,
            "keepalives_interval": KEEPALIVE_INTERVAL,
            "keepalives_count": KEEPALIVE_COUNT,
            "tcp_user_timeout": round(timeouts.client * 1000),
        },
    )
    # Later -c options win, so the URL's own come last.
    args["options"] = f"{options} {given}" if isinstance(given, str) else options
    return args


def _mysql_args(url: URL, timeouts: Timeouts) -> dict[str, Any]:
    return _not_given(
        url,
        {
            "connect_timeout": timeouts.connect,
            "read_timeout": timeouts.client,
            "write_timeout": timeouts.client,
            "init_command": "SET SESSION innodb_lock_wait_timeout = "
            f"{max(1, math.ceil(timeouts.statement))}",
        },
    )


def _sqlite_engine(url: URL, timeouts: Timeouts, pool: dict[str, Any]) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    engine = sa_create_engine(
        url,
        # the busy timeout: how long a write waits for another process's write lock
        connect_args=_not_given(url, {"timeout": timeouts.statement, "check_same_thread": False}),
        **({} if in_memory else pool),  # an in-memory database has one connection per thread
    )

    # pysqlite's own transaction handling starts transactions too late to take the write lock
    # up front; we turn it off and issue BEGIN ourselves (SQLAlchemy's documented recipe).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("fate_registry_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# -- PostgreSQL: the client-side deadline (see watchdog.py) ---------------------------------------

_SOCKET = "fate_registry_socket"  # the record's duplicate of the connection's socket
_FRESH = "fate_registry_fresh"


def _watch_postgres(engine: Engine, timeouts: Timeouts) -> None:
    """Arm the watchdog before every call on a connection, and check a pooled connection before
    use under the connect timeout: SQLAlchemy's pool_pre_ping would wait without a deadline."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        record.info[_SOCKET] = socket.socket(fileno=os.dup(dbapi_connection.fileno()))
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        sock = record.info[_SOCKET]
        WATCHDOG.overran()  # forget a cut that raced with the end of this thread's last call
        if not record.info.pop(_FRESH, False):
            WATCHDOG.arm(sock, timeouts.connect)
            try:
                alive = engine.dialect.do_ping(dbapi_connection)
            except Exception:
                alive = False
            if not alive:
                # Replaced, with every pooled connection older than it (as pool_pre_ping does).
                WATCHDOG.disarm(sock)
                WATCHDOG.overran()
                raise exc.InvalidatePoolError()
        WATCHDOG.arm(sock, timeouts.client)

    def _rearm(conn: Connection, *_: Any) -> None:
        if conn.invalidated or conn.closed:  # cut: nothing left to watch
            return
        sock = conn.info.get(_SOCKET)
        if sock is not None:
            WATCHDOG.arm(sock, timeouts.client)

    def _rearm_record(_dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
        sock = record.info.get(_SOCKET)
        if sock is not None:
            WATCHDOG.arm(sock, timeouts.client)

    def _disarm(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        sock = record.info.get(_SOCKET)
        if sock is not None:
            WATCHDOG.disarm(sock)

    def _on_close(_dbapi_connection: Any, record: Any) -> None:
        sock = record.info.pop(_SOCKET, None)
        if sock is not None:
            WATCHDOG.disarm(sock)
            sock.close()

    for name in ("before_cursor_execute", "commit", "rollback"):
        event.listen(engine, name, _rearm)
    event.listen(engine, "reset", _rearm_record)  # the rollback when it goes back to the pool
    for name in ("checkin", "invalidate", "soft_invalidate", "detach"):
        event.listen(engine, name, _disarm)
    event.listen(engine, "close", _on_close)
