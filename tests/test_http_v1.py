"""Version 1 routes: FATE Flow 1.x paths, bodies and the {retcode, retmsg, data} envelope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_support import SPEC_SERVER, SPEC_SERVICE, client_for, register_spec_example, snapshot

from fate_registry import Registry
from fate_registry.http.schemas import ServiceBody, ServiceFields, ServiceKey


@pytest.fixture
def api(sqlite_url: str) -> Iterator[tuple[object, Registry]]:
    with client_for(sqlite_url) as pair:
        yield pair


@pytest.fixture
def backend_api(db_url: str) -> Iterator[tuple[object, Registry]]:
    with client_for(db_url) as pair:
        yield pair


@pytest.mark.db
def test_spec_example_registers_and_resolves_on_every_backend(backend_api):
    client, registry = backend_api
    register_spec_example(client)
    resolved = registry.resolve("fate_test", "upload")
    assert resolved.url == "http://127.0.0.1:8888/v1/data/upload"
    assert resolved.method == "POST"


def test_register_server_replies_with_the_stored_server_upper_cased(api):
    client, _ = api
    reply = client.post("/v1/server/fate_test/register", json=SPEC_SERVER)
    assert reply.status_code == 200
    body = reply.json()
    assert body["retcode"] == 0 and body["retmsg"] == "success"
    assert body["data"]["name"] == "FATE_TEST"
    assert body["data"]["port"] == 8888


def test_port_as_a_string_of_digits_is_accepted(api):
    client, registry = api
    reply = client.post("/v1/server/s/register", json={"host": "h.example", "port": "9000"})
    assert reply.json()["retcode"] == 0
    assert registry.server("S").port == 9000


def test_registering_again_moves_the_server_and_its_services(api):
    client, registry = api
    register_spec_example(client)
    client.post("/v1/server/FATE_TEST/register", json={"host": "10.1.2.3", "port": 80})
    assert registry.resolve("FATE_TEST", "upload").url == "http://10.1.2.3:80/v1/data/upload"


def test_service_registry_stores_params_data_and_headers(api):
    client, registry = api
    register_spec_example(client)
    body = {
        **SPEC_SERVICE,
        "service_name": "query",
        "uri": "/q",
        "method": "get",
        "params": {"a": "1"},
        "data": {"b": 2},
        "headers": {"X-Trace": "on"},
    }
    reply = client.post("/v1/service/registry", json=body)
    assert reply.json()["data"]["method"] == "GET"
    resolved = registry.resolve("fate_test", "query")
    assert (resolved.params, resolved.data, resolved.headers) == (
        {"a": "1"},
        {"b": 2},
        {"X-Trace": "on"},
    )


def test_legacy_body_registers_servers_and_services_in_one_go(api):
    client, registry = api
    body = {
        "HOOK": {
            "host": "10.0.0.5",
            "port": "8080",
            "api": {
                "permission": {"uri": "/permission", "method": "POST"},
                "signature": {"uri": "/sign", "data": {"party": "9999"}},
            },
        }
    }
    reply = client.post("/v1/service/registry", json=body)
    assert reply.json() == {
        "retcode": 0,
        "retmsg": "success",
        "data": {"servers": 1, "services": 2},
    }
    assert registry.resolve("hook", "signature").url == "http://10.0.0.5:8080/sign"


def test_a_framing_header_is_refused_naming_it_and_nothing_is_stored(api):
    client, registry = api
    register_spec_example(client)
    before = snapshot(registry)
    body = {**SPEC_SERVICE, "headers": {"Transfer-Encoding": "chunked"}}
    reply = client.post("/v1/service/registry", json=body)
    assert reply.status_code == 400
    assert reply.json()["retmsg"] == (
        "headers: header 'Transfer-Encoding' cannot be stored: HTTP sets it for each message or "
        "connection (framing, hop-by-hop)"
    )
    assert snapshot(registry) == before


@pytest.mark.db
def test_legacy_body_with_one_bad_service_stores_nothing(backend_api):
    client, registry = backend_api
    before = snapshot(registry)
    body = {
        "HOOK": {
            "host": "10.0.0.5",
            "port": 8080,
            "api": {
                "permission": {"uri": "/permission"},
                "signature": {"uri": "no-slash"},
            },
        }
    }
    reply = client.post("/v1/service/registry", json=body)
    assert reply.status_code == 400
    assert reply.json() == {
        "retcode": 101,
        "retmsg": "HOOK.api.signature.uri: must be a path starting with '/', without scheme "
        "or host",
    }
    assert snapshot(registry) == before


def test_get_server(api):
    client, _ = api
    register_spec_example(client)
    reply = client.post("/v1/server/fate_test/get")
    assert reply.json()["data"]["host"] == "127.0.0.1"


def test_get_all_servers_by_name(api):
    client, _ = api
    register_spec_example(client)
    client.post("/v1/server/other/register", json={"host": "h", "port": 1})
    data = client.post("/v1/server/get").json()["data"]
    assert sorted(data) == ["FATE_TEST", "OTHER"]


def test_get_all_with_no_server_leaves_data_out(api):
    client, _ = api
    assert client.post("/v1/server/get").json() == {"retcode": 0, "retmsg": "success"}


def test_service_query_on_one_server_and_on_all(api):
    client, _ = api
    register_spec_example(client)
    client.post("/v1/server/b/register", json={"host": "h", "port": 1})
    client.post("/v1/service/registry", json={**SPEC_SERVICE, "server_name": "b"})
    one = client.post("/v1/service/query", json={"service_name": "upload", "server_name": "b"})
    assert [s["server_name"] for s in one.json()["data"]["service_info"]] == ["B"]
    every = client.post("/v1/service/query", json={"service_name": "UPLOAD"})
    assert [s["server_name"] for s in every.json()["data"]["service_info"]] == ["B", "FATE_TEST"]


def test_service_query_of_an_unknown_service_is_404(api):
    client, _ = api
    reply = client.post("/v1/service/query", json={"service_name": "nope"})
    assert reply.status_code == 404
    assert reply.json() == {
        "retcode": 102,
        "retmsg": "service 'nope' is not registered on any server",
    }


def test_delete_service_then_server(api):
    client, registry = api
    register_spec_example(client)
    reply = client.post(
        "/v1/service/delete", json={"server_name": "fate_test", "service_name": "upload"}
    )
    assert reply.json() == {"retcode": 0, "retmsg": "success"}
    reply = client.post("/v1/server/fate_test/delete")
    assert reply.json()["data"] == {"services": 0}
    assert registry.servers() == []


def test_delete_server_with_services_needs_cascade(api):
    client, registry = api
    register_spec_example(client)
    before = snapshot(registry)
    refused = client.post("/v1/server/fate_test/delete", json={})
    assert refused.status_code == 409
    assert refused.json()["retcode"] == 103
    assert "still has 1 service(s)" in refused.json()["retmsg"]
    assert snapshot(registry) == before
    done = client.post("/v1/server/fate_test/delete", json={"cascade": True})
    assert done.json()["data"] == {"services": 1}
    assert registry.servers() == []


def test_a_service_body_is_its_names_then_the_fields_of_a_legacy_service(api):
    client, _ = api
    assert issubclass(ServiceBody, ServiceFields) and issubclass(ServiceBody, ServiceKey)
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    body, fields = schemas["ServiceBody"], schemas["ServiceFields"]
    assert list(body["properties"]) == ["server_name", "service_name", *fields["properties"]]
    assert body["required"] == ["server_name", "service_name", "uri"]
    assert body["additionalProperties"] is False


# -- FATE Flow 1.x's row keys and alias routes --------------------------------------------------


def test_service_rows_carry_fate_flow_columns_beside_ours(api):
    client, registry = api
    register_spec_example(client)
    body = {**SPEC_SERVICE, "service_name": "query", "uri": "/q", "data": {"b": 2}}
    registered = client.post("/v1/service/registry", json=body).json()["data"]
    rows = client.post("/v1/service/query", json={"service_name": "query"}).json()["data"]
    for row in (registered, rows["service_info"][0]):
        assert row["f_url"] == row["url"] == "http://127.0.0.1:8888/q"
        assert (row["f_server_name"], row["f_service_name"]) == ("FATE_TEST", "query")
        assert (row["f_method"], row["f_data"], row["f_params"]) == ("POST", {"b": 2}, {})
        stored = registry.service("fate_test", "query")
        assert row["f_create_time"] == int(stored.created_at.timestamp() * 1000)
        assert row["f_update_date"] == f"{stored.updated_at:%Y-%m-%d %H:%M:%S}"


def test_fate_flow_row_columns_are_masked_like_ours(api):
    client, _ = api
    register_spec_example(client)
    body = {**SPEC_SERVICE, "service_name": "q", "uri": "/q", "headers": {"X-Api-Key": "k1"}}
    row = client.post("/v1/service/registry", json=body).json()["data"]
    assert row["f_headers"] == row["headers"] != {"X-Api-Key": "k1"}


@pytest.mark.parametrize(
    ("alias", "path"),
    [
        ("/v1/server/service/fate_test/register", "/v1/server/fate_test/register"),
        ("/v1/server/service/fate_test/get", "/v1/server/fate_test/get"),
        ("/v1/server/service/get", "/v1/server/get"),
    ],
)
def test_fate_flow_alias_routes_answer_like_the_routes(api, alias, path):
    client, _ = api
    register_spec_example(client)
    body = SPEC_SERVER if path.endswith("register") else None
    by_alias = client.post(alias, json=body).json()
    direct = client.post(path, json=body).json()
    assert by_alias["retcode"] == 0
    drop = {"created_at", "updated_at"}
    if "host" in by_alias["data"]:
        assert {k: v for k, v in by_alias["data"].items() if k not in drop} == {
            k: v for k, v in direct["data"].items() if k not in drop
        }
    else:
        assert sorted(by_alias["data"]) == sorted(direct["data"]) == ["FATE_TEST"]
