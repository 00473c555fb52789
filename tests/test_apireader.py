"""reg.api_reader(server).fetch(): upload, polls with backoff and Retry-After, download, through
the dispatcher; every failure names its step and leaves nothing at ``dest``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from callback_service import callback_app, serve

import fate_registry_http
from fate_registry import Registry, hookimpl
from fate_registry.apireader import ApiReader, FetchFailed, InvalidFetch, Progress
from fate_registry.capabilities import QueryAnswer, job_status
from fate_registry.dispatch import Dispatcher
from fate_registry.ids import InvalidIds
from fate_registry.metrics import HookMetrics
from fate_registry.plugins import build_plugin_manager


class Statuses:
    """Answers ``query`` with the given statuses in turn (before the http plugin)."""

    def __init__(self, *statuses: str | tuple[str, float]) -> None:
        self.statuses = list(statuses)
        self.asked = 0

    @hookimpl
    def query(self) -> QueryAnswer:
        self.asked += 1
        item = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        raw, wait = item if isinstance(item, tuple) else (item, None)
        return QueryAnswer(status=job_status(raw), raw_status=raw, retry_after=wait)


@pytest.fixture
def registry(sqlite_url: str) -> Iterator[Registry]:
    with serve(callback_app()) as (host, port), Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server("THIRD", host, port)
        reg.register_service("THIRD", "upload", "/upload")
        reg.register_service("THIRD", "download", "/download")
        yield reg


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def reader(registry: Registry, statuses: Statuses, metrics: HookMetrics | None = None) -> ApiReader:
    plugins = build_plugin_manager(load=set(), entry_points=[])
    plugins.register(statuses, "statuses")  # first in the chain: answers query
    plugins.register(fate_registry_http, "http")
    hooks = Dispatcher(registry, plugins=plugins, metrics=metrics or HookMetrics())
    return ApiReader(hooks, "third")


def test_fetch_uploads_waits_and_downloads_reporting_each_step(
    registry: Registry, out: Path
) -> None:
    events: list[Progress] = []
    pauses: list[float] = []
    result = reader(registry, Statuses("RUNNING", "running", "Success")).fetch(
        (str(i) for i in range(3)),
        out / "features.csv",
        parameters={"stat_month": "202201"},
        progress=events.append,
        sleep=pauses.append,
    )
    assert (result.job_id, result.rows, result.path) == ("job-42", 1000, out / "features.csv")
    assert result.bytes == (out / "features.csv").stat().st_size
    assert result.ids_bytes == len(b"id\n0\n1\n2\n")
    steps = [e.step for e in events]
    assert steps[0] == "upload" and steps[-1] == "done"
    assert [e.status for e in events if e.step == "wait"] == ["RUNNING", "running", "Success"]
    assert all(e.decision_id for e in events if e.step in ("wait", "done"))
    assert events[-2].step == "download" and events[-2].rows == 1000
    assert pauses[0] == 1.0 and pauses[0] < pauses[1] < pauses[2] * 1.5


def test_the_pause_doubles_with_jitter_up_to_max_poll(registry: Registry, out: Path) -> None:
    pauses: list[float] = []
    statuses = Statuses(*["running"] * 12, "success")
    reader(registry, statuses).fetch(["1"], out / "f.csv", max_poll=60, sleep=pauses.append)
    assert pauses[0] == 1.0 and all(p <= 60 * 1.2 for p in pauses)
    assert max(pauses) > 40  # it grew to the cap


def test_retry_after_sets_the_next_pause(registry: Registry, out: Path) -> None:
    pauses: list[float] = []
    statuses = Statuses(("running", 9.0), "success")
    reader(registry, statuses).fetch(["1"], out / "f.csv", sleep=pauses.append)
    assert pauses == [1.0, 9.0]


def test_a_failed_job_names_the_wait_step_and_leaves_no_file(registry: Registry, out: Path) -> None:
    with pytest.raises(
        FetchFailed, match="waiting for job 'job-42': the job failed, the service says 'ERROR'"
    ) as e:
        reader(registry, Statuses("running", "ERROR")).fetch(
            ["1"], out / "f.csv", sleep=lambda _: None
        )
    assert (e.value.step, e.value.job_id) == ("wait", "job-42")
    assert list(out.iterdir()) == []


def test_a_job_that_never_finishes_times_out_naming_the_wait_step(
    registry: Registry, out: Path
) -> None:
    statuses = Statuses("running")
    with pytest.raises(FetchFailed, match=r"still running after 0.3 s \(timeout\)") as e:
        reader(registry, statuses).fetch(["1"], out / "f.csv", timeout=0.3, first_poll=0.05)
    assert e.value.step == "wait" and statuses.asked >= 2
    assert list(out.iterdir()) == []


def test_an_upload_refused_names_the_upload_step_with_the_service_message(
    registry: Registry, out: Path
) -> None:
    registry.register_service("THIRD", "upload", "/upload-refused")
    with pytest.raises(FetchFailed, match="upload refused with code 102: bad ids") as e:
        reader(registry, Statuses("success")).fetch(["1"], out / "f.csv")
    assert e.value.step == "upload"
    assert list(out.iterdir()) == []


def test_a_download_cut_names_the_download_step(registry: Registry, out: Path) -> None:
    registry.register_service("THIRD", "download", "/download-cut")
    with pytest.raises(FetchFailed, match=r"download cut after .* of 100000 bytes") as e:
        reader(registry, Statuses("success")).fetch(["1"], out / "f.csv", sleep=lambda _: None)
    assert e.value.step == "download"
    assert list(out.iterdir()) == []


def test_every_step_is_counted_in_the_metrics(registry: Registry, out: Path) -> None:
    metrics = HookMetrics()
    reader(registry, Statuses("success"), metrics).fetch(["1"], out / "f.csv", sleep=lambda _: None)
    for capability, plugin in (("upload", "http"), ("query", "statuses"), ("download", "http")):
        calls = metrics.value(
            "fate_registry_hook_calls_total", capability=capability, plugin=plugin, result="allow"
        )
        assert calls == 1, capability


def test_a_bad_destination_is_refused_before_anything_is_sent(
    registry: Registry, out: Path
) -> None:
    with pytest.raises(InvalidFetch, match="is a directory"):
        reader(registry, Statuses("success")).fetch(["1"], out)
    with pytest.raises(InvalidFetch, match="its directory does not exist"):
        reader(registry, Statuses("success")).fetch(["1"], out / "no" / "f.csv")


def test_a_bad_ids_file_is_refused_before_anything_is_sent(registry: Registry, out: Path) -> None:
    with pytest.raises(InvalidIds, match="No such file"):
        reader(registry, Statuses("success")).fetch(out / "missing.csv", out / "f.csv")


def test_a_registry_gives_a_reader_of_a_server(registry: Registry) -> None:
    assert registry.api_reader("third").server == "THIRD"
    assert registry.api_reader().server is None
    with pytest.raises(InvalidFetch, match="server"):
        registry.api_reader("no spaces allowed")
