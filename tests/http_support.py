"""Helpers of the HTTP tests: an app over a fresh registry, a dispatcher with the http plugin
alone, and a snapshot of what is stored."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fate_registry_http
from fate_registry import Registry, Settings
from fate_registry.dispatch import Dispatcher
from fate_registry.http import create_app
from fate_registry.metrics import HookMetrics
from fate_registry.plugins import build_plugin_manager
from fate_registry.settings import HooksSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE_URL = "http://localhost"  # TestClient's default, testserver, is not a trusted host
SPEC_SERVER = {"host": "127.0.0.1", "port": 8888}
SPEC_SERVICE = {
    "server_name": "fate_test",
    "service_name": "upload",
    "uri": "/v1/data/upload",
    "method": "POST",
    "protocol": "http",
}


def http_dispatcher(
    registry: Registry, settings: HooksSettings | None = None, metrics: HookMetrics | None = None
) -> Dispatcher:
    """A dispatcher over ``registry`` with the http plugin alone (no entry point loaded), its
    own metrics unless given, and ``settings`` (default: HooksSettings())."""
    plugins = build_plugin_manager(load=set(), entry_points=[])
    plugins.register(fate_registry_http, "http")
    return Dispatcher(
        registry,
        settings=settings if settings is not None else HooksSettings(),
        plugins=plugins,
        metrics=metrics if metrics is not None else HookMetrics(),
    )


@contextmanager
def client_for(db_url: str, **settings: Any) -> Iterator[tuple[TestClient, Registry]]:
    """A test client of the app over an empty registry at ``db_url``, and that registry."""
    with Registry(db_url, cache_ttl=0) as registry:
        app = create_app(registry, Settings(db_url=db_url, **settings))
        # The app answers only its own names: loopback ones by default.
        with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
            yield client, registry


def snapshot(registry: Registry) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """Revision, servers and services: equal snapshots mean nothing was written between them."""
    return (
        registry.revision,
        [server.model_dump() for server in registry.servers()],
        [service.model_dump() for service in registry.services()],
    )


def register_spec_example(client: TestClient, headers: dict[str, str] | None = None) -> None:
    first = client.post("/v1/server/fate_test/register", json=SPEC_SERVER, headers=headers)
    assert first.json()["retcode"] == 0, first.text
    second = client.post("/v1/service/registry", json=SPEC_SERVICE, headers=headers)
    assert second.json()["retcode"] == 0, second.text
