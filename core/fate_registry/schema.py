"""Schema versions: Alembic migrations shipped inside the package, run on the registry's engine.

Alembic is imported only to migrate or to look at the migrations: opening a registry whose
schema is current reads the version table with one query (``fate-registry server list`` starts
faster for it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from .errors import SchemaOutOfDate, SchemaTooNew
from .store.failures import reported

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration in migrations/versions; a test checks that Alembic agrees.
HEAD = "0005"
# Our own version table, so the registry can share a database with other applications.
VERSION_TABLE = "fate_registry_alembic_version"
LOCK_NAME = "fate_registry_migrate"
LOCK_TIMEOUT = 60
LOCK_POLL = 0.2  # seconds between tries of PostgreSQL's advisory lock
PG_LOCK_KEY = 0x46524D47  # "FRMG": the advisory lock key of our migrations


def include_object(
    item: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's filter for autogenerate: a table in the database that our models do not define
    (our version table, another application's, a plugin's own such as fate-registry-casbin's
    ``fr_casbin_rule``) is not ours, so a generated migration never drops it."""
    return not (type_ == "table" and reflected and compare_to is None)


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "fate_registry:migrations")
    config.set_main_option("version_table", VERSION_TABLE)
    return config


def head() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_config()).get_current_head())


def current(engine: Engine) -> str | None:
    """The database's schema revision, None when it has none; ``SchemaTooNew`` when a newer
    fate-registry wrote it (nothing this version does to it would be right)."""
    with reported(engine), engine.connect() as conn:
        return _known_revision(conn)


def upgrade(engine: Engine, target: str = "head") -> None:
    """Migrate to ``target``; processes doing the same at once wait for each other."""
    from alembic import command

    config = _config()
    with reported(engine), engine.connect() as conn, _migration_lock(conn):
        _known_revision(conn)
        config.attributes["connection"] = conn
        command.upgrade(config, target)
        conn.commit()


def _known_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    version = context.get_current_revision()
    if version is not None and not _known(version):
        raise SchemaTooNew(
            f"the registry database was written by a newer fate-registry: its schema {version} "
            f"is unknown to this version (which needs {head()}); upgrade fate-registry"
        )
    return version


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """One migrating process at a time: MySQL's DDL is not transactional, and SQLite's deferred
    BEGIN gives up at once on a lock instead of waiting. The lock is polled in short statements,
    each well within the statement timeout, for up to LOCK_TIMEOUT seconds."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.execution_options(fate_registry_write=True)  # BEGIN IMMEDIATE: waits the busy timeout
        yield
    elif dialect == "mysql":
        # GET_LOCK waits up to 1 s itself
        _wait_for_lock(
            lambda: conn.exec_driver_sql(f"SELECT GET_LOCK('{LOCK_NAME}', 1)").scalar() == 1,
            pause=0,
        )
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT RELEASE_LOCK('{LOCK_NAME}')")
    elif dialect == "postgresql":

        def take() -> bool:
            got = bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({PG_LOCK_KEY})").scalar())
            if not got:
                conn.rollback()  # end the transaction the query began while we wait
            return got

        _wait_for_lock(take, pause=LOCK_POLL)
        try:
            yield
        finally:
            conn.rollback()  # a failed migration leaves the transaction aborted
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({PG_LOCK_KEY})")
            conn.commit()
    else:
        yield


def _wait_for_lock(take: Callable[[], bool], pause: float) -> None:
    deadline = time.monotonic() + LOCK_TIMEOUT
    while not take():
        if time.monotonic() > deadline:
            raise SchemaOutOfDate(f"another process held the migration lock for {LOCK_TIMEOUT} s")
        time.sleep(pause)


def ensure_current(engine: Engine, upgrade_empty: bool = True) -> None:
    """Upgrade an empty database; refuse one whose schema is older or newer than this code's."""
    if _stored_version(engine) == HEAD:
        return
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
    raise SchemaOutOfDate(
        f"the registry database is at schema {version or 'none'}, this code needs {head()}: "
        "run `fate-registry db upgrade`"
    )


def _stored_version(engine: Engine) -> str | None:
    """The version table's revision with plain SQL (None when there is no table or no row)."""
    with reported(engine), engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None


def _current_under_lock(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn, _migration_lock(conn):
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def _known(version: str) -> bool:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_config())
    return any(script.revision == version for script in scripts.walk_revisions())
