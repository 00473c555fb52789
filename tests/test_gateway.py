"""The hook gateway: FATE Flow 1.11's HTTP hooks, pointed at our server, get what they read."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from callback_service import callback_app, free_port, serve
from fastapi import FastAPI
from http_support import BASE_URL, http_dispatcher

from fate_registry import Registry, Settings, hookimpl
from fate_registry.capabilities import ClientAuthenticationRequest, Decision
from fate_registry.http import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# Bodies exactly as FATE Flow 1.11's http hooks build them (fate_flow/hook/api/*.py).
FATE_REQUESTS: dict[str, dict[str, Any]] = {
    "client_authentication": {
        "full_path": "/v1/job/submit?",
        "headers": {
            "Content-Type": "application/json",
            "TIMESTAMP": "1700000000000",
            "NONCE": "c1b2",
            "APP_KEY": "app",
            "SIGNATURE": "c2ln",
        },
        "form": {},
        "data": "",
        "json": {"dsl": {}, "runtime_conf": {}},
    },
    "signature": {"party_id": "9999", "body": {"job_id": "202401010000", "role": "guest"}},
    "site_authentication": {
        "src_party_id": "10000",
        "site_signature": "sig-10000",
        "body": {"job_id": "202401010000", "role": "host"},
    },
    "permission": {
        "src_role": None,  # FATE Flow 1.11 reads the misspelt header scr_role: always null
        "src_party_id": "9999",
        "role": "host",
        "party_id": "10000",
        "initiator": {"role": "guest", "party_id": 9999},
        "roles": {"guest": [9999], "host": [10000]},
        "component_list": ["reader", "heterolr"],  # modules, lower-cased
        "dataset_list": [{"namespace": "experiment", "name": "breast_hetero_host"}],
        "run_time_conf": {"job_parameters": {}},
        "dsl": {"components": {}},
        "component_parameters": {"role": {}},
    },
}
TOKEN = {"Authorization": "Bearer gateway-test-token"}


@pytest.fixture(scope="module")
def callback() -> FastAPI:
    return callback_app()


@pytest.fixture(scope="module")
def provider(callback: FastAPI) -> Iterator[tuple[str, int]]:
    with serve(callback) as address:
        yield address


def gateway_app(registry: Registry, settings: Settings) -> FastAPI:
    app = create_app(registry, settings)
    registry.__dict__["hooks"] = http_dispatcher(registry, settings.hooks)
    return app


@pytest.fixture
def make_client(sqlite_url: str, provider: tuple[str, int]) -> Iterator[Any]:
    registries: list[Registry] = []

    def make(**settings: Any) -> tuple[TestClient, Registry]:
        registry = Registry(sqlite_url, cache_ttl=0)
        registries.append(registry)
        registry.register_server("HOOK", *provider)
        app = gateway_app(registry, Settings(db_url=sqlite_url, **settings))
        return TestClient(app, base_url=BASE_URL, raise_server_exceptions=False), registry

    yield make
    for registry in registries:
        registry.close()


@pytest.mark.parametrize(
    "capability", ["client_authentication", "site_authentication", "permission"]
)
@pytest.mark.parametrize(
    ("uri", "code", "msg"),
    [
        ("/allow", 0, "welcome"),
        ("/allow-message", 0, "welcome"),
        ("/deny", 109, "who are you"),
        ("/deny-message", 108, "not this component"),
    ],
)
def test_a_fate_flow_request_gets_what_fate_flow_reads(
    make_client: Any, capability: str, uri: str, code: int, msg: str
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", capability, uri)
    reply = client.post(f"/v1/hook/{capability}", json=FATE_REQUESTS[capability])
    assert reply.status_code == 200
    assert (reply.json()["code"], reply.json()["msg"]) == (code, msg)


@pytest.mark.parametrize("uri", ["/sign", "/sign-data"])
def test_signature_is_in_both_data_and_site_signature(make_client: Any, uri: str) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "signature", uri)
    body = client.post("/v1/hook/signature", json=FATE_REQUESTS["signature"]).json()
    assert (body["code"], body["data"], body["site_signature"]) == (0, "sig-9999", "sig-9999")


def test_a_failing_service_answers_a_deny_fate_flow_understands(make_client: Any) -> None:
    client, registry = make_client(hooks={"permission": {"timeout": 0.5}})
    registry.register_service("HOOK", "permission", "/sleep")
    body = client.post("/v1/hook/permission", json=FATE_REQUESTS["permission"]).json()
    assert (body["code"], body["failed_open"]) == (108, False)
    assert "failure policy denies" in body["msg"]


def test_extra_fields_from_newer_fate_flow_are_ignored(make_client: Any) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "client_authentication", "/allow")
    request = {**FATE_REQUESTS["client_authentication"], "path": "/v1/job/submit", "method": "POST"}
    assert client.post("/v1/hook/client_authentication", json=request).json()["code"] == 0


def test_a_malformed_request_is_a_200_with_code_101_naming_the_field(make_client: Any) -> None:
    client, _ = make_client()
    reply = client.post("/v1/hook/site_authentication", json={"site_signature": "s"})
    assert reply.status_code == 200  # FATE Flow reads a refusal's reason only from a 200
    body = reply.json()
    assert (body["code"], body["retcode"]) == (101, 101)  # FATE Flow's hook client reads code
    assert "src_party_id" in body["msg"] and body["msg"] == body["retmsg"]
    broken = client.post("/v1/hook/permission", content=b"{oops")
    assert (broken.status_code, broken.json()["code"]) == (200, 101)
    unknown = client.post("/v1/hook/nothing", json={})
    assert unknown.status_code == 200 and unknown.json()["code"] != 0


def test_the_gateway_is_protected_like_writes(make_client: Any) -> None:
    client, registry = make_client(admin_tokens=["gateway-test-token"])
    registry.register_service("HOOK", "permission", "/allow")
    refused = client.post("/v1/hook/permission", json=FATE_REQUESTS["permission"])
    assert (refused.status_code, refused.json()["code"]) == (200, 109)
    assert "Bearer" in refused.json()["msg"]
    reply = client.post("/v1/hook/permission", json=FATE_REQUESTS["permission"], headers=TOKEN)
    assert reply.json()["code"] == 0


def test_gateway_protection_can_follow_reads(make_client: Any) -> None:
    client, registry = make_client(
        admin_tokens=["gateway-test-token"], hooks={"gateway_protection": "read"}
    )
    registry.register_service("HOOK", "permission", "/allow")
    assert client.post("/v1/hook/permission", json=FATE_REQUESTS["permission"]).json()["code"] == 0


def test_writes_accept_the_client_authentication_chain(make_client: Any) -> None:
    client, registry = make_client(admin_tokens=["gateway-test-token"])
    register = {"host": "127.0.0.1", "port": 8888}
    registry.register_service("HOOK", "client_authentication", "/deny")
    assert client.post("/v1/server/fate/register", json=register).status_code == 401
    registry.register_service("HOOK", "client_authentication", "/allow")
    assert client.post("/v1/server/fate/register", json=register).json()["retcode"] == 0


def test_without_tokens_or_opt_in_the_chain_does_not_lock_writes(make_client: Any) -> None:
    client, _ = make_client()
    register = {"host": "127.0.0.1", "port": 8888}
    assert client.post("/v1/server/fate/register", json=register).json()["retcode"] == 0


def test_api_authentication_protects_writes_with_the_chain_alone(make_client: Any) -> None:
    client, registry = make_client(hooks={"api_authentication": True})
    register = {"host": "127.0.0.1", "port": 8888}
    assert client.post("/v1/server/fate/register", json=register).status_code == 401
    registry.register_service("HOOK", "client_authentication", "/allow")
    assert client.post("/v1/server/fate/register", json=register).json()["retcode"] == 0


REGISTER = {"host": "127.0.0.1", "port": 8888}
WRONG = {"Authorization": "Bearer not-the-gateway-test-token"}


@pytest.mark.parametrize("tokens", [["gateway-test-token"], []], ids=["tokens", "chain-alone"])
def test_a_chain_failing_open_does_not_admit_writes(make_client: Any, tokens: list[str]) -> None:
    client, registry = make_client(
        admin_tokens=tokens,
        hooks={
            "api_authentication": True,
            "client_authentication": {"failure_policy": "allow", "timeout": 0.5, "retries": 0},
        },
    )
    registry.register_server("HOOK", "127.0.0.1", free_port())  # the service is down
    registry.register_service("HOOK", "client_authentication", "/allow")
    for headers in (None, WRONG):
        reply = client.post("/v1/server/evil/register", json=REGISTER, headers=headers)
        assert (reply.status_code, reply.json()["retcode"]) == (401, 109)
    assert [server.name for server in registry.servers()] == ["HOOK"]


def test_a_default_allow_with_no_opinion_does_not_admit_writes(make_client: Any) -> None:
    client, registry = make_client(
        admin_tokens=["gateway-test-token"], hooks={"client_authentication": {"default": "allow"}}
    )  # no client_authentication service registered: the http plugin has no opinion
    for headers in (None, WRONG):
        reply = client.post("/v1/server/evil/register", json=REGISTER, headers=headers)
        assert reply.status_code == 401
    assert [server.name for server in registry.servers()] == ["HOOK"]


def test_the_chain_is_not_sent_the_authorization_header(
    make_client: Any, callback: FastAPI
) -> None:
    client, registry = make_client(admin_tokens=["gateway-test-token"])
    registry.register_service("HOOK", "client_authentication", "/allow")
    headers = {"Authorization": "Bearer gateway-test-tokem", "APP_KEY": "app"}  # a typo
    assert client.post("/v1/server/fate/register", json=REGISTER, headers=headers).is_success
    sent = callback.state.seen[-1]
    assert sent["path"] == "/allow"
    forwarded = json.loads(sent["body"])["headers"]
    assert forwarded["app_key"] == "app"
    assert not {"authorization", "Authorization"} & set(forwarded)
    assert "gateway-test-tokem" not in sent["body"].decode()


def test_the_gateway_does_not_run_the_client_authentication_chain(
    make_client: Any, callback: FastAPI
) -> None:
    client, registry = make_client(admin_tokens=["gateway-test-token"])
    registry.register_service("HOOK", "client_authentication", "/allow")
    registry.register_service("HOOK", "permission", "/allow")
    calls = len(callback.state.seen)
    reply = client.post("/v1/hook/permission", json=FATE_REQUESTS["permission"])
    assert (reply.status_code, reply.json()["code"]) == (200, 109)
    assert len(callback.state.seen) == calls  # neither the chain nor the permission service
    reply = client.post("/v1/hook/permission", json=FATE_REQUESTS["permission"], headers=TOKEN)
    assert reply.json()["code"] == 0
    assert [seen["path"] for seen in callback.state.seen[calls:]] == ["/allow"]


def test_metrics_are_served(make_client: Any) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "permission", "/allow")
    client.post("/v1/hook/permission", json=FATE_REQUESTS["permission"])
    reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    assert (
        'fate_registry_hook_calls_total{capability="permission",plugin="http",result="allow"}'
        in reply.text
    )


def test_the_gateway_is_in_the_openapi_document(make_client: Any) -> None:
    client, _ = make_client()
    paths = client.get("/openapi.json").json()["paths"]
    for capability in FATE_REQUESTS:
        assert f"/v1/hook/{capability}" in paths


# -- FATE Flow 1.11's quirks ------------------------------------------------------------------


def test_permission_with_src_role_null_is_decided_and_the_role_derived(
    make_client: Any, callback: FastAPI
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "permission", "/allow")
    reply = client.post("/v1/hook/permission", json=FATE_REQUESTS["permission"])
    assert (reply.status_code, reply.json()["code"]) == (200, 0)
    sent = json.loads(callback.state.seen[-1]["body"])
    assert (sent["src_role"], sent["src_role_derived"]) == ("guest", True)  # 9999 is only guest
    assert sent["component_list"] == ["reader", "heterolr"]


def test_permission_src_role_stays_unknown_when_the_party_has_several_roles(
    make_client: Any, callback: FastAPI
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "permission", "/deny-message")
    request = {
        **FATE_REQUESTS["permission"],
        "src_party_id": "10000",
        "roles": {"guest": [9999], "host": [10000], "arbiter": [10000]},
    }
    reply = client.post("/v1/hook/permission", json=request)
    assert (reply.status_code, reply.json()["code"]) == (200, 108)
    sent = json.loads(callback.state.seen[-1]["body"])
    assert (sent["src_role"], sent["src_role_derived"]) == (None, False)


def test_a_sent_src_role_is_kept_and_a_sent_derived_flag_ignored(
    make_client: Any, callback: FastAPI
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "permission", "/allow")
    request = {**FATE_REQUESTS["permission"], "src_role": "host", "src_role_derived": True}
    client.post("/v1/hook/permission", json=request)
    sent = json.loads(callback.state.seen[-1]["body"])
    assert (sent["src_role"], sent["src_role_derived"]) == ("host", False)


def test_site_authentication_without_a_signature_is_refused_with_109(
    make_client: Any, callback: FastAPI
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "site_authentication", "/allow")
    calls = len(callback.state.seen)
    request = {**FATE_REQUESTS["site_authentication"], "site_signature": None}
    reply = client.post("/v1/hook/site_authentication", json=request)
    assert reply.status_code == 200
    assert reply.json()["code"] == 109 and "site_signature is missing" in reply.json()["msg"]
    assert len(callback.state.seen) == calls  # no plugin was asked


@pytest.mark.parametrize("capability", ["signature", "site_authentication"])
def test_fields_fate_merges_from_its_stored_data_reach_the_service(
    make_client: Any, callback: FastAPI, capability: str
) -> None:
    client, registry = make_client()
    registry.register_service(
        "HOOK", capability, "/sign" if capability == "signature" else "/allow"
    )
    request = {"app_id": "fate-app", "region": {"zone": 3}, **FATE_REQUESTS[capability]}
    assert client.post(f"/v1/hook/{capability}", json=request).json()["code"] == 0
    sent = json.loads(callback.state.seen[-1]["body"])
    assert (sent["app_id"], sent["region"]) == ("fate-app", {"zone": 3})
    assert sent["body"] == FATE_REQUESTS[capability]["body"]


def test_client_authentication_headers_reach_the_service_lower_cased(
    make_client: Any, callback: FastAPI
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "client_authentication", "/allow")
    client.post("/v1/hook/client_authentication", json=FATE_REQUESTS["client_authentication"])
    headers = json.loads(callback.state.seen[-1]["body"])["headers"]
    assert headers == {
        "content-type": "application/json",
        "timestamp": "1700000000000",
        "nonce": "c1b2",
        "app_key": "app",
        "signature": "c2ln",
    }


class _NeedsAppKey:
    """A local plugin that reads FATE's HMAC header by FATE's spelling."""

    @hookimpl
    def client_authentication(self, request: ClientAuthenticationRequest) -> Decision:
        app_key = request.headers.get("APP_KEY")
        return Decision.allow() if app_key == "app" else Decision.deny(f"app key {app_key!r}")


@pytest.mark.parametrize("spelling", ["APP_KEY", "app_key", "App-Key"])
def test_plugins_read_headers_in_any_spelling_on_every_http_path(
    make_client: Any, spelling: str
) -> None:
    client, registry = make_client(hooks={"api_authentication": True})
    registry.hooks.plugins.register(_NeedsAppKey(), "needs_app_key")
    request = {**FATE_REQUESTS["client_authentication"], "headers": {spelling: "app"}}
    assert client.post("/v1/hook/client_authentication", json=request).json()["code"] == 0
    write = client.post("/v1/server/fate/register", json=REGISTER, headers={spelling: "app"})
    assert write.json()["retcode"] == 0  # the registration API's own client authentication
