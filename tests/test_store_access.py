"""Keys, grants and nonces in the store, on every backend: migration 0002, revisions, sharing."""

from __future__ import annotations

import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from fate_registry import InvalidRegistration, Registry, Settings, schema
from fate_registry.keys import KeyNotFound, KeyStorageError
from fate_registry.store import metadata
from fate_registry.store.tables import site_keys_t

pytestmark = pytest.mark.db
PASSPHRASE = "a-long-test-passphrase"


def test_migrations_build_exactly_the_tables_the_code_declares(registry: Registry) -> None:
    assert schema.current(registry.engine) == schema.HEAD == schema.head()
    with registry.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    differences = [d for d in differences if schema.VERSION_TABLE not in str(d)]
    assert differences == []


def test_upgrade_from_0001_adds_the_new_tables_and_keeps_registrations(db_url: str) -> None:
    from fate_registry import SchemaOutOfDate
    from fate_registry.store import create_engine

    engine = create_engine(db_url)
    schema.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO fr_server (name, host, port, protocol, created_at, updated_at) "
            "VALUES ('THIRD', '10.0.0.5', 8080, 'http', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00')"
        )
    with pytest.raises(SchemaOutOfDate, match="fate-registry db upgrade"):
        Registry(db_url)
    schema.upgrade(engine)
    engine.dispose()
    with Registry(db_url, cache_ttl=0) as registry:
        assert registry.server("third").host == "10.0.0.5"
        registry.grants.grant("10000", components=["reader"])
        assert len(registry.grants.entries()) == 1


def test_a_nonce_is_accepted_once_within_its_window(registry: Registry) -> None:
    store = registry.nonces.store
    now = int(time.time() * 1000)
    revision = registry.revision
    assert store.remember("hmac:a", "n1", now + 60_000, now) is True
    assert store.remember("hmac:a", "n1", now + 60_000, now) is False
    assert store.remember("hmac:b", "n1", now + 60_000, now) is True  # another scope
    assert registry.revision == revision  # nonces bump nothing other nodes cache


def test_an_expired_nonce_row_does_not_refuse_a_new_use(registry: Registry) -> None:
    store = registry.nonces.store
    now = int(time.time() * 1000)
    assert store.remember("s", "n", now - 1, now - 60_000) is True
    assert store.remember("s", "n", now + 60_000, now) is True
    assert store.remember("s", "n", now + 60_000, now) is False


def test_expired_nonces_are_purged(registry: Registry) -> None:
    store = registry.nonces.store
    now = int(time.time() * 1000)
    store.remember("s", "old", now - 1, now - 60_000)
    store.remember("s", "new", now + 60_000, now)
    assert store.purge(now) == 1
    assert store.remember("s", "new", now + 60_000, now) is False


def test_a_replay_through_another_registry_on_the_same_database_is_refused(
    registry: Registry, db_url: str
) -> None:
    expires = time.time() + 60
    with Registry(db_url, cache_ttl=0) as other:
        assert registry.nonces.first_use("hmac:a", "n", expires) is True
        assert other.nonces.first_use("hmac:a", "n", expires) is False
        assert registry.nonces.first_use("hmac:a", "n", expires) is False  # from memory


def test_grants_are_shared_and_bump_the_revision(registry: Registry, db_url: str) -> None:
    with Registry(db_url, cache_ttl=0) as other:
        assert other.grants.for_party("10000") == []
        revision = registry.revision
        registry.grants.grant("10000", components=["Reader"], datasets=["experiment:breast"])
        assert registry.revision == revision + 1
        values = {(g.kind, g.value) for g in other.grants.for_party("10000")}
        assert values == {("component", "reader"), ("dataset", "experiment:breast")}
        assert registry.grants.revoke("10000", components=["reader"]) == 1
        assert [g.value for g in other.grants.for_party("10000")] == ["experiment:breast"]


def test_a_grant_changes_its_effect_in_place(registry: Registry) -> None:
    registry.grants.grant("10000", components=["reader"])
    registry.grants.grant("10000", components=["reader"], deny=True)
    assert [(g.value, g.effect) for g in registry.grants.entries("10000")] == [("reader", "deny")]


def test_revoking_a_wildcard_removes_every_entry_of_its_kind(registry: Registry) -> None:
    registry.grants.grant("10000", components=["reader", "dataio", "*"], datasets=["ns:a"])
    assert registry.grants.revoke("10000", components=["*"]) == 3
    assert [g.kind for g in registry.grants.entries("10000")] == ["dataset"]


def test_a_bad_grant_names_the_field_and_writes_nothing(registry: Registry) -> None:
    revision = registry.revision
    for kwargs, field in [
        ({"party_id": "10 000", "components": ["reader"]}, "party_id"),
        ({"party_id": "10000", "components": ["read er"]}, "component"),
        ({"party_id": "10000", "datasets": ["no-colon"]}, "dataset"),
        ({"party_id": "10000", "datasets": [{"namespace": "", "name": "x"}]}, "dataset"),
        ({"party_id": "10000", "components": ["reader"], "role": "Guest!"}, "role"),
        ({"party_id": "10000"}, "component"),
    ]:
        with pytest.raises(InvalidRegistration) as caught:
            registry.grants.grant(**kwargs)
        assert caught.value.field == field
    assert registry.revision == revision


def _with_passphrase(db_url: str) -> Registry:
    settings = Settings(db_url=db_url, rsa={"key_passphrase": PASSPHRASE})
    return Registry(db_url, settings=settings, cache_ttl=0)


def test_a_private_key_is_never_stored_in_clear(db_url: str) -> None:
    with _with_passphrase(db_url) as registry:
        info = registry.keys.generate("9999")
        with registry.engine.connect() as conn:
            rows = conn.execute(select(site_keys_t)).mappings().all()
    stored = {row["kind"]: row for row in rows}
    assert stored["private"]["storage"] == "encrypted"
    assert "BEGIN ENCRYPTED PRIVATE KEY" in stored["private"]["material"]
    assert "BEGIN PRIVATE KEY" not in stored["private"]["material"]
    assert stored["public"]["fingerprint"] == stored["private"]["fingerprint"] == info.fingerprint


def test_without_a_passphrase_or_file_a_private_key_is_refused(registry: Registry) -> None:
    with pytest.raises(KeyStorageError, match="never stored in clear"):
        registry.keys.generate("9999")
    assert registry.keys.list() == []


def test_a_private_key_can_live_in_a_file_stored_by_path(registry: Registry, tmp_path) -> None:
    path = tmp_path / "party-9999.pem"
    registry.keys.generate("9999", private_file=path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert registry.keys.private_key("9999").key_size == 2048
    info = {i.kind: i.storage for i in registry.keys.list()}
    assert info == {"private": "file", "public": "pem"}


def test_listings_carry_no_key_material(db_url: str) -> None:
    with _with_passphrase(db_url) as registry:
        registry.keys.generate("9999")
        listing = [info.as_dict() for info in registry.keys.list()]
    assert {entry["kind"] for entry in listing} == {"public", "private"}
    assert all("material" not in entry and "PRIVATE" not in str(entry) for entry in listing)


def test_keys_are_shared_and_deleted(registry: Registry, db_url: str) -> None:
    with _with_passphrase(db_url) as signer:
        signer.keys.generate("9999")
        pem = signer.keys.public_pem("9999")
    assert registry.keys.import_public("10000", pem) is True
    assert registry.keys.import_public("10000", pem) is False  # FATE's "update success"
    with Registry(db_url, cache_ttl=0) as other:
        assert other.keys.public_key("10000") is not None
        assert registry.keys.delete("10000") == 1
        assert other.keys.public_key("10000") is None
    with pytest.raises(KeyNotFound):
        registry.keys.public_pem("10000")


def test_a_public_key_that_is_not_pem_rsa_is_refused(registry: Registry) -> None:
    with pytest.raises(InvalidRegistration, match="key: is not a PEM public key"):
        registry.keys.import_public("10000", "xxx")  # FATE's own example key
    assert registry.keys.list() == []


def test_a_wrong_passphrase_makes_the_key_unusable_with_a_reason(db_url: str) -> None:
    with _with_passphrase(db_url) as registry:
        registry.keys.generate("9999")
    settings = Settings(db_url=db_url, rsa={"key_passphrase": "another-passphrase-here"})
    with (
        Registry(db_url, settings=settings, cache_ttl=0) as wrong,
        pytest.raises(KeyStorageError, match=r"wrong rsa\.key_passphrase"),
    ):
        wrong.keys.private_key("9999")
