"""contrib/fate-flow-hooks loaded as FATE Flow 1.11 loads it (a stand-in ``HookManager.init()``
importing the README's ``hook_module`` names), called as FATE Flow calls its hooks, against a
real `fate-registry serve` protected by an admin token and a real third-party service: client
authentication and permission jobs with datasets, which unmodified FATE Flow cannot send, work."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from callback_service import callback_app, free_port, serve
from fastapi import FastAPI
from serve_support import start_serve as serve_registry

CONTRIB_TESTS = Path(__file__).resolve().parents[1] / "contrib" / "fate-flow-hooks" / "tests"
sys.path.append(str(CONTRIB_TESTS))
from fate_flow_standin import fate_flow_process, readme_service_conf  # noqa: E402

TOKEN = "fate-flow-hooks-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HMAC_HEADERS = [
    ("Content-Type", "application/json"),
    ("TIMESTAMP", "1700000000000"),
    ("NONCE", "c1b2"),
    ("APP_KEY", "app"),
    ("SIGNATURE", "c2ln"),
]
PEER_HEADERS = [
    ("src_party_id", "9999"),
    ("src_role", "guest"),
    ("dest_party_id", "10000"),
    ("Content-Type", "application/json"),
]


@pytest.fixture(scope="module")
def third_party() -> Iterator[tuple[FastAPI, tuple[str, int]]]:
    app = callback_app()
    with serve(app) as address:
        yield app, address


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, third_party: tuple[FastAPI, tuple[str, int]]
) -> Iterator[str]:
    """`fate-registry serve` with an admin token; decision caches off; server HOOK registered."""
    db = tmp_path_factory.mktemp("fate-flow-hooks") / "registry.db"
    env = {
        "FATE_REGISTRY_LOAD_PLUGINS": "http",
        "FATE_REGISTRY_ADMIN_TOKENS": TOKEN,
        **{
            f"FATE_REGISTRY_HOOKS__{capability}__CACHE": "false"
            for capability in ("SIGNATURE", "SITE_AUTHENTICATION", "PERMISSION")
        },
    }
    with serve_registry(f"sqlite:///{db}", env=env) as base:
        host, port = third_party[1]
        reply = requests.post(
            f"{base}/v1/server/HOOK/register", json={"host": host, "port": port}, headers=AUTH
        )
        assert reply.json()["retcode"] == 0, reply.text
        yield base


@pytest.fixture
def provide(registry: str) -> Any:
    """``provide(capability, uri)``: the third party's service, registered in fate-registry."""

    def provide(capability: str, uri: str) -> None:
        body = {"server_name": "HOOK", "service_name": capability, "uri": uri}
        reply = requests.post(f"{registry}/v1/service/registry", json=body, headers=AUTH)
        assert reply.json()["retcode"] == 0, reply.text

    return provide


@pytest.fixture
def start_fate_flow(registry: str, tmp_path: Path) -> Iterator[Any]:
    """``start(**section)``: FATE Flow 1.11 with the README's service_conf.yaml lines, the
    registry's URL and token, and ``section`` over the ``fate_registry`` section."""
    with ExitStack() as stack:

        def start(**section: Any) -> Any:
            conf = copy.deepcopy(readme_service_conf())
            conf["party_id"] = 9999
            conf["fate_registry"].update({"url": registry, "token": TOKEN, **section})
            return stack.enter_context(fate_flow_process(conf, tmp_path / "fate"))

        yield start


def received(third_party: tuple[FastAPI, tuple[str, int]], path: str) -> dict[str, Any]:
    seen = [s for s in third_party[0].state.seen if s["path"] == path]
    assert seen, f"the third party got no request at {path}"
    body: dict[str, Any] = json.loads(seen[-1]["body"])
    return body


def normalised(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower().replace("-", "_"): value for name, value in headers.items()}


@pytest.mark.parametrize(
    ("uri", "decision"), [("/allow", (0, "welcome")), ("/deny", (109, "who are you"))]
)
def test_client_authentication_works_through_the_hooks(
    start_fate_flow: Any, provide: Any, third_party: Any, uri: str, decision: Any
) -> None:
    provide("client_authentication", uri)
    hooks = start_fate_flow()
    import flask
    from fate_flow.hook.common.parameters import ClientAuthenticationParameters

    body = b'{"job_id": "202401010000"}'
    with flask.request_context(path="/v1/job/stop", headers=HMAC_HEADERS, body=body):
        request = flask.request
        result = hooks.client_authentication(
            ClientAuthenticationParameters(
                request.full_path, request.headers, request.form, request.data, request.json
            )
        )
    assert (result.code, result.message) == decision
    sent = received(third_party, uri)
    assert (sent["full_path"], sent["data"], sent["json"]) == (
        "/v1/job/stop?",
        body.decode(),
        json.loads(body),
    )
    headers = normalised(sent["headers"])
    assert (headers["app_key"], headers["timestamp"], headers["signature"]) == (
        "app",
        "1700000000000",
        "c2ln",
    )


def permission_parameters(datasets: list[tuple[str, str]]) -> Any:
    """What FATE Flow's create_job_request_check builds, inside the peer's request."""
    import flask
    from fate_flow.entity import DataSet
    from fate_flow.hook.common.parameters import PermissionCheckParameters

    return PermissionCheckParameters(
        src_role=flask.request.headers.get("scr_role"),  # sic: FATE Flow's header name
        src_party_id=flask.request.headers.get("src_party_id"),
        role="host",
        party_id="10000",
        initiator={"role": "guest", "party_id": 9999},
        roles={"guest": [9999], "host": [10000]},
        component_list=["reader", "heterolr"],
        dataset_list=[DataSet(namespace, name) for namespace, name in datasets],
        runtime_conf={"initiator": {"role": "guest", "party_id": 9999}},
        dsl={"components": {"reader_0": {"module": "Reader"}}},
        component_parameters={"role": {}},
    )


@pytest.mark.parametrize(
    ("uri", "code"), [("/allow", 0), ("/deny-message", 108)], ids=["allow", "deny"]
)
def test_a_permission_job_with_datasets_works_through_the_hooks(
    start_fate_flow: Any, provide: Any, third_party: Any, uri: str, code: int
) -> None:
    provide("permission", uri)
    hooks = start_fate_flow()
    import flask

    with flask.request_context(path="/v1/party/j/host/10000/create", headers=PEER_HEADERS):
        result = hooks.permission_check(permission_parameters([("experiment", "h")]))
    assert result.code == code
    if code:
        assert result.message == "not this component"
    sent = received(third_party, uri)
    assert (sent["src_role"], sent["src_role_derived"]) == ("guest", False)  # as the peer sent
    assert sent["dataset_list"] == [{"namespace": "experiment", "name": "h"}]
    assert sent["component_list"] == ["reader", "heterolr"]


def test_signature_and_site_authentication_work_through_the_hooks(
    start_fate_flow: Any, provide: Any, third_party: Any
) -> None:
    provide("signature", "/sign")
    provide("site_authentication", "/allow")
    hooks = start_fate_flow()
    from fate_flow.hook.common.parameters import AuthenticationParameters, SignatureParameters

    body = {"job_id": "202401010000"}
    assert hooks.site_signature(SignatureParameters(9999, body)).site_signature == "sig-9999"
    allowed = hooks.site_authentication(AuthenticationParameters("9999", "sig-9999", body))
    assert allowed.code == 0
    assert received(third_party, "/allow") == {
        "src_party_id": "9999",
        "site_signature": "sig-9999",
        "body": body,
    }
    unsigned = hooks.site_authentication(AuthenticationParameters("9999", None, body))
    assert unsigned.code == 109


def test_without_the_token_the_protected_registry_refuses(
    start_fate_flow: Any, provide: Any
) -> None:
    provide("permission", "/allow")
    hooks = start_fate_flow(token="")
    import flask

    with flask.request_context(headers=PEER_HEADERS):
        result = hooks.permission_check(permission_parameters([]))
    assert result.code == 109
    assert "Bearer" in result.message  # the gateway says what to send


def test_a_registry_that_is_down_is_a_refusal_not_an_allow(start_fate_flow: Any) -> None:
    hooks = start_fate_flow(url=f"http://127.0.0.1:{free_port()}")
    import flask

    with flask.request_context(headers=PEER_HEADERS):
        result = hooks.permission_check(permission_parameters([]))
    assert (result.code, result.message) == (
        105,
        "fate-registry could not be reached for permission (ConnectionError); refused",
    )
