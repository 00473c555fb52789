"""A registry whose hook service points back at itself: the first nested call is refused, with
"loop" in the answer, at once (no fan-out, no waiting for the timeout)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from callback_service import serve

import fate_registry_http
from fate_registry import Registry, Settings
from fate_registry.context import HOP_HEADER
from fate_registry.dispatch import Dispatcher
from fate_registry.http import create_app
from fate_registry.metrics import HookMetrics
from fate_registry.plugins import build_plugin_manager

PERMISSION = {
    "src_role": "guest",
    "src_party_id": "9999",
    "role": "host",
    "party_id": "10000",
    "initiator": {"role": "guest", "party_id": 9999},
    "roles": {"guest": [9999], "host": [10000]},
    "component_list": [],
    "dataset_list": [],
    "run_time_conf": {},
    "dsl": {},
    "component_parameters": {},
}
TIMEOUT = 5.0  # the default: what each nested call used to wait before the loop gave up
TOKEN = "loop-test-token-long-enough"


@pytest.fixture
def served(sqlite_url: str) -> Iterator[Any]:
    """``serve(**settings)``: the registry with the http plugin, over real HTTP on loopback,
    its HOOK server registered at its own address."""
    registries: list[Registry] = []

    def start(**settings: Any) -> Any:
        registry = Registry(sqlite_url, cache_ttl=0)
        registries.append(registry)
        full = Settings(db_url=sqlite_url, **settings)
        app = create_app(registry, full)
        pm = build_plugin_manager(load=set(), entry_points=[])
        pm.register(fate_registry_http, "http")
        registry.__dict__["hooks"] = Dispatcher(
            registry, settings=full.hooks, plugins=pm, metrics=HookMetrics()
        )
        return registry, serve(app)

    yield start
    for registry in registries:
        registry.close()


def hook_calls(caplog: pytest.LogCaptureFixture, path: str) -> int:
    return sum(f'"POST {path}"' in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("capability", ["permission", "site_authentication", "signature"])
def test_a_hook_service_pointing_at_its_own_gateway_is_a_loop_said_at_once(
    served: Any, caplog: pytest.LogCaptureFixture, capability: str
) -> None:
    caplog.set_level(logging.INFO, logger="fate_registry.access")
    registry, server = served(hooks={capability: {"timeout": TIMEOUT, "cache": False}})
    requests_ = {
        "permission": PERMISSION,
        "site_authentication": {"src_party_id": "1", "site_signature": "s", "body": {}},
        "signature": {"party_id": "1", "body": {}},
    }
    with server as (host, port):
        registry.register_server("HOOK", host, port)
        registry.register_service("HOOK", capability, f"/v1/hook/{capability}")
        started = time.monotonic()
        reply = requests.post(
            f"http://{host}:{port}/v1/hook/{capability}", json=requests_[capability], timeout=30
        )
        elapsed = time.monotonic() - started
    body = reply.json()
    assert reply.status_code == 200  # the gateway's rule: FATE Flow reads a reason from a 200
    assert body["code"] != 0
    assert "loop" in body["msg"]
    assert elapsed < TIMEOUT * 0.8, f"took {elapsed:.2f} s"  # not at the timeout's pace
    assert hook_calls(caplog, f"/v1/hook/{capability}") == 2  # FATE Flow's, and one nested


def test_a_client_authentication_service_pointing_at_the_registration_api_is_a_loop(
    served: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fate_registry.access")
    registry, server = served(
        admin_tokens=[TOKEN], hooks={"client_authentication": {"timeout": TIMEOUT}}
    )
    with server as (host, port):
        registry.register_server("HOOK", host, port)
        registry.register_service("HOOK", "client_authentication", "/v2/server/registry")
        started = time.monotonic()
        body = {"server_name": "third", "host": "10.0.0.5", "port": 80}
        reply = requests.post(f"http://{host}:{port}/v2/server/registry", json=body, timeout=30)
        elapsed = time.monotonic() - started
    assert reply.status_code == 401
    assert elapsed < TIMEOUT * 0.8, f"took {elapsed:.2f} s"
    assert hook_calls(caplog, "/v2/server/registry") == 2
    assert [server.name for server in registry.servers()] == ["HOOK"]


def test_a_request_carrying_the_hop_header_is_refused_naming_the_loop(served: Any) -> None:
    registry, server = served()
    with server as (host, port):
        registry.register_server("HOOK", host, port)
        registry.register_service("HOOK", "permission", "/nowhere")
        reply = requests.post(
            f"http://{host}:{port}/v1/hook/permission",
            json=PERMISSION,
            headers={HOP_HEADER: "3f9a1c-1"},
            timeout=30,
        )
        health = requests.get(f"http://{host}:{port}/healthz", headers={HOP_HEADER: "x"})
    body = reply.json()
    assert (reply.status_code, body["code"]) == (200, 101)
    assert body["msg"].startswith("loop: ")
    assert "3f9a1c-1" in body["msg"]  # the decision that sent it, to find in the other log
    assert health.status_code == 200
