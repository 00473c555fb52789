"""The http plugin's ApiReader against a real service on loopback: FATE Flow 1.11's wire shapes,
both readings of its replies, streaming, Retry-After, and downloads that never leave a part."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callback_service import callback_app, serve
from fastapi import FastAPI
from http_support import http_dispatcher

from fate_registry import Registry
from fate_registry.dispatch import Dispatcher, HookFailed
from fate_registry.settings import HooksSettings


@pytest.fixture(scope="module")
def callback() -> Iterator[FastAPI]:
    app = callback_app()
    with serve(app) as (host, port):
        app.state.address = (host, port)
        yield app


@pytest.fixture
def registry(sqlite_url: str, callback: FastAPI) -> Iterator[Registry]:
    with Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server("THIRD", *callback.state.address)
        yield reg


def dispatcher(registry: Registry, **capabilities: Any) -> Dispatcher:
    return http_dispatcher(registry, HooksSettings(**capabilities))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty directory for the downloads, apart from the registry's database files."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def last_seen(app: FastAPI) -> dict[str, Any]:
    return dict(app.state.seen[-1])


# -- upload ------------------------------------------------------------------------------------


def test_upload_of_an_iterable_is_chunked_multipart_field_file_named_id(
    registry: Registry, callback: FastAPI
) -> None:
    registry.register_service("THIRD", "upload", "/upload")
    ids = (str(i) for i in range(3))
    answer = dispatcher(registry).upload(
        {"ids": ids, "id_column": "phone", "parameters": {"stat_month": "202201"}, "job_id": "j1"},
        server_name="third",
    )
    assert answer.job_id == "job-42"
    seen = last_seen(callback)
    assert seen["headers"]["transfer-encoding"] == "chunked"
    assert "content-length" not in seen["headers"]
    assert seen["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="id"' in seen["body"]
    assert b"Content-Type: application/octet-stream\r\n\r\nphone\n0\n1\n2\n\r\n" in seen["body"]
    body = json.loads(seen["params"]["requestBody"])
    assert body == {"stat_month": "202201", "job_id": "j1", "sign": hashlib.md5(b"j1").hexdigest()}


def test_upload_of_an_id_file_is_sent_as_it_is_with_its_length(
    registry: Registry, callback: FastAPI, tmp_path: Path
) -> None:
    registry.register_service("THIRD", "upload", "/upload")
    path = tmp_path / "ids.csv"
    path.write_bytes(b"id\r\n7\r\n8\r\n")  # as it is: CRLF kept
    dispatcher(registry).upload({"ids": path, "job_id": "j1"}, server_name="THIRD")
    seen = last_seen(callback)
    assert int(seen["headers"]["content-length"]) == len(seen["body"])
    assert b"\r\n\r\nid\r\n7\r\n8\r\n\r\n--" in seen["body"]


def test_upload_picks_the_id_column_of_a_csv_with_several(
    registry: Registry, callback: FastAPI, tmp_path: Path
) -> None:
    registry.register_service("THIRD", "upload", "/upload")
    path = tmp_path / "people.csv"
    path.write_text('name,id\n"Smith, J",7\nLee,8\n')
    dispatcher(registry).upload({"ids": path, "job_id": "j1"}, server_name="THIRD")
    assert b"\r\n\r\nid\n7\n8\n\r\n--" in last_seen(callback)["body"]


@pytest.mark.parametrize("where", ["data", "top"])
def test_upload_takes_a_numeric_job_id_under_data_or_at_the_top(
    registry: Registry, where: str
) -> None:
    registry.register_service("THIRD", "upload", f"/upload-numeric/{where}")
    answer = dispatcher(registry).upload({"ids": ["1"], "job_id": "j1"}, server_name="THIRD")
    assert answer.job_id == "42"


def test_upload_refused_is_an_error_carrying_the_service_message(registry: Registry) -> None:
    registry.register_service("THIRD", "upload", "/upload-refused")
    with pytest.raises(HookFailed, match="upload refused with code 102: bad ids"):
        dispatcher(registry).upload({"ids": ["1"], "job_id": "j1"}, server_name="THIRD")


def test_upload_stops_at_the_deadline_while_ids_are_still_coming(registry: Registry) -> None:
    registry.register_service("THIRD", "upload", "/upload")

    def slow_ids() -> Iterator[str]:
        for i in range(1000):
            time.sleep(0.05)
            yield "x" * 100_000 + str(i)  # the deadline is checked between ~1 MiB chunks

    started = time.monotonic()
    with pytest.raises(HookFailed, match="upload"):
        dispatcher(registry, upload={"timeout": 0.5, "budget": 1.0}).upload(
            {"ids": slow_ids(), "job_id": "j1"}, server_name="THIRD"
        )
    assert time.monotonic() - started < 20  # well under the 50 s the ids would take


# -- query -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("success", "success"),
        ("Success", "success"),
        ("RUNNING", "running"),
        ("running", "running"),
        ("FAILED", "failed"),
        ("canceled", "failed"),
    ],
)
@pytest.mark.parametrize("where", ["data", "top"])
def test_query_reads_the_status_in_any_case_under_data_or_at_the_top(
    registry: Registry, where: str, word: str, status: str
) -> None:
    registry.register_service("THIRD", "query", f"/query-word/{where}/{word}")
    answer = dispatcher(registry).query({"job_id": "42"}, server_name="THIRD")
    assert (answer.status, answer.raw_status) == (status, word)


def test_query_posts_the_job_id_as_fate_flow_does(registry: Registry, callback: FastAPI) -> None:
    registry.register_service("THIRD", "query", "/query-word/data/running")
    dispatcher(registry).query({"job_id": "42"}, server_name="THIRD")
    assert json.loads(last_seen(callback)["body"]) == {"jobId": "42"}


def test_query_answered_busy_with_retry_after_is_running_and_asks_to_wait(
    registry: Registry,
) -> None:
    registry.register_service("THIRD", "query", "/query-busy")
    answer = dispatcher(registry, query={"retries": 0}).query({"job_id": "42"}, server_name="THIRD")
    assert (answer.status, answer.retry_after) == ("running", 7.0)


def test_query_passes_on_retry_after_of_a_normal_reply(registry: Registry) -> None:
    registry.register_service("THIRD", "query", "/query-later")
    answer = dispatcher(registry).query({"job_id": "42"}, server_name="THIRD")
    assert (answer.status, answer.retry_after) == ("running", 3.0)


# -- download ----------------------------------------------------------------------------------


def test_download_sends_request_body_with_job_id_and_sign(
    registry: Registry, callback: FastAPI, out: Path
) -> None:
    registry.register_service("THIRD", "download", "/download")
    seen: list[tuple[int, int]] = []
    answer = dispatcher(registry).download(
        {"job_id": "42", "destination": out / "f.csv", "progress": lambda *a: seen.append(a)},
        server_name="THIRD",
    )
    body = json.loads(last_seen(callback)["params"]["requestBody"])
    assert body == {"jobId": "42", "sign": hashlib.md5(b"42").hexdigest()}
    assert answer.rows == 1000 and seen[-1] == (answer.bytes, 1000)


def test_download_cut_mid_stream_is_an_error_and_leaves_no_file(
    registry: Registry, out: Path
) -> None:
    registry.register_service("THIRD", "download", "/download-cut")
    with pytest.raises(HookFailed, match=r"download cut after \d+ of 100000 bytes"):
        dispatcher(registry).download(
            {"job_id": "42", "destination": out / "f.csv"}, server_name="THIRD"
        )
    assert list(out.iterdir()) == []


def test_download_refused_carries_the_service_message(registry: Registry, out: Path) -> None:
    registry.register_service("THIRD", "download", "/download-refused")
    with pytest.raises(HookFailed, match=r"HTTP 409.*code 102: job is running, not finished"):
        dispatcher(registry).download(
            {"job_id": "42", "destination": out / "f.csv"}, server_name="THIRD"
        )
    assert not (out / "f.csv").exists()


def test_download_past_its_deadline_leaves_no_file(registry: Registry, out: Path) -> None:
    registry.register_service("THIRD", "download", "/download-endless")
    with pytest.raises(HookFailed, match="download"):
        dispatcher(registry, download={"timeout": 0.5, "budget": 0.5}).download(
            {"job_id": "42", "destination": out / "f.csv"}, server_name="THIRD"
        )
    assert list(out.iterdir()) == []


def test_download_whose_caller_is_interrupted_stops_and_leaves_no_file(
    registry: Registry, out: Path
) -> None:
    """Ctrl-C while waiting for a download: the worker is told, removes its temporary file,
    and only then does the interruption reach the caller."""
    registry.register_service("THIRD", "download", "/download-endless")
    hooks = dispatcher(registry, download={"timeout": 30, "budget": 60})
    started = threading.Event()

    def progress(size: int, rows: int) -> None:
        if rows >= 2:
            started.set()

    def interrupt_when_started() -> None:
        started.wait(10)
        os.kill(os.getpid(), signal.SIGINT)  # a real signal: it wakes the waiting main thread

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        hooks.download(
            {"job_id": "42", "destination": out / "f.csv", "progress": progress},
            server_name="THIRD",
        )
    assert list(out.iterdir()) == []
