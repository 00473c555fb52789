"""Transactions and upserts every aggregate shares: a write bumps the revision counter first,
and a database that cannot be used raises RegistryUnavailable (see failures.py)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Insert, update

from .failures import reported
from .tables import revision_t


@contextmanager
def write(engine: Engine, *, bump: bool = True) -> Iterator[Connection]:
    """One write transaction. With ``bump`` (the default) it starts by bumping the revision
    counter: on PostgreSQL and MySQL that row lock serialises writers, and every node sees the
    change at its next revision check. On SQLite, ``BEGIN IMMEDIATE`` takes the write lock."""
    with reported(engine), engine.connect() as conn:
        conn.execution_options(fate_registry_write=True)
        with conn.begin():
            if bump:
                conn.execute(
                    update(revision_t)
                    .where(revision_t.c.id == 1)
                    .values(value=revision_t.c.value + 1)
                )
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    with reported(engine), engine.connect() as conn, conn.begin():
        yield conn


def _module(dialect: str) -> Any:
    """SQLAlchemy's module of ``dialect`` (mysql, postgresql, else sqlite), imported when first
    used: PostgreSQL's alone costs a command-line command about 0.1 s."""
    name = dialect if dialect in ("mysql", "postgresql") else "sqlite"
    return importlib.import_module(f"sqlalchemy.dialects.{name}")


def upsert(dialect: str, table: Any, keys: list[str], changing: list[str] | None = None) -> Insert:
    """INSERT, or UPDATE the ``changing`` columns (default: every column but the keys and
    created_at) when the keys exist."""
    if changing is None:
        changing = [c.name for c in table.columns if c.name not in keys and c.name != "created_at"]
    if dialect == "mysql":
        stmt = _module("mysql").insert(table)
        mysql_upsert: Insert = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in changing})
        return mysql_upsert
    module = _module(dialect)
    insert = module.insert(table)
    other_upsert: Insert = insert.on_conflict_do_update(
        index_elements=keys, set_={c: insert.excluded[c] for c in changing}
    )
    return other_upsert


def insert_if_absent(dialect: str, table: Any) -> Insert:
    """INSERT that leaves an existing row with the same key alone. Whether it inserted: on
    MySQL the row count (0 when the row existed); elsewhere a row returned by ``RETURNING`` (the
    row count of psycopg is -1 here)."""
    if dialect == "mysql":
        mysql_ignore: Insert = _module("mysql").insert(table).prefix_with("IGNORE")
        return mysql_ignore
    module = _module(dialect)
    first_key = next(iter(table.primary_key.columns))
    ignored: Insert = module.insert(table).on_conflict_do_nothing().returning(first_key)
    return ignored


def inserted(conn: Connection, stmt: Insert, row: dict[str, Any]) -> bool:
    """Run an ``insert_if_absent`` statement; True when it inserted the row."""
    result = conn.execute(stmt, row)
    if conn.dialect.name == "mysql":
        return result.rowcount == 1
    return result.first() is not None
