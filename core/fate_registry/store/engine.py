"""Engines of the supported backends: the drivers we ship, and the connection options each needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event, make_url
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import URL

from ..errors import UnsupportedDatabase

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")


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


def create_engine(url: str | URL) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa_create_engine(parsed, pool_pre_ping=True, pool_recycle=3600)

    engine = sa_create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})

    # pysqlite's own transaction handling starts transactions too late to take the write lock
    # up front; we turn it off and issue BEGIN ourselves (SQLAlchemy's documented recipe).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if parsed.database and parsed.database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("fate_registry_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
