"""Schema management: an empty database is upgraded on open; an older one is refused."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import text

from fate_registry import Registry, SchemaOutOfDate, SchemaTooNew, schema
from fate_registry.store import create_engine

pytestmark = pytest.mark.db


def test_empty_database_is_upgraded_on_open(db_url: str) -> None:
    with Registry(db_url) as registry:
        assert schema.current(registry.engine) == schema.head()
        assert registry.revision == 0


def _open(url: str) -> None:
    Registry(url).close()


def test_many_processes_opening_an_empty_database_at_once_all_succeed(db_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        pool.map(_open, [db_url] * 8)  # raises here if any process failed
    engine = create_engine(db_url)
    assert schema.current(engine) == schema.head()
    engine.dispose()


def test_upgrade_is_idempotent(db_url: str) -> None:
    engine = create_engine(db_url)
    schema.upgrade(engine)
    schema.upgrade(engine)
    assert schema.current(engine) == schema.head()
    engine.dispose()


def test_empty_database_is_left_alone_when_asked(db_url: str) -> None:
    with pytest.raises(SchemaOutOfDate, match="fate-registry db upgrade"):
        Registry(db_url, upgrade_empty=False)


def test_database_from_a_newer_release_is_refused(db_url: str) -> None:
    Registry(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = 'older'"))
    engine.dispose()
    with pytest.raises(SchemaTooNew, match=r"written by a newer fate-registry: its schema older"):
        Registry(db_url)


def test_reading_or_upgrading_a_database_from_a_newer_release_is_refused(db_url: str) -> None:
    Registry(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = 'ffff0000'"))
    try:
        for step in (schema.current, schema.upgrade, schema.ensure_current):
            with pytest.raises(SchemaTooNew, match="written by a newer fate-registry"):
                step(engine)
        with engine.connect() as conn:  # the upgrade changed nothing
            version = conn.execute(text(f"SELECT version_num FROM {schema.VERSION_TABLE}"))
            assert version.scalar_one() == "ffff0000"
    finally:
        engine.dispose()


def test_the_migrations_make_the_models_tables_and_leave_other_tables_alone(db_url: str) -> None:
    """What autogenerate would write after the shipped migrations: nothing. The migrations
    build exactly the models' tables and types, and a table the models do not define (a
    plugin's own, our version table) is not proposed for dropping."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from fate_registry.store import metadata

    with Registry(db_url) as registry:
        with registry.engine.begin() as conn:
            conn.execute(text("CREATE TABLE plugin_own_table (id INTEGER PRIMARY KEY)"))
        try:
            with registry.engine.connect() as conn:
                opts = {"compare_type": True, "include_object": schema.include_object}
                assert compare_metadata(MigrationContext.configure(conn, opts=opts), metadata) == []
                unfiltered = MigrationContext.configure(conn, opts={"compare_type": True})
                dropped = {d[1].name for d in compare_metadata(unfiltered, metadata)}
                assert "plugin_own_table" in dropped  # what the filter is there for
        finally:
            with registry.engine.begin() as conn:
                conn.execute(text("DROP TABLE plugin_own_table"))
