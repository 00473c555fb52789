"""Health checks: declared at registration, run by the checker on the one lease holder, stored
for every node, and used by the dispatcher's fail-fast."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from callback_service import callback_app, free_port, serve
from fastapi import FastAPI, Request
from http_support import client_for, http_dispatcher
from waiting import wait_until

from fate_registry import InvalidRegistration, Registry, Settings
from fate_registry.dispatch import Dispatcher
from fate_registry.health.checker import Checker
from fate_registry.metrics import HealthMetrics, HookMetrics
from fate_registry.store.health import SERVER_CHECK, CheckResult, HealthStore
from fate_registry.transfer import export_document, import_document

PERMISSION = {"src_party_id": "10000", "role": "host", "component_list": ["reader"]}


def health_app() -> FastAPI:
    """A service with a health page that records who asked (the prober's User-Agent)."""
    app = callback_app()
    app.state.probers = []

    @app.get("/health")
    async def health(request: Request) -> dict[str, str]:
        app.state.probers.append(request.headers.get("user-agent", ""))
        return {"status": "ok"}

    return app


@pytest.fixture
def fast(sqlite_url: str) -> Iterator[Registry]:
    settings = Settings(db_url=sqlite_url, health={"interval": 0.5, "timeout": 1})
    with Registry(settings=settings) as registry:
        yield registry


def checker(registry: Registry) -> Checker:
    return Checker(registry, registry.settings.health, HealthMetrics())


# -- declared at registration -------------------------------------------------------------------


def test_a_service_declares_an_http_check_that_export_and_import_keep(registry: Registry) -> None:
    registry.register_server("third", "127.0.0.1", 8080)
    service = registry.register_service("third", "upload", "/v1/upload", check={"path": "/health"})

    assert service.check is not None
    assert (service.check.method, service.check.path, service.check.status) == (
        "GET",
        "/health",
        200,
    )
    document = export_document(registry)
    assert document["servers"][0]["services"][0]["check"] == {
        "method": "GET", "path": "/health", "status": 200, "timeout": 2.0
    }  # fmt: skip
    registry.delete_server("third", cascade=True)
    import_document(registry, document)
    assert registry.service("third", "upload").check == service.check


def test_a_bad_check_is_refused_naming_its_field_and_nothing_is_stored(registry: Registry) -> None:
    registry.register_server("third", "127.0.0.1", 8080)
    with pytest.raises(InvalidRegistration) as refused:
        registry.register_service(
            "third", "upload", "/u", check={"path": "health", "status": 700, "timeout": 0}
        )

    fields = {field for field, _ in refused.value.problems}
    assert fields == {"check.path", "check.status", "check.timeout"}
    assert registry.services("third") == []


def test_the_registration_routes_take_a_check_in_a_new_field(sqlite_url: str) -> None:
    with client_for(sqlite_url) as (client, registry):
        client.post(
            "/v2/server/registry", json={"server_name": "a", "host": "127.0.0.1", "port": 1}
        )
        check = {"method": "HEAD", "path": "/ping", "status": 204, "timeout": 1.5}
        v2 = client.post(
            "/v2/server/service/registry",
            json={"server_name": "a", "service_name": "query", "uri": "/q", "check": check},
        ).json()
        legacy = client.post(
            "/v1/service/registry",
            json={
                "B": {
                    "host": "127.0.0.1",
                    "port": 2,
                    "api": {"upload": {"uri": "/u", "check": check}},
                }
            },
        ).json()
        refused = client.post(
            "/v2/server/service/registry",
            json={
                "server_name": "a",
                "service_name": "x",
                "uri": "/x",
                "check": {"path": "/h", "x": 1},
            },
        )

        assert v2["code"] == 0 and v2["data"]["check"] == check
        assert legacy["retcode"] == 0
        assert registry.service("b", "upload").check is not None
        assert refused.status_code == 400 and "check.x" in refused.json()["message"]


# -- the store -----------------------------------------------------------------------------------


@pytest.mark.db
def test_the_lease_has_one_holder_until_it_runs_out_or_is_let_go(registry: Registry) -> None:
    store = HealthStore(registry.engine)

    assert store.take_lease("health", "a", now_ms=1000, ttl_ms=3000)
    assert not store.take_lease("health", "b", now_ms=2000, ttl_ms=3000)
    assert store.take_lease("health", "a", now_ms=3500, ttl_ms=3000)  # renewed: to 6500
    assert not store.take_lease("health", "b", now_ms=6000, ttl_ms=3000)
    assert store.take_lease("health", "b", now_ms=6501, ttl_ms=3000)  # ran out: b takes it
    assert not store.take_lease("health", "a", now_ms=7000, ttl_ms=3000)
    store.release_lease("health", "b")
    assert store.take_lease("health", "a", now_ms=7001, ttl_ms=3000)
    assert store.lease("health") == ("a", 10001)


@pytest.mark.db
def test_results_are_stored_read_back_and_forgotten(registry: Registry) -> None:
    store = HealthStore(registry.engine)
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    result = CheckResult(
        "critical", "TCP connect to 10.0.0.5:80: Connection refused", 0.002, at, at
    )
    store.save_results({("THIRD", SERVER_CHECK): result, ("THIRD", "upload"): result})
    store.save_results({("THIRD", "upload"): CheckResult("passing", "HTTP 200", 0.01, at, at)})

    results = store.results()
    assert results[("THIRD", SERVER_CHECK)] == result
    assert results[("THIRD", "upload")].status == "passing"
    revision = registry.revision
    store.delete_results([("THIRD", "upload")])
    assert set(store.results()) == {("THIRD", SERVER_CHECK)}
    assert registry.revision == revision  # results are not registrations: no cache is dropped


# -- the checker ---------------------------------------------------------------------------------


def test_the_checker_finds_each_status_and_logs_each_change(
    fast: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fate_registry.health")
    with serve(health_app()) as (host, port):
        fast.register_server("up", host, port)
        fast.register_server("down", "127.0.0.1", free_port())
        fast.register_service("up", "upload", "/u", check={"path": "/health"})
        fast.register_service("up", "query", "/q", check={"path": "/missing"})
        fast.register_service("up", "download", "/d")  # no check of its own: its server's
        running = checker(fast)
        running.start()
        try:
            view = fast.health
            wait_until(lambda: len(view.results()) == 4, "every check has run")
            assert view.status("UP", "upload") == "passing"
            assert view.status("UP", "download") == "passing"
            assert view.status("UP", "query") == "critical"
            assert view.status("DOWN", "anything") == "critical"
            assert "404 Not Found (expected 200)" in view.results()[("UP", "query")].output
        finally:
            running.stop()
    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("health of")]
    assert len(changes) == 4, changes  # one line per change, none per check
    assert any("DOWN (tcp): unchecked -> critical" in line for line in changes)


def test_a_service_that_stops_turns_critical(
    fast: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fate_registry.health")
    running = checker(fast)
    with serve(health_app()) as (host, port):
        fast.register_server("up", host, port)
        fast.register_service("up", "upload", "/u", check={"path": "/health"})
        running.start()
        wait_until(lambda: fast.health.status("UP", "upload") == "passing", "passing")
    try:
        key = ("UP", "upload")
        wait_until(lambda: fast.health.results()[key].status == "critical", "its check critical")
        assert fast.health.status("UP", "upload") == "critical"
        store = HealthStore(fast.engine)  # where every node reads it
        wait_until(lambda: store.results()[key].status == "critical", "stored")
    finally:
        running.stop()
    assert any("UP/upload (http): passing -> critical" in r.getMessage() for r in caplog.records)


def test_only_the_lease_holder_probes_and_the_other_reads_its_results(sqlite_url: str) -> None:
    settings = Settings(db_url=sqlite_url, health={"interval": 0.5})
    app = health_app()
    with (
        serve(app) as (host, port),
        Registry(settings=settings) as one,
        Registry(settings=settings) as two,
    ):
        one.register_server("up", host, port)
        one.register_service("up", "upload", "/u", check={"path": "/health"})
        first, second = checker(one), checker(two)
        first.start()
        second.start()
        try:
            wait_until(lambda: len(app.state.probers) >= 4, "four rounds of probes")
            wait_until(lambda: two.health.status("UP", "upload") == "passing", "read back")
        finally:
            first.stop()
            second.stop()
    assert len(set(app.state.probers)) == 1  # one holder id in every prober's User-Agent


# -- fail fast -----------------------------------------------------------------------------------


def _critical(registry: Registry, server: str, service: str) -> None:
    """The prober's finding, as it stores it: the service is critical."""
    at = datetime.now(UTC)
    result = CheckResult("critical", "HTTP GET /health: 503 Service Unavailable", 0.01, at, at)
    HealthStore(registry.engine).save_results({(server, service): result})
    registry.health.refresh()


def _dispatcher(registry: Registry, fail_fast: bool) -> tuple[Dispatcher, HookMetrics]:
    metrics = HookMetrics()
    settings = {"permission": {"fail_fast": fail_fast, "cache": False, "retries": 0}}
    return http_dispatcher(registry, Settings(hooks=settings).hooks, metrics), metrics


@pytest.mark.parametrize("fail_fast", [True, False])
def test_a_critical_service_fails_fast_only_when_asked(sqlite_url: str, fail_fast: bool) -> None:
    with serve(callback_app()) as (host, port), Registry(sqlite_url) as registry:
        registry.register_server("hook", host, port)
        registry.register_service("hook", "permission", "/allow")
        _critical(registry, "HOOK", "permission")
        hooks, metrics = _dispatcher(registry, fail_fast)
        try:
            outcome = hooks.permission(PERMISSION)
        finally:
            hooks.close()

    labels = {"capability": "permission", "plugin": "http"}
    if fail_fast:  # not called: the failure policy (deny) answered at once
        assert not outcome.allowed and outcome.failed
        assert "HOOK/permission is critical" in (outcome.error or "")
        assert metrics.value("fate_registry_hook_calls_total", result="unhealthy", **labels) == 1
    else:  # called as ever: the service answered
        assert outcome.allowed and not outcome.failed
        assert metrics.value("fate_registry_hook_calls_total", result="allow", **labels) == 1


def test_fail_fast_leaves_a_passing_service_and_other_plugins_alone(sqlite_url: str) -> None:
    with serve(callback_app()) as (host, port), Registry(sqlite_url) as registry:
        registry.register_server("hook", host, port)
        registry.register_service("hook", "permission", "/allow")
        _critical(registry, "HOOK", "client_authentication")  # another service
        hooks, _ = _dispatcher(registry, fail_fast=True)
        try:
            assert hooks.permission(PERMISSION).allowed
        finally:
            hooks.close()
