"""ApiReader end to end: upload, polls with backoff, download; failures are never ignored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from callback_service import callback_app, serve

import fate_registry_http
from fate_registry import Registry, hookimpl
from fate_registry.apireader import fetch_features
from fate_registry.capabilities import QueryAnswer
from fate_registry.dispatch import Dispatcher, HookFailed
from fate_registry.metrics import HookMetrics
from fate_registry.plugins import build_plugin_manager


class Statuses:
    """Answers ``query`` with the given statuses in turn (overriding the http plugin's)."""

    def __init__(self, *statuses: str) -> None:
        self.statuses = list(statuses)

    @hookimpl
    def query(self) -> QueryAnswer:
        raw = self.statuses.pop(0)
        status = raw if raw in ("success", "running") else "failed"
        return QueryAnswer(status=status, raw_status=raw)


@pytest.fixture
def registry(sqlite_url: str) -> Iterator[Registry]:
    with serve(callback_app()) as (host, port), Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server("HOOK", host, port)
        reg.register_service("HOOK", "upload", "/upload")
        reg.register_service("HOOK", "download", "/download")
        yield reg


def hooks(registry: Registry, statuses: Statuses) -> Dispatcher:
    plugins = build_plugin_manager(load=set(), entry_points=[])
    plugins.register(statuses, "statuses")  # first in the chain: answers query
    plugins.register(fate_registry_http, "http")
    return Dispatcher(registry, plugins=plugins, metrics=HookMetrics())


@pytest.fixture
def ids(tmp_path: Path) -> Path:
    path = tmp_path / "ids"
    path.write_text("id\n1\n2\n")
    return path


def test_features_are_fetched_after_polls_with_growing_pauses(
    registry: Registry, ids: Path, tmp_path: Path
) -> None:
    pauses: list[float] = []
    answer = fetch_features(
        hooks(registry, Statuses("running", "running", "running", "success")),
        ids,
        tmp_path / "features.csv",
        job_id="j1",
        sleep=pauses.append,
    )
    assert answer.rows == 1000 and (tmp_path / "features.csv").exists()
    assert len(pauses) == 4 and pauses[0] == 1.0
    assert pauses[1] < pauses[2] < pauses[3] <= 60 * 1.2


def test_a_failed_job_is_an_error_naming_it(registry: Registry, ids: Path, tmp_path: Path) -> None:
    with pytest.raises(HookFailed, match="feature job 'job-42' failed: status 'error'"):
        fetch_features(
            hooks(registry, Statuses("running", "error")),
            ids,
            tmp_path / "f.csv",
            job_id="j1",
            sleep=lambda _: None,
        )


def test_a_job_running_too_long_is_an_error(registry: Registry, ids: Path, tmp_path: Path) -> None:
    with pytest.raises(HookFailed, match="still running after 0 s"):
        fetch_features(
            hooks(registry, Statuses("running")),
            ids,
            tmp_path / "f.csv",
            job_id="j1",
            max_wait=0,
            sleep=lambda _: None,
        )
