"""FATE Flow 1.11, unmodified, pointed at the hook gateway of a real `fate-registry serve`: its
hooks' requests, as its code sends them (``fate_flow_side``), get the right allow and deny from a
real third-party service, and the third party gets the fields FATE Flow merges in."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from callback_service import callback_app, serve
from fastapi import FastAPI
from fate_flow_side import (
    FateFlowError,
    FateFlowHooks,
    StoredService,
    api_reader_poll,
    permission_request,
)
from serve_support import start_serve as serve_registry

import fate_registry_http
from fate_registry import Registry
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import build_plugin_manager

# The stored `data` of FATE Flow's own registration of its hook services: FATE Flow merges it
# into signature and site_authentication requests.
FATE_STORED_DATA = {"app_id": "fate-app-9999"}
JOB = {
    "dsl": {
        "components": {
            "reader_0": {"module": "Reader"},
            "hetero_lr_0": {"module": "HeteroLR"},
        }
    },
    "runtime_conf": {
        "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
        "component_parameters": {
            "role": {
                "guest": {"0": {"reader_0": {"table": {"name": "g", "namespace": "experiment"}}}},
                "host": {"0": {"reader_0": {"table": {"name": "h", "namespace": "experiment"}}}},
            }
        },
    },
}
PEER_HEADERS = {"src_party_id": "9999", "src_role": "guest", "dest_party_id": "10000"}


@pytest.fixture(scope="module")
def third_party() -> Iterator[tuple[FastAPI, tuple[str, int]]]:
    app = callback_app()
    with serve(app) as address:
        yield app, address


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `fate-registry serve`, decision caches off so each test sees its own service."""
    db = tmp_path_factory.mktemp("fate-flow-side") / "registry.db"
    env = {
        "FATE_REGISTRY_LOAD_PLUGINS": "http",
        **{f"FATE_REGISTRY_HOOKS__{cap.upper()}__CACHE": "false" for cap in CAPABILITIES},
    }
    with serve_registry(f"sqlite:///{db}", env=env) as base:
        yield base


CAPABILITIES = ("client_authentication", "signature", "site_authentication", "permission")


@pytest.fixture
def provide(registry: str, third_party: tuple[FastAPI, tuple[str, int]]) -> Any:
    """``provide(capability, uri)``: the third party registers its service in fate-registry
    over the v1 API, as FATE's providers do (server HOOK, the name fate-registry calls)."""
    host, port = third_party[1]
    reply = requests.post(f"{registry}/v1/server/HOOK/register", json={"host": host, "port": port})
    assert reply.json()["retcode"] == 0, reply.text

    def provide(capability: str, uri: str) -> None:
        body = {"server_name": "HOOK", "service_name": capability, "uri": uri}
        reply = requests.post(f"{registry}/v1/service/registry", json=body)
        assert reply.json()["retcode"] == 0, reply.text

    return provide


@pytest.fixture
def fate_flow(registry: str) -> FateFlowHooks:
    """FATE Flow 1.11 whose own registry points its HOOK services at fate-registry's gateway."""
    services = {
        capability: StoredService(
            url=f"{registry}/v1/hook/{capability}",
            data=FATE_STORED_DATA if capability in ("signature", "site_authentication") else None,
        )
        for capability in CAPABILITIES
    }
    return FateFlowHooks(services, party_id=9999)


def received(third_party: tuple[FastAPI, tuple[str, int]], path: str) -> dict[str, Any]:
    """The JSON body of the last request the third party got at ``path``."""
    seen = [s for s in third_party[0].state.seen if s["path"] == path]
    assert seen, f"the third party got no request at {path}"
    body: dict[str, Any] = json.loads(seen[-1]["body"])
    return body


def calls(third_party: tuple[FastAPI, tuple[str, int]]) -> int:
    return len(third_party[0].state.seen)


# -- signature -------------------------------------------------------------------------------


@pytest.mark.parametrize("uri", ["/sign", "/sign-data"])
def test_signature_reaches_fate_flow_with_the_merged_fields_at_the_third_party(
    fate_flow: FateFlowHooks, provide: Any, third_party: Any, uri: str
) -> None:
    provide("signature", uri)
    body = {"job_id": "202401010000", "role": "guest"}
    assert fate_flow.signature(body) == "sig-9999"  # read from `data`, whichever the service set
    assert received(third_party, uri) == {**FATE_STORED_DATA, "party_id": "9999", "body": body}


def test_a_refused_signature_fails_fate_flows_request_with_the_reason(
    fate_flow: FateFlowHooks, provide: Any
) -> None:
    provide("signature", "/deny")
    with pytest.raises(FateFlowError, match="who are you"):
        fate_flow.signature({"job_id": "202401010000"})


# -- site authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "decision"), [("/allow", (0, "success")), ("/deny", (109, "who are you"))]
)
def test_site_authentication_allows_and_denies_and_the_third_party_gets_the_merged_fields(
    fate_flow: FateFlowHooks, provide: Any, third_party: Any, uri: str, decision: Any
) -> None:
    provide("site_authentication", uri)
    headers = {**PEER_HEADERS, "site_signature": "sig-9999"}
    body = {"job_id": "202401010000"}
    assert fate_flow.site_authentication(headers, body) == decision
    assert received(third_party, uri) == {
        **FATE_STORED_DATA,
        "src_party_id": "9999",
        "site_signature": "sig-9999",
        "body": body,
    }


def test_a_request_without_a_site_signature_is_refused_with_109_before_any_third_party(
    fate_flow: FateFlowHooks, provide: Any, third_party: Any
) -> None:
    provide("site_authentication", "/allow")
    before = calls(third_party)
    code, message = fate_flow.site_authentication(PEER_HEADERS, {"job_id": "202401010000"})
    assert code == 109
    assert "site_signature" in message
    assert calls(third_party) == before


# -- permission ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "decision"),
    [("/allow", (0, "success")), ("/deny-message", (108, "not this component"))],
)
def test_permission_with_src_role_null_allows_and_denies(
    fate_flow: FateFlowHooks, provide: Any, third_party: Any, uri: str, decision: Any
) -> None:
    provide("permission", uri)
    request = permission_request("arbiter", "10000", PEER_HEADERS, JOB)  # arbiter: no datasets
    assert request["src_role"] is None  # FATE Flow read the misspelt header
    assert fate_flow.permission(request) == decision
    sent = received(third_party, uri)
    # 9999 is the job's only guest: the role is derived, and the third party is told so
    assert (sent["src_role"], sent["src_role_derived"]) == ("guest", True)
    assert (sent["src_party_id"], sent["role"], sent["party_id"]) == ("9999", "arbiter", "10000")
    assert sent["component_list"] == ["reader", "heterolr"]
    assert sent["dataset_list"] == []


def test_a_source_party_in_two_roles_leaves_src_role_unknown(
    fate_flow: FateFlowHooks, provide: Any, third_party: Any
) -> None:
    provide("permission", "/allow")
    job = copy.deepcopy(JOB)
    job["runtime_conf"]["role"]["host"] = [9999]  # 9999 is guest and host
    request = permission_request("arbiter", "10000", PEER_HEADERS, job)
    assert fate_flow.permission(request) == (0, "success")
    sent = received(third_party, "/allow")
    assert (sent["src_role"], sent["src_role_derived"]) == (None, False)


def test_a_job_with_datasets_crashes_unmodified_fate_flow_before_it_sends(
    fate_flow: FateFlowHooks, provide: Any, third_party: Any
) -> None:
    """FATE Flow's defect, which contrib/fate-flow-hooks works around."""
    provide("permission", "/allow")
    request = permission_request("host", "10000", PEER_HEADERS, JOB)
    assert [(d.namespace, d.name) for d in request["dataset_list"]] == [("experiment", "h")]
    before = calls(third_party)
    with pytest.raises(TypeError, match="not JSON serializable"):
        fate_flow.permission(request)
    assert calls(third_party) == before


def test_a_request_the_gateway_cannot_read_is_a_refusal_fate_flow_can_show(
    fate_flow: FateFlowHooks, provide: Any
) -> None:
    """HTTP 200 with a code: any other status would be FATE Flow's generic exception."""
    provide("permission", "/allow")
    request = permission_request("arbiter", "10000", PEER_HEADERS, JOB)
    del request["src_party_id"]
    code, message = fate_flow.permission(request)
    assert code == 101
    assert "src_party_id" in message


# -- client authentication -------------------------------------------------------------------

HMAC_HEADERS = {
    "Content-Type": "application/json",
    "TIMESTAMP": "1700000000000",
    "NONCE": "c1b2",
    "APP_KEY": "app",
    "SIGNATURE": "c2ln",
}


def test_unmodified_fate_flow_cannot_send_a_client_authentication(
    fate_flow: FateFlowHooks, provide: Any, third_party: Any
) -> None:
    """It passes the raw body as bytes (and werkzeug's headers): FATE Flow's defect, which
    contrib/fate-flow-hooks works around."""
    provide("client_authentication", "/allow")
    before = calls(third_party)
    with pytest.raises(TypeError, match="not JSON serializable"):
        fate_flow.client_authentication("/v1/job/stop?", HMAC_HEADERS, {}, b"{}", {})
    assert calls(third_party) == before


@pytest.mark.parametrize(
    ("uri", "decision"), [("/allow", (0, "success")), ("/deny", (109, "who are you"))]
)
def test_client_authentication_in_json_allows_and_denies(
    fate_flow: FateFlowHooks, provide: Any, third_party: Any, uri: str, decision: Any
) -> None:
    """The same request with JSON values (what contrib/fate-flow-hooks sends)."""
    provide("client_authentication", uri)
    body = '{"job_id": "202401010000"}'
    path = "/v1/job/stop?"
    assert fate_flow.client_authentication(path, HMAC_HEADERS, {}, body, json.loads(body)) == (
        decision
    )
    sent = received(third_party, uri)
    assert (sent["full_path"], sent["data"], sent["json"]) == (path, body, json.loads(body))
    assert {k.lower(): v for k, v in sent["headers"].items()}["app_key"] == "app"


def test_a_body_the_gateway_cannot_read_is_http_200_with_code_101(registry: str) -> None:
    """FATE Flow reads any other status as a crash, and a reason only from a 200."""
    for capability in CAPABILITIES:
        for body in (b"{}", b"[]", b"{oops"):
            reply = requests.post(
                f"{registry}/v1/hook/{capability}",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            assert reply.status_code == 200, (capability, body, reply.text)
            assert reply.json()["code"] == 101, (capability, body, reply.text)


# -- ApiReader -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def feature_service() -> Iterator[tuple[str, int]]:
    """A feature service whose `query` answers the status named in its path."""
    app = FastAPI()

    @app.post("/query/{status}")
    def query(status: str) -> dict[str, Any]:
        return {"code": 0, "message": "ok", "data": {"status": status}}

    with serve(app) as address:
        yield address


@pytest.mark.parametrize(
    ("status", "reading"),
    [
        ("success", "success"),
        ("Success", "success"),
        ("SUCCESS", "success"),
        ("running", "running"),
        ("RUNNING", "running"),
        ("Running", "running"),
        ("failed", "failed"),
        ("timeout", "failed"),
    ],
)
def test_api_reader_reads_a_feature_services_status_as_fate_flow_does(
    feature_service: tuple[str, int], sqlite_url: str, status: str, reading: str
) -> None:
    host, port = feature_service
    try:
        fate_flow_reads = (
            "success"
            if api_reader_poll(StoredService(f"http://{host}:{port}/query/{status}"), "j")
            else "running"
        )
    except FateFlowError:
        fate_flow_reads = "failed"
    assert fate_flow_reads == reading

    plugins = build_plugin_manager(load=set(), entry_points=[])
    plugins.register(fate_registry_http, "http")
    with Registry(sqlite_url, cache_ttl=0) as registry:
        registry.register_server("HOOK", host, port)
        registry.register_service("HOOK", "query", f"/query/{status}")
        answer = Dispatcher(registry, plugins=plugins).query({"job_id": "j"})
    assert (answer.status, answer.raw_status) == (reading, status)
