"""Bad input never gives a 5xx: each class has its status, code and message, and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_support import SPEC_SERVICE, client_for, register_spec_example, snapshot

from fate_registry import Registry
from fate_registry.models import MAX_JSON_DEPTH

BIG = b'{"host": "' + b"a" * (1024 * 1024) + b'", "port": 1}'


@pytest.fixture
def api(sqlite_url: str) -> Iterator[tuple[object, Registry]]:
    with client_for(sqlite_url) as (client, registry):
        register_spec_example(client)
        yield client, registry


def _call(client, method: str, path: str, **kwargs):
    return client.request(method, path, **kwargs)


# (method, path, request kwargs, HTTP status, code, message)
# fmt: off
CASES = {
    "v1 missing field": (
        "POST", "/v1/server/a/register", {"json": {"host": "h"}},
        400, 101, "port: is required",
    ),
    "v1 port out of range": (
        "POST", "/v1/server/a/register", {"json": {"host": "h", "port": 70000}},
        400, 101, "port: must be from 1 to 65535, got 70000",
    ),
    "v1 host with a scheme": (
        "POST", "/v1/server/a/register", {"json": {"host": "http://h", "port": 80}},
        400, 101, "host: must be a hostname, IPv4 or IPv6 address, without scheme, path or port",
    ),
    "v1 unknown field": (
        "POST", "/v1/server/a/register", {"json": {"host": "h", "port": 1, "pwd": "x"}},
        400, 101, "pwd: is not a known field",
    ),
    "v1 bad server name in path": (
        "POST", "/v1/server/a%20b/register", {"json": {"host": "h", "port": 1}},
        400, 101, "server_name: must be 1 to 64 characters of letters, digits, '_', '.' or '-'",
    ),
    "v1 bad method of a service": (
        "POST", "/v1/service/registry",
        {"json": {"server_name": "fate_test", "service_name": "s", "uri": "/", "method": "FETCH"}},
        400, 101, "method: must be one of GET, POST, PUT, PATCH, DELETE",
    ),
    "v1 body not an object": (
        "POST", "/v1/service/query", {"json": ["upload"]},
        400, 101, "body: Input should be a valid dictionary or object to extract fields from",
    ),
    "v2 missing query parameter": (
        "GET", "/v2/server/query", {},
        400, 101, "server_name: is required",
    ),
    "v2 bad header value": (
        "POST", "/v2/server/service/registry",
        {"json": {"server_name": "fate_test", "service_name": "s", "uri": "/x",
                  "headers": {"X-N": 1}}},
        400, 101, "headers: header 'X-N' must have a string value",
    ),
    "v2 header value that cannot be sent": (
        "POST", "/v2/server/service/registry",
        {"json": {"server_name": "fate_test", "service_name": "s", "uri": "/x",
                  "headers": {"X-Api-Key": " k"}}},
        400, 101,
        "headers: header 'X-Api-Key' must not start or end with a space or tab (HTTP drops them)",
    ),
    "v1 legacy header value that cannot be sent": (
        "POST", "/v1/service/registry",
        {"json": {"HOOK": {"host": "10.0.0.5", "port": 80,
                           "api": {"permission": {"uri": "/p", "headers": {"X-Sig": "\u2028"}}}}}},
        400, 101,
        "HOOK.api.permission.headers: header 'X-Sig' holds U+2028, which cannot be sent: a header"
        " value is printable ASCII (percent-encode or base64 other text)",
    ),
    "v1 unknown server": (
        "POST", "/v1/server/nope/get", {},
        404, 102, "server 'NOPE' is not registered",
    ),
    "v1 service on an unknown server": (
        "POST", "/v1/service/registry",
        {"json": {"server_name": "nope", "service_name": "upload", "uri": "/u"}},
        404, 102, "server 'NOPE' is not registered",
    ),
    "v2 unknown server": (
        "GET", "/v2/server/query", {"params": {"server_name": "nope"}},
        404, 102, "server 'NOPE' is not registered",
    ),
    "v1 unknown service": (
        "POST", "/v1/service/delete", {"json": {"server_name": "fate_test", "service_name": "x"}},
        404, 102, "service 'x' is not registered on server 'FATE_TEST'",
    ),
    "v2 unknown service": (
        "POST", "/v2/server/service/delete",
        {"json": {"server_name": "fate_test", "service_name": "x"}},
        404, 102, "service 'x' is not registered on server 'FATE_TEST'",
    ),
    "v1 malformed JSON": (
        "POST", "/v1/server/a/register",
        {"content": b'{"host": "h",', "headers": {"Content-Type": "application/json"}},
        400, 101, "body: is not valid JSON (Expecting property name enclosed in double quotes)",
    ),
    "v2 malformed JSON": (
        "POST", "/v2/server/registry",
        {"content": b"{'a': 1}", "headers": {"Content-Type": "application/json"}},
        400, 101, "body: is not valid JSON (Expecting property name enclosed in double quotes)",
    ),
    "v2 NaN, not JSON": (
        "POST", "/v2/server/service/registry",
        {"content": b'{"server_name": "fate_test", "service_name": "s", "uri": "/x", '
                    b'"data": {"x": NaN}}', "headers": {"Content-Type": "application/json"}},
        400, 101, "body: is not valid JSON (NaN is not a JSON value)",
    ),
    "v2 number out of range": (
        "POST", "/v2/server/service/registry",
        {"content": b'{"server_name": "fate_test", "service_name": "s", "uri": "/x", '
                    b'"params": {"x": 1e999}}', "headers": {"Content-Type": "application/json"}},
        400, 101, "body: is not valid JSON (number 1e999 is out of range)",
    ),
    "v1 unpaired surrogate": (
        "POST", "/v1/service/registry",
        {"content": b'{"server_name": "fate_test", "service_name": "s", "uri": "/x", '
                    b'"headers": {"x": "\\udc00"}}',
         "headers": {"Content-Type": "application/json"}},
        400, 101, "body: is not valid JSON (a string holds an unpaired surrogate (\\ud800 to "
                  "\\udfff))",
    ),
    "v1 nested too deep": (
        "POST", "/v1/service/query",
        {"content": b"[" * 5000 + b"]" * 5000, "headers": {"Content-Type": "application/json"}},
        400, 101, "body: is not valid JSON (nested deeper than 64 levels)",
    ),
    "v1 NUL in a uri": (
        "POST", "/v1/service/registry",
        {"json": {"server_name": "fate_test", "service_name": "s", "uri": "/a\x00b"}},
        400, 101, "uri: must be printable ASCII (percent-encode other characters)",
    ),
    "v1 form body": (
        "POST", "/v1/server/a/register", {"data": {"host": "h", "port": "1"}},
        400, 101, "body: must be a JSON object sent with Content-Type: application/json",
    ),
    "v1 body over 1 MiB by Content-Length": (
        "POST", "/v1/server/a/register",
        {"content": BIG, "headers": {"Content-Type": "application/json"}},
        413, 101, "request body is larger than the limit of 1 MiB",
    ),
    "v2 body over 1 MiB, streamed without Content-Length": (
        "POST", "/v2/server/registry",
        {"content": iter([BIG[:1000], BIG[1000:]]),
         "headers": {"Content-Type": "application/json"}},
        413, 101, "request body is larger than the limit of 1 MiB",
    ),
    "v1 wrong method": (
        "GET", "/v1/server/a/register", {},
        405, 101, "method GET is not allowed on '/v1/server/a/register'",
    ),
    "v2 wrong method": (
        "DELETE", "/v2/server/query", {},
        405, 101, "method DELETE is not allowed on '/v2/server/query'",
    ),
    "unknown route": (
        "POST", "/v2/server/nothing", {},
        404, 102, "no route '/v2/server/nothing': see /docs for the routes",
    ),
}
# fmt: on


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_with_its_code_and_stores_nothing(api, case):
    client, registry = api
    method, path, kwargs, status, code, message = case
    before = snapshot(registry)
    reply = _call(client, method, path, **kwargs)
    assert reply.status_code == status, reply.text
    body = reply.json()
    if path.startswith("/v1/"):
        assert body == {"retcode": code, "retmsg": message}
    else:
        assert body == {"code": code, "message": message, "data": None}
    assert snapshot(registry) == before


def test_wrong_method_names_the_allowed_one(api):
    client, _ = api
    reply = client.get("/v1/service/registry")
    assert reply.headers["allow"] == "POST"


def test_several_problems_are_all_named(api):
    client, _ = api
    reply = client.post("/v2/server/registry", json={"server_name": "a b", "port": "x"})
    assert reply.json()["message"] == (
        "server_name: must be 1 to 64 characters of letters, digits, '_', '.' or '-'; "
        "host: is required; port: must be an integer from 1 to 65535"
    )


def test_a_bug_is_500_and_its_reply_tells_nothing_of_the_cause(api, monkeypatch):
    client, registry = api

    def broken() -> None:
        raise RuntimeError("postgresql://admin:hunter2@db/registry")

    monkeypatch.setattr(registry, "servers", broken)
    reply = client.post("/v1/server/get")
    assert reply.status_code == 500
    assert reply.json() == {"retcode": 100, "retmsg": "internal error: see the server log"}
    assert "hunter2" not in reply.text


@pytest.fixture
def backend_api(db_url: str) -> Iterator[tuple[object, Registry]]:
    with client_for(db_url) as (client, registry):
        register_spec_example(client)
        yield client, registry


BACKEND_TRAPS = {
    "one server twice in the legacy body": {
        "json": {"hook": {"host": "h", "port": 1}, "HOOK": {"host": "h", "port": 2}}
    },
    "NUL in a uri": {"json": {**SPEC_SERVICE, "uri": "/a\x00b"}},
    "NaN in data": {
        "content": b'{"server_name": "fate_test", "service_name": "s", "uri": "/x", '
        b'"data": {"x": NaN}}',
        "headers": {"Content-Type": "application/json"},
    },
    "unpaired surrogate in a key": {
        "content": b'{"server_name": "fate_test", "service_name": "s", "uri": "/x", '
        b'"data": {"\\ud800": 1}}',
        "headers": {"Content-Type": "application/json"},
    },
}


@pytest.mark.db
@pytest.mark.parametrize("kwargs", BACKEND_TRAPS.values(), ids=BACKEND_TRAPS.keys())
def test_what_a_backend_cannot_store_is_400_on_every_backend(backend_api, kwargs):
    client, registry = backend_api
    before = snapshot(registry)
    reply = client.post("/v1/service/registry", **kwargs)
    assert reply.status_code == 400
    assert reply.json()["retcode"] == 101
    assert snapshot(registry) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/server/fate/register", {"host": "10.0.0.1", "port": 80, "name": "x"}),
        ("/v2/server/registry", {"server_name": "a", "host": "10.0.0.1", "port": 80, "name": "x"}),
    ],
)
def test_an_unknown_field_is_named_as_sent(api, path, body):
    client, registry = api
    before = registry.servers()
    reply = client.post(path, json=body)
    assert reply.status_code == 400
    message = reply.json().get("retmsg") or reply.json()["message"]
    assert message == "name: is not a known field"
    assert registry.servers() == before


def _nested(levels: int) -> dict[str, object]:
    inner: object = 1
    for _ in range(levels - 1):
        inner = {"a": inner}
    return {"a": inner}


@pytest.mark.db
def test_json_nested_past_the_limit_is_400_before_anything_is_written(backend_api):
    client, registry = backend_api
    at_limit = {**SPEC_SERVICE, "service_name": "deep", "data": _nested(MAX_JSON_DEPTH)}
    assert client.post("/v2/server/service/registry", json=at_limit).status_code == 200
    before = snapshot(registry)
    for path, key in (
        ("/v1/service/registry", "retmsg"),
        ("/v2/server/service/registry", "message"),
    ):
        past = {**at_limit, "params": _nested(MAX_JSON_DEPTH + 1)}
        reply = client.post(path, json=past)
        assert reply.status_code == 400
        assert reply.json()[key] == f"params: nested deeper than {MAX_JSON_DEPTH} levels"
    legacy = {
        "DEEP": {
            "host": "10.0.0.9",
            "port": 1,
            "api": {"s": {"uri": "/s", "data": _nested(MAX_JSON_DEPTH + 1)}},
        }
    }
    reply = client.post("/v1/service/registry", json=legacy)
    assert reply.status_code == 400
    assert reply.json()["retmsg"] == f"DEEP.api.s.data: nested deeper than {MAX_JSON_DEPTH} levels"
    assert snapshot(registry) == before
