"""The registry's contract on every backend: names, upserts, resolution, deletes, revisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fate_registry import (
    Conflict,
    InvalidRegistration,
    Registry,
    ServerNotFound,
    ServiceNotFound,
)
from fate_registry.models import ServerRegistration, ServiceRegistration
from fate_registry.store import registrations

pytestmark = pytest.mark.db


def test_server_name_is_case_insensitive_and_stored_upper_case(registry: Registry) -> None:
    registry.register_server("third", host="10.0.0.5", port=8080)
    registry.register_server("Third", host="10.0.0.6", port=8080)
    assert [s.name for s in registry.servers()] == ["THIRD"]
    assert registry.server("tHiRd").host == "10.0.0.6"


def test_service_defaults_are_post_and_server_protocol(registry: Registry) -> None:
    registry.register_server("third", host="10.0.0.5", port=8443, protocol="https")
    registry.register_service("third", "upload", uri="/v1/upload")
    resolved = registry.resolve("THIRD", "upload")
    assert resolved.url == "https://10.0.0.5:8443/v1/upload"
    assert resolved.method == "POST"


def test_resolve_returns_what_to_send(registry: Registry) -> None:
    registry.register_server("third", host="10.0.0.5", port=8080)
    registry.register_service(
        "third",
        "permission",
        uri="/check",
        params={"app": "fate"},
        data={"tenant": "a"},
        headers={"X-Token": "t"},
    )
    resolved = registry.resolve("third", "Permission")
    assert (resolved.params, resolved.data, resolved.headers) == (
        {"app": "fate"},
        {"tenant": "a"},
        {"X-Token": "t"},
    )


def test_service_protocol_overrides_server_protocol(registry: Registry) -> None:
    registry.register_server("third", host="h", port=1)
    registry.register_service("third", "upload", uri="/u", protocol="https")
    assert registry.resolve("third", "upload").url == "https://h:1/u"


def test_moved_server_moves_its_services(registry: Registry) -> None:
    registry.register_server("third", host="10.0.0.5", port=8080)
    for name in ("upload", "query", "download"):
        registry.register_service("third", name, uri=f"/v1/{name}")
    registry.register_server("third", host="10.0.0.9", port=9090)
    assert {registry.resolve("third", n).url for n in ("upload", "query", "download")} == {
        "http://10.0.0.9:9090/v1/upload",
        "http://10.0.0.9:9090/v1/query",
        "http://10.0.0.9:9090/v1/download",
    }


def test_reregistering_a_service_replaces_it(registry: Registry) -> None:
    registry.register_server("third", host="h", port=1)
    first = registry.register_service("third", "upload", uri="/a", headers={"a": "1"})
    second = registry.register_service("third", "upload", uri="/b", method="PUT")
    assert [s.uri for s in registry.services()] == ["/b"]
    assert (second.method, second.headers) == ("PUT", {})
    assert second.created_at == first.created_at


CREATED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
UPDATED = CREATED + timedelta(seconds=1)  # the store keeps whole seconds


def store_clock(monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    """Set the time the store writes: upserts a second apart without waiting one."""
    monkeypatch.setattr(registrations, "_now", lambda: now)


def test_an_upsert_keeps_created_at_and_moves_updated_at(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_clock(monkeypatch, CREATED)
    registry.register_server("third", host="h", port=1)
    registry.register_service("third", "upload", uri="/a")
    store_clock(monkeypatch, UPDATED)
    server = registry.register_server("third", host="h2", port=2)
    service = registry.register_service("third", "upload", uri="/b")

    assert (server.created_at, server.updated_at) == (CREATED, UPDATED)
    assert (service.created_at, service.updated_at) == (CREATED, UPDATED)
    stored = registry.server("third"), registry.services("third")[0]
    assert [(row.created_at, row.updated_at) for row in stored] == [(CREATED, UPDATED)] * 2


def test_register_many_keeps_created_at_and_moves_updated_at(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ServerRegistration(name="third", host="h", port=1)
    service = ServiceRegistration(server_name="third", service_name="upload", uri="/u")
    store_clock(monkeypatch, CREATED)
    registry.register_many([server], [service])
    store_clock(monkeypatch, UPDATED)
    registry.register_many([server], [service])

    stored = registry.server("third"), registry.services("third")[0]
    assert [(row.created_at, row.updated_at) for row in stored] == [(CREATED, UPDATED)] * 2


def test_service_on_unknown_server_is_refused(registry: Registry) -> None:
    with pytest.raises(ServerNotFound, match="'NOPE' is not registered"):
        registry.register_service("nope", "upload", uri="/u")
    assert registry.services() == []


def test_unknown_lookups_raise_typed_errors(registry: Registry) -> None:
    with pytest.raises(ServerNotFound):
        registry.server("nope")
    with pytest.raises(ServerNotFound):
        registry.resolve("nope", "upload")
    registry.register_server("third", host="h", port=1)
    with pytest.raises(ServiceNotFound, match="'upload' is not registered on server 'THIRD'"):
        registry.resolve("third", "upload")
    with pytest.raises(ServiceNotFound):
        registry.delete_service("third", "upload")
    with pytest.raises(ServerNotFound):
        registry.services("nope")


def test_services_can_be_listed_per_server(registry: Registry) -> None:
    registry.register_server("a", host="h", port=1)
    registry.register_server("b", host="h", port=2)
    registry.register_service("a", "upload", uri="/u")
    registry.register_service("b", "query", uri="/q")
    assert [s.service_name for s in registry.services("b")] == ["query"]
    assert [(s.server_name, s.service_name) for s in registry.services()] == [
        ("A", "upload"),
        ("B", "query"),
    ]


def test_delete_server_with_services_needs_cascade(registry: Registry) -> None:
    registry.register_server("third", host="h", port=1)
    registry.register_service("third", "upload", uri="/u")
    with pytest.raises(Conflict, match="still has 1 service"):
        registry.delete_server("third")
    assert len(registry.services()) == 1
    assert registry.delete_server("third", cascade=True) == 1
    assert registry.servers() == [] and registry.services() == []


def test_delete_service_then_server(registry: Registry) -> None:
    registry.register_server("third", host="h", port=1)
    registry.register_service("third", "upload", uri="/u")
    registry.delete_service("THIRD", "UPLOAD")
    assert registry.delete_server("third") == 0
    with pytest.raises(ServerNotFound):
        registry.delete_server("third")


def test_every_write_bumps_the_revision_and_reads_do_not(registry: Registry) -> None:
    start = registry.revision
    registry.register_server("third", host="h", port=1)
    registry.register_service("third", "upload", uri="/u")
    registry.resolve("third", "upload")
    registry.servers()
    registry.delete_service("third", "upload")
    assert registry.revision == start + 3


def test_announce_change_bumps_the_revision_and_this_node_sees_it(registry: Registry) -> None:
    """What a plugin with a table of its own calls after writing it (fate-registry-casbin)."""
    registry.register_server("third", host="h", port=1)
    registry.register_service("third", "upload", uri="/u")
    registry.resolve("third", "upload")
    start = registry.revision
    registry.announce_change()
    assert registry.revision == registry.known_revision() == start + 1


def test_failed_write_leaves_revision_alone(registry: Registry) -> None:
    registry.register_server("third", host="h", port=1)
    registry.register_service("third", "upload", uri="/u")
    start = registry.revision
    with pytest.raises(Conflict):
        registry.delete_server("third")
    assert registry.revision == start


def test_tls_paths_are_kept_but_not_shown(registry: Registry) -> None:
    server = registry.register_server(
        "third", host="h", port=1, protocol="https", ca_bundle="/etc/ca.pem"
    )
    registry.register_service("third", "upload", uri="/u")
    assert server.tls_ca_bundle_set and not server.tls_client_cert_set
    assert "/etc/ca.pem" not in server.model_dump_json()
    assert registry.resolve("third", "upload").ca_bundle == "/etc/ca.pem"


def test_second_registry_on_same_database_sees_writes(db_url: str, registry: Registry) -> None:
    registry.register_server("third", host="h", port=1)
    with Registry(db_url) as other:
        assert [s.name for s in other.servers()] == ["THIRD"]


def test_register_many_refuses_duplicates_and_writes_nothing(registry: Registry) -> None:
    server = ServerRegistration(name="third", host="h", port=1)
    service = ServiceRegistration(server_name="third", service_name="upload", uri="/u")
    before = registry.revision
    with pytest.raises(InvalidRegistration, match="services: given more than once: THIRD/upload"):
        registry.register_many([server], [service, service])
    with pytest.raises(InvalidRegistration, match="servers: given more than once: THIRD"):
        registry.register_many([server, server], [])
    assert registry.revision == before and registry.servers() == []


def test_timestamps_are_utc_whatever_the_database_time_zone(db_url: str) -> None:
    url = db_url
    if url.startswith("postgresql"):  # a server whose sessions run in another time zone
        url += "?options=-c%20timezone%3DAsia/Shanghai"
    with Registry(url) as registry:
        before = datetime.now(UTC).replace(microsecond=0)
        created = registry.register_server("third", host="h", port=1).created_at
        after = datetime.now(UTC)
        assert before <= created <= after
        assert before <= registry.server("third").created_at <= after
