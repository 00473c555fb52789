"""``fate-registry status`` locally and through a running serve (``GET /status``, read-protected):
servers and services with their health, chains, decisions, the registry's own health."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from cli_support import clear_settings, error_line, invoke, ok
from serve_process import Served, serve

from fate_registry import Registry, schema
from fate_registry.store.health import SERVER_CHECK, CheckResult, HealthStore

TOKEN = "status-test-token-0123456789"
PERMISSION = {"src_party_id": "10000", "role": "host", "component_list": ["reader"]}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings(monkeypatch)


def populate(db_url: str) -> None:
    """THIRD up, with upload passing and query critical; DOWN down; as the prober stores it."""
    at = datetime.now(UTC).replace(microsecond=0)
    with Registry(db_url) as registry:
        registry.register_server("third", "127.0.0.1", 8080)
        registry.register_service("third", "upload", "/u", check={"path": "/health"})
        registry.register_service("third", "query", "/q", check={"path": "/health"})
        registry.register_service("third", "download", "/d")
        registry.register_server("down", "127.0.0.1", 9)
        registry.register_service("down", "permission", "/p")
        passing = CheckResult("passing", "ok", 0.001, at, at)
        critical = CheckResult("critical", "HTTP GET /health: 503", 0.001, at, at)
        HealthStore(registry.engine).save_results(
            {("THIRD", SERVER_CHECK): passing, ("THIRD", "upload"): passing,
             ("THIRD", "query"): critical, ("DOWN", SERVER_CHECK): critical}
        )  # fmt: skip


def statuses(document: dict) -> dict[str, str]:
    return {f"{s['server']}/{s['service']}": s["status"] for s in document["services"]}


EXPECTED = {
    "THIRD/upload": "passing",
    "THIRD/query": "critical",
    "THIRD/download": "passing",  # no check of its own: its server's
    "DOWN/permission": "critical",  # its server is down
}


def test_status_shows_every_service_with_its_health_locally(sqlite_url: str) -> None:
    populate(sqlite_url)

    document = json.loads(ok(invoke("--db", sqlite_url, "status", "-o", "json")).stdout)

    assert statuses(document) == EXPECTED
    assert document["registry"]["database_ok"] and document["registry"]["schema"] == schema.HEAD
    assert document["counts"]["services"] == {
        "passing": 2,
        "warning": 0,
        "critical": 2,
        "unchecked": 0,
    }
    permission = next(c for c in document["capabilities"] if c["capability"] == "permission")
    assert permission["decisions"] is None  # counted by a serve only
    assert permission["failure_policy"] == "deny"


def test_status_filters_by_server_and_status(sqlite_url: str) -> None:
    populate(sqlite_url)

    found = ok(invoke("--db", sqlite_url, "status", "--status", "critical", "--server", "third"))

    assert "THIRD\tquery\tGET /health -> 200\tcritical" in found.stdout
    assert "upload" not in found.stdout and "DOWN\tpermission" not in found.stdout
    assert "'sometimes' is not one of" in error_line(
        invoke("--db", sqlite_url, "status", "--status", "sometimes"), 2
    )


@pytest.fixture
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Served]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('status') / 'registry.db'}"
    populate(url)
    env = {
        "FATE_REGISTRY_ADMIN_TOKENS": TOKEN,
        "FATE_REGISTRY_PROTECT_READS": "true",
        "FATE_REGISTRY_HEALTH__ENABLED": "false",
        "FATE_REGISTRY_LOAD_PLUGINS": "grants",
    }
    with serve(url, env=env) as served:
        yield url, served


def test_status_through_serve_shows_the_same_and_its_decisions(
    protected: tuple[str, Served],
) -> None:
    db_url, served = protected
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(3):  # decisions of the serve: grants, not enabled, has no opinion: deny
        requests.post(
            f"{served.url}/v1/hook/permission", json=PERMISSION, headers=headers, timeout=10
        )

    remote = json.loads(
        ok(invoke("--url", served.url, "--token", TOKEN, "status", "-o", "json")).stdout
    )
    local = json.loads(ok(invoke("--db", db_url, "status", "-o", "json")).stdout)

    assert statuses(remote) == statuses(local) == EXPECTED
    permission = next(c for c in remote["capabilities"] if c["capability"] == "permission")
    assert permission["decisions"]["deny"] == 3
    assert permission["decisions"]["p99_ms"] is not None
    assert remote["checker"]["enabled"] is False


def test_status_route_is_read_protected(protected: tuple[str, Served]) -> None:
    _, served = protected

    assert requests.get(f"{served.url}/status", timeout=10).status_code == 401
    refused = invoke("--url", served.url, "status")
    assert "authentication is required" in error_line(refused, 2)
