"""Schema versions: Alembic migrations shipped inside the package, run on the registry's engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from .errors import SchemaOutOfDate

# Our own version table, so the registry can share a database with other applications.
VERSION_TABLE = "fate_registry_alembic_version"
LOCK_NAME = "fate_registry_migrate"
LOCK_TIMEOUT = 60
PG_LOCK_KEY = 0x46524D47  # "FRMG": the advisory lock key of our migrations


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "fate_registry:migrations")
    config.set_main_option("version_table", VERSION_TABLE)
    return config


def head() -> str:
    return str(ScriptDirectory.from_config(_config()).get_current_head())


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> None:
    """Migrate to ``target``; processes doing the same at once wait for each other."""
    config = _config()
    with engine.connect() as conn, _migration_lock(conn):
        config.attributes["connection"] = conn
        command.upgrade(config, target)
        conn.commit()


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """One migrating process at a time: MySQL's DDL is not transactional, and SQLite's deferred
    BEGIN gives up at once on a lock instead of waiting."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.execution_options(fate_registry_write=True)  # BEGIN IMMEDIATE: wait for the lock
        yield
    elif dialect == "mysql":
        got = conn.exec_driver_sql(f"SELECT GET_LOCK('{LOCK_NAME}', {LOCK_TIMEOUT})").scalar()
        if got != 1:
            raise SchemaOutOfDate(f"another process held the migration lock for {LOCK_TIMEOUT} s")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT RELEASE_LOCK('{LOCK_NAME}')")
    elif dialect == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({PG_LOCK_KEY})")
        try:
            yield
        finally:
            conn.rollback()  # a failed migration leaves the transaction aborted
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({PG_LOCK_KEY})")
            conn.commit()
    else:
        yield


def ensure_current(engine: Engine, upgrade_empty: bool = True) -> None:
    """Upgrade an empty database; refuse one whose schema is older than this code's."""
    version = current(engine)
    if version == head():
        return
    if version is None and upgrade_empty:
        upgrade(engine)  # under the migration lock: a racing process finds it done
        return
    if version is not None and upgrade_empty and _known(version):
        # Another process may be migrating an empty database right now: MySQL's DDL commits as
        # it goes, so its intermediate versions show. Read again once it holds the lock no more.
        version = _current_under_lock(engine)
        if version == head():
            return
    if version is not None and not _known(version):
        raise SchemaOutOfDate(
            f"the registry database is at schema {version}, which this version of fate-registry "
            f"does not know (it needs {head()}): it was written by a newer release; upgrade "
            "fate-registry"
        )
    raise SchemaOutOfDate(
        f"the registry database is at schema {version or 'none'}, this code needs {head()}: "
        "run `fate-registry db upgrade`"
    )


def _current_under_lock(engine: Engine) -> str | None:
    with engine.connect() as conn, _migration_lock(conn):
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def _known(version: str) -> bool:
    scripts = ScriptDirectory.from_config(_config())
    return any(script.revision == version for script in scripts.walk_revisions())
