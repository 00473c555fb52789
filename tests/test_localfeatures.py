"""The localfeatures plugin: ApiReader from a local CSV or SQLite table, through the same three
hooks and ``reg.api_reader(...).fetch``, and silent for every other server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import fate_registry_http
import fate_registry_localfeatures
from fate_registry import Registry
from fate_registry.apireader import ApiReader, FetchFailed, Progress
from fate_registry.dispatch import Dispatcher
from fate_registry.metrics import HookMetrics
from fate_registry.plugins import build_plugin_manager
from fate_registry.settings import HooksSettings


@pytest.fixture
def hooks(sqlite_url: str) -> Iterator[Dispatcher]:
    plugins = build_plugin_manager(load=set(), entry_points=[])
    plugins.register(fate_registry_http, "http")  # first, as entry points sort: no service
    plugins.register(fate_registry_localfeatures, "localfeatures")
    with Registry(sqlite_url, cache_ttl=0) as registry:
        yield Dispatcher(registry, plugins=plugins, metrics=HookMetrics())


@pytest.fixture
def csv_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    table = tmp_path / "features.csv"
    table.write_text('uid,age,city\n1,30,Shenzhen\n2,41,"Hong Kong, HK"\n3,25,Beijing\n')
    monkeypatch.setenv("LOCALFEATURES_TABLE", str(table))
    return table


def test_features_come_from_a_csv_table_in_upload_order(
    hooks: Dispatcher, csv_table: Path, tmp_path: Path
) -> None:
    result = ApiReader(hooks, "LOCAL").fetch(["3", "9", "1"], tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text() == "uid,age,city\n3,25,Beijing\n1,30,Shenzhen\n"
    assert result.rows == 2  # id 9 is not in the table


def test_features_come_from_a_sqlite_table(
    hooks: Dispatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "crm.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE people (phone TEXT, score REAL)")
        db.executemany("INSERT INTO people VALUES (?, ?)", [("138", 0.5), ("139", None)])
    monkeypatch.setenv("LOCALFEATURES_TABLE", f"{database}#people")
    monkeypatch.setenv("LOCALFEATURES_SERVER", "crm")
    ApiReader(hooks, "CRM").fetch(["139", "138"], tmp_path / "out.csv", id_column="phone")
    assert (tmp_path / "out.csv").read_text() == "phone,score\n139,\n138,0.5\n"


def test_other_servers_get_no_opinion(hooks: Dispatcher, csv_table: Path, tmp_path: Path) -> None:
    with pytest.raises(FetchFailed, match="no plugin answered upload"):
        ApiReader(hooks, "THIRD").fetch(["1"], tmp_path / "out.csv")


def test_a_missing_table_fails_the_upload_naming_it(
    hooks: Dispatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALFEATURES_TABLE", str(tmp_path / "gone.csv"))
    with pytest.raises(FetchFailed, match=r"gone\.csv.*is not a file") as failed:
        ApiReader(hooks, "LOCAL").fetch(["1"], tmp_path / "out.csv")
    assert failed.value.step == "upload"


def test_a_changed_csv_is_read_again(hooks: Dispatcher, csv_table: Path, tmp_path: Path) -> None:
    ApiReader(hooks, "LOCAL").fetch(["1"], tmp_path / "a.csv")
    csv_table.write_text("uid,age\n1,31\n")
    ApiReader(hooks, "LOCAL").fetch(["1"], tmp_path / "b.csv")
    assert (tmp_path / "b.csv").read_text() == "uid,age\n1,31\n"


def test_a_failed_download_leaves_no_file_behind(
    hooks: Dispatcher, csv_table: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()

    def progress(step: Progress) -> None:
        if step.step == "wait":
            csv_table.unlink(missing_ok=True)  # the table goes while the job waits

    with pytest.raises(FetchFailed, match=r"features\.csv.*is not a file") as failed:
        ApiReader(hooks, "LOCAL").fetch(
            ["1"], out / "f.csv", progress=progress, sleep=lambda _: None
        )
    assert failed.value.step == "download"
    assert list(out.iterdir()) == []  # neither the destination nor a temporary file


@pytest.mark.parametrize(
    ("limits", "refusal"),
    [
        ({"max_rows": 2}, r"hooks\.download\.max_rows = 2 rows"),
        ({"max_bytes": 30}, r"hooks\.download\.max_bytes = 30 bytes"),
    ],
)
def test_the_download_limits_hold_for_a_local_table_too(
    sqlite_url: str, csv_table: Path, tmp_path: Path, limits: dict[str, int], refusal: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    plugins = build_plugin_manager(load=set(), entry_points=[])
    plugins.register(fate_registry_localfeatures, "localfeatures")
    settings = HooksSettings(download=limits)
    with Registry(sqlite_url, cache_ttl=0) as registry:
        hooks = Dispatcher(registry, settings=settings, plugins=plugins, metrics=HookMetrics())
        with pytest.raises(FetchFailed, match=refusal) as failed:
            ApiReader(hooks, "LOCAL").fetch(["1", "2", "3"], out / "f.csv")
    assert failed.value.step == "download"
    assert list(out.iterdir()) == []
