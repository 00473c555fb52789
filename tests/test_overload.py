"""Floods against a hung service: health never waits, a capability past its limit refuses at
once, and the decision cache never outlives a change of the registrations."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from callback_service import callback_app, serve
from fastapi import FastAPI
from http_support import http_dispatcher
from serve_support import start_serve

from fate_registry import Registry, hookimpl
from fate_registry.capabilities import Decision, PermissionRequest
from fate_registry.dispatch import Dispatcher
from fate_registry.metrics import HookMetrics
from fate_registry.plugins import build_plugin_manager
from fate_registry.settings import HooksSettings
from fate_registry.workers import Workers, WorkersBusy

PERMISSION = {"src_role": "guest", "src_party_id": "9999", "component_list": ["reader"]}
TOKEN = "overload-test-token-0123456789"
FLOOD = 50  # more than the 40 threads a FastAPI server runs sync routes in


class Blocking:
    """A permission plugin that waits until released (a hung service, in-process)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    @hookimpl
    def permission(self, request: PermissionRequest) -> Decision:
        self.started.release()
        self.release.wait(30)
        return Decision.allow()


def blocking_dispatcher(plugin: Blocking, **permission: Any) -> Dispatcher:
    pm = build_plugin_manager(load=set(), entry_points=[])
    pm.register(plugin, "blocking")
    settings = HooksSettings(permission={"cache": False, "timeout": 10, **permission})
    return Dispatcher(settings=settings, plugins=pm, metrics=HookMetrics())


# -- the bound in flight ----------------------------------------------------------------------


def test_workers_refuse_a_call_past_max_in_flight_at_once() -> None:
    workers = Workers(1, max_in_flight=2)
    release = threading.Event()
    done = threading.Semaphore(0)
    for _ in range(2):  # one running, one queued behind it
        workers.submit(release.wait, (10,), notify=lambda task: done.release())
    with pytest.raises(WorkersBusy, match="2 calls already in flight"):
        workers.submit(int, ())
    release.set()
    assert done.acquire(timeout=10) and done.acquire(timeout=10)
    assert workers.in_flight == 0  # a slot is free before its caller hears back
    assert workers.call(int, ("7",), 5) == 7


def test_a_capability_past_max_in_flight_refuses_at_once_under_the_failure_policy() -> None:
    plugin = Blocking()
    d = blocking_dispatcher(plugin, max_in_flight=2)
    with ThreadPoolExecutor(2) as pool:
        busy = [pool.submit(d.permission, PERMISSION) for _ in range(2)]
        for _ in range(2):
            assert plugin.started.acquire(timeout=10)  # both running: the limit is reached
        started = time.monotonic()
        refused = d.permission(PERMISSION)
        assert time.monotonic() - started < 5  # not the 10 s the hung calls may take
        plugin.release.set()
        assert all(future.result().allowed for future in busy)
    assert (refused.allowed, refused.failed, refused.code) == (False, True, 108)
    assert "refused at once: 2 calls already in flight" in refused.message
    labels = {"capability": "permission", "plugin": "blocking", "result": "rejected"}
    assert d.metrics.value("fate_registry_hook_calls_total", **labels) == 1
    assert d.permission(PERMISSION).allowed  # room again
    d.close()


def test_an_awaited_decision_past_the_limit_is_refused_at_once_too() -> None:
    plugin = Blocking()
    d = blocking_dispatcher(plugin, max_in_flight=1, failure_policy="allow")

    async def flood() -> list[Any]:
        first = asyncio.ensure_future(d.decide_async("permission", PERMISSION))
        await asyncio.to_thread(plugin.started.acquire, True, 10)
        refused = await d.decide_async("permission", PERMISSION)
        plugin.release.set()
        return [await first, refused]

    first, refused = asyncio.run(flood())
    assert (first.allowed, first.failed) == (True, False)
    assert (refused.allowed, refused.failed_open) == (True, True)  # the policy said allow
    d.close()


# -- a real server under a flood ----------------------------------------------------------------


@pytest.fixture(scope="module")
def hung_service() -> Iterator[tuple[FastAPI, str, int]]:
    app = callback_app()
    with serve(app) as (host, port):
        yield app, host, port


def _healthz_while(flood: Any, base: str) -> list[float]:
    """Seconds each of a few /healthz calls took while ``flood`` runs in other threads."""
    timings = []
    with requests.Session() as session:
        for _ in range(5):
            started = time.monotonic()
            assert session.get(f"{base}/healthz", timeout=30).json()["status"] == "ok"
            timings.append(time.monotonic() - started)
    return timings


def _flood(base: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None):
    def one(_: int) -> requests.Response:
        return requests.post(f"{base}{path}", json=body, headers=headers, timeout=60)

    pool = ThreadPoolExecutor(FLOOD)
    return pool, [pool.submit(one, i) for i in range(FLOOD)]


def _wait_for_calls(app: FastAPI, path: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while app.state.calls[path] < count:
        assert time.monotonic() < deadline, f"{path} was called {app.state.calls[path]} times"
        time.sleep(0.02)


def test_health_answers_at_once_while_the_gateway_is_flooded_against_a_hung_service(
    sqlite_url: str, hung_service: tuple[FastAPI, str, int]
) -> None:
    app, host, port = hung_service
    with Registry(sqlite_url) as registry:
        registry.register_server("HOOK", host, port)
        registry.register_service("HOOK", "permission", "/sleep")  # answers after 10 s
    env = {"FATE_REGISTRY_HOOKS__PERMISSION__TIMEOUT": "5"}
    with start_serve(sqlite_url, env=env) as base:
        before = app.state.calls["/sleep"]
        pool, replies = _flood(base, "/v1/hook/permission", PERMISSION)
        _wait_for_calls(app, "/sleep", before + 1)  # the flood reached the hung service
        timings = _healthz_while(pool, base)
        codes = {future.result().json()["code"] for future in replies}
        pool.shutdown()
    # well under the 5 s the hung calls wait for their deadline, with slack for a loaded machine
    assert max(timings) < 2.5, timings
    assert codes == {108}


def test_health_answers_at_once_while_token_less_writes_flood_a_hung_authenticator(
    sqlite_url: str, hung_service: tuple[FastAPI, str, int]
) -> None:
    app, host, port = hung_service
    with Registry(sqlite_url) as registry:
        registry.register_server("HOOK", host, port)
        registry.register_service("HOOK", "client_authentication", "/sleep")
    env = {
        "FATE_REGISTRY_ADMIN_TOKENS": TOKEN,
        "FATE_REGISTRY_HOOKS__CLIENT_AUTHENTICATION__TIMEOUT": "5",
    }
    with start_serve(sqlite_url, env=env) as base:
        before = app.state.calls["/sleep"]
        pool, replies = _flood(base, "/v1/server/evil/register", {"host": "10.0.0.1", "port": 1})
        _wait_for_calls(app, "/sleep", before + 1)
        timings = _healthz_while(pool, base)
        statuses = {future.result().status_code for future in replies}
        pool.shutdown()
    assert max(timings) < 2.5, timings  # the hung calls wait 5 s
    assert statuses == {401}


def test_a_flooded_capability_at_its_limit_refuses_the_rest_at_once(
    sqlite_url: str, hung_service: tuple[FastAPI, str, int]
) -> None:
    _, host, port = hung_service
    with Registry(sqlite_url) as registry:
        registry.register_server("HOOK", host, port)
        registry.register_service("HOOK", "permission", "/sleep")
    env = {
        "FATE_REGISTRY_HOOKS__PERMISSION__TIMEOUT": "5",
        "FATE_REGISTRY_HOOKS__PERMISSION__MAX_IN_FLIGHT": "4",
    }
    with start_serve(sqlite_url, env=env) as base:
        started = time.monotonic()
        pool, replies = _flood(base, "/v1/hook/permission", PERMISSION)
        refused = [
            future.result()
            for future in replies
            if "refused at once" in future.result().json()["msg"]
        ]
        pool.shutdown()
    assert len(refused) >= FLOOD - 4 - 4  # at most 4 in flight, and a few the first ended
    assert all(reply.json()["code"] == 108 for reply in refused)
    assert time.monotonic() - started < 30


# -- the decision cache and the registrations it depends on -------------------------------------


@pytest.fixture(scope="module")
def callbacks() -> Iterator[tuple[str, int]]:
    with serve(callback_app()) as address:
        yield address


def long_ttl_dispatcher(registry: Registry) -> Dispatcher:
    return http_dispatcher(registry, HooksSettings(permission={"allow_ttl": 600, "deny_ttl": 600}))


def _decided_until(d: Dispatcher, allowed: bool, within: float = 10.0) -> float:
    """Seconds until a permission decision is ``allowed``; fails after ``within``."""
    started = time.monotonic()
    while d.permission(PERMISSION).allowed != allowed:
        assert time.monotonic() - started < within, "the cached decision outlived the change"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_cached_allow_is_dropped_when_this_node_re_registers_the_service(
    sqlite_url: str, callbacks: tuple[str, int]
) -> None:
    with Registry(sqlite_url, cache_ttl=1) as registry:
        registry.register_server("HOOK", *callbacks)
        registry.register_service("HOOK", "permission", "/allow")
        d = long_ttl_dispatcher(registry)
        assert d.permission(PERMISSION).allowed
        assert d.permission(PERMISSION).cached
        registry.register_service("HOOK", "permission", "/deny-message")
        assert not d.permission(PERMISSION).allowed  # at once: this node wrote it
        d.close()


@pytest.mark.parametrize("change", ["moved", "deleted"])
def test_a_cached_allow_is_dropped_within_cache_ttl_of_a_change_on_another_node(
    sqlite_url: str, callbacks: tuple[str, int], change: str
) -> None:
    with Registry(sqlite_url, cache_ttl=0.5) as node, Registry(sqlite_url) as other:
        node.register_server("HOOK", *callbacks)
        node.register_service("HOOK", "permission", "/allow")
        d = long_ttl_dispatcher(node)
        assert d.permission(PERMISSION).allowed and d.permission(PERMISSION).cached
        if change == "moved":
            other.register_service("HOOK", "permission", "/deny-message")
        else:
            other.delete_service("HOOK", "permission")  # no service: the default denies
        assert _decided_until(d, allowed=False) < 5  # cache_ttl, not the 600 s allow_ttl
        d.close()
