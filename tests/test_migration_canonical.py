"""Migration 0003: the party ids and roles that keys and grants stored before the canonical
form are rewritten into it ("010000" is party 10000); what has no such form stops the upgrade,
named, and nothing is changed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cli_support import error_line
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from fate_registry import Registry, SchemaOutOfDate, schema
from fate_registry.cli import EXIT_FAILED, app
from fate_registry.store import create_engine
from fate_registry.store.tables import grants_t, site_keys_t

pytestmark = pytest.mark.db

EARLY, LATE = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture
def old_database(db_url: str) -> Iterator[Engine]:
    """A database at schema 0002, as the version before the canonical form left it."""
    engine = create_engine(db_url)
    schema.upgrade(engine, "0002")
    yield engine
    engine.dispose()


def store(engine: Engine, keys: list[tuple[str, str]], grants: list[tuple[Any, ...]]) -> None:
    """Rows as the older version wrote them: keys (party, kind); grants (party, kind, value,
    role, effect[, created_at])."""
    with engine.begin() as conn:
        if keys:
            conn.execute(insert(site_keys_t), [
                {"party_id": party, "kind": kind, "storage": "pem", "material": f"{party} {kind}",
                 "fingerprint": "f", "created_at": EARLY, "updated_at": EARLY}
                for party, kind in keys
            ])  # fmt: skip
        if grants:
            conn.execute(insert(grants_t), [
                {"party_id": g[0], "kind": g[1], "value": g[2], "role": g[3], "effect": g[4],
                 "created_at": g[5] if len(g) > 5 else EARLY}
                for g in grants
            ])  # fmt: skip


def stored(engine: Engine) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    with engine.connect() as conn:
        keys = conn.execute(
            select(site_keys_t.c.party_id, site_keys_t.c.kind, site_keys_t.c.material)
        )
        grants = conn.execute(
            select(
                grants_t.c.party_id,
                grants_t.c.kind,
                grants_t.c.value,
                grants_t.c.role,
                grants_t.c.effect,
            )
        )
        return sorted(tuple(row) for row in keys), sorted(tuple(row) for row in grants)


def test_party_ids_are_rewritten_without_leading_zeros(old_database: Engine) -> None:
    store(
        old_database,
        keys=[("010000", "public"), ("0009999", "private"), ("0009999", "public"), ("0", "public")],
        grants=[
            ("010000", "component", "reader", "*", "allow", LATE),
            ("10000", "component", "reader", "*", "deny"),  # the same entry: the deny stays
            ("0010000", "component", "dataio", "*", "allow"),
            ("00010001", "dataset", "a:b", "guest", "allow"),
            ("*", "component", "writer", "*", "deny"),
            ("10002", "dataset", "ns:*", "host", "allow"),
        ],
    )

    schema.upgrade(old_database)

    assert schema.current(old_database) == schema.head()
    keys, grants = stored(old_database)
    assert keys == [
        ("0", "public", "0 public"),
        ("10000", "public", "010000 public"),
        ("9999", "private", "0009999 private"),
        ("9999", "public", "0009999 public"),
    ]
    assert grants == [
        ("*", "component", "writer", "*", "deny"),
        ("10000", "component", "dataio", "*", "allow"),
        ("10000", "component", "reader", "*", "deny"),
        ("10001", "dataset", "a:b", "guest", "allow"),
        ("10002", "dataset", "ns:*", "host", "allow"),
    ]
    with Registry(str(old_database.url.render_as_string(hide_password=False))) as registry:
        merged = registry.grants.entries("10000")
        assert [(e.value, e.effect, e.created_at) for e in merged if e.value == "reader"] == [
            ("reader", "deny", EARLY)
        ]


def test_what_has_no_canonical_form_stops_the_upgrade_and_changes_nothing(
    old_database: Engine,
) -> None:
    store(
        old_database,
        keys=[("alice", "public"), ("010000", "public"), ("10000", "public"), ("020000", "public")],
        grants=[
            ("THIRD", "component", "reader", "*", "allow"),
            ("THIRD", "component", "dataio", "*", "allow"),
            ("10000", "component", "reader", "promoter", "deny"),
            ("1" * 19, "component", "reader", "*", "allow"),
            ("030000", "component", "reader", "*", "allow"),
        ],
    )
    before = stored(old_database)

    with pytest.raises(SchemaOutOfDate) as raised:
        schema.upgrade(old_database)

    message = str(raised.value)
    assert message.startswith("cannot upgrade the registry database to 0003: ")
    for words in [
        "fr_grant: party id 'THIRD' (2 entries) is not a decimal integer",
        f"fr_grant: party id '{'1' * 19}' (1 entry) is not a decimal integer of at most 18 digits",
        "fr_grant: role 'promoter' (1 entry) is not guest, host, arbiter, local or '*'",
        "fr_site_key: party id 'alice' (public key) is not a decimal integer",
        "fr_site_key: party ids '010000' and '10000' are both party 10000, and each has a "
        "public key",
        f"nothing was changed: delete or correct these rows (DELETE FROM fr_grant WHERE "
        f"party_id = '{'1' * 19}', say), then run `fate-registry db upgrade` again",
    ]:
        assert words in message
    assert "020000" not in message and "030000" not in message  # those convert
    assert schema.current(old_database) == "0002"
    assert stored(old_database) == before


def test_the_command_says_what_stops_the_upgrade_in_one_line(old_database: Engine) -> None:
    store(old_database, keys=[], grants=[("THIRD", "component", "reader", "*", "allow")])
    url = old_database.url.render_as_string(hide_password=False)

    line = error_line(CliRunner().invoke(app, ["--db", url, "db", "upgrade"]), EXIT_FAILED)

    assert line.startswith("error: cannot upgrade the registry database to 0003: fr_grant: ")
    assert "then run `fate-registry db upgrade` again" in line
