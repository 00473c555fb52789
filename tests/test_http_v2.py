"""Version 2 routes: FATE Flow 2.x paths, bodies and the {code, message, data} envelope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_support import client_for, snapshot

from fate_registry import Registry

SERVER = {"server_name": "hook", "host": "10.0.0.7", "port": 9000, "protocol": "https"}
SERVICE = {"server_name": "hook", "service_name": "permission", "uri": "/check"}


@pytest.fixture
def api(sqlite_url: str) -> Iterator[tuple[object, Registry]]:
    with client_for(sqlite_url) as pair:
        yield pair


@pytest.fixture
def backend_api(db_url: str) -> Iterator[tuple[object, Registry]]:
    with client_for(db_url) as pair:
        yield pair


def _register(client) -> None:
    assert client.post("/v2/server/registry", json=SERVER).json()["code"] == 0
    assert client.post("/v2/server/service/registry", json=SERVICE).json()["code"] == 0


@pytest.mark.db
def test_register_server_and_service_resolves_on_every_backend(backend_api):
    client, registry = backend_api
    _register(client)
    resolved = registry.resolve("HOOK", "permission")
    assert resolved.url == "https://10.0.0.7:9000/check"


def test_register_server_replies_in_the_v2_envelope(api):
    client, _ = api
    body = client.post("/v2/server/registry", json=SERVER).json()
    assert body["code"] == 0 and body["message"] == "success"
    assert body["data"]["name"] == "HOOK"
    assert body["data"]["protocol"] == "https"


def test_query_server(api):
    client, _ = api
    _register(client)
    reply = client.get("/v2/server/query", params={"server_name": "hook"})
    assert reply.json()["data"]["host"] == "10.0.0.7"


def test_query_all(api):
    client, _ = api
    _register(client)
    body = client.get("/v2/server/query/all").json()
    assert list(body["data"]) == ["HOOK"]


def test_query_all_with_no_server_is_an_empty_object(api):
    client, _ = api
    assert client.get("/v2/server/query/all").json() == {
        "code": 0,
        "message": "success",
        "data": {},
    }


def test_query_service_shows_its_url_from_the_server_address_now(api):
    client, _ = api
    _register(client)
    client.post("/v2/server/registry", json={**SERVER, "host": "10.9.9.9"})
    reply = client.get(
        "/v2/server/service/query", params={"server_name": "HOOK", "service_name": "permission"}
    )
    assert reply.json()["data"]["url"] == "https://10.9.9.9:9000/check"


def test_query_unknown_service_is_404(api):
    client, _ = api
    _register(client)
    reply = client.get(
        "/v2/server/service/query", params={"server_name": "HOOK", "service_name": "upload"}
    )
    assert reply.status_code == 404
    assert reply.json() == {
        "code": 102,
        "message": "service 'upload' is not registered on server 'HOOK'",
        "data": None,
    }


def test_a_framing_header_is_refused_naming_it_and_nothing_is_stored(api):
    client, registry = api
    _register(client)
    before = snapshot(registry)
    body = {**SERVICE, "headers": {"X-Api-Key": "k", "content-length": "0"}}
    reply = client.post("/v2/server/service/registry", json=body)
    assert reply.status_code == 400
    assert reply.json()["message"] == (
        "headers: header 'content-length' cannot be stored: HTTP sets it for each message or "
        "connection (framing, hop-by-hop)"
    )
    assert snapshot(registry) == before


def test_delete_service(api):
    client, registry = api
    _register(client)
    reply = client.post(
        "/v2/server/service/delete", json={"server_name": "hook", "service_name": "permission"}
    )
    assert reply.json() == {"code": 0, "message": "success", "data": None}
    assert registry.services() == []


def test_delete_server_refused_while_it_has_services(api):
    client, registry = api
    _register(client)
    before = snapshot(registry)
    reply = client.post("/v2/server/delete", json={"server_name": "hook"})
    assert reply.status_code == 409
    assert reply.json()["code"] == 103
    assert snapshot(registry) == before


@pytest.mark.db
def test_delete_server_with_cascade(backend_api):
    client, registry = backend_api
    _register(client)
    reply = client.post("/v2/server/delete", json={"server_name": "hook", "cascade": True})
    assert reply.json()["data"] == {"services": 1}
    assert registry.servers() == []


def test_rows_carry_fate_flow_2_keys_beside_ours(api):
    client, registry = api
    _register(client)
    registered = client.post("/v2/server/registry", json=SERVER).json()["data"]
    queried = client.get("/v2/server/query", params={"server_name": "hook"}).json()["data"]
    every = client.get("/v2/server/query/all").json()["data"]["HOOK"]
    stored = registry.server("hook")
    for row in (registered, queried, every):
        assert (row["server_name"], row["host"], row["port"]) == ("HOOK", "10.0.0.7", 9000)
        assert row["update_time"] == int(stored.updated_at.timestamp() * 1000)
    params = {"server_name": "hook", "service_name": "permission"}
    service = client.get("/v2/server/service/query", params=params).json()["data"]
    assert (service["server_name"], service["service_name"]) == ("HOOK", "permission")
    assert service["url"] == "https://10.0.0.7:9000/check" and "create_time" in service
