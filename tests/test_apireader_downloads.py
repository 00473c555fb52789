"""What a feature service cannot do to a download: fill the disk (a gzip bomb, an endless
stream, too many rows), lie about its length with or without gzip, pass off something that is
not text features, or leave a part behind when ``api-reader fetch`` is terminated. Real
services on loopback; each refusal fails the fetch at ``download`` and leaves no file."""

from __future__ import annotations

import gzip
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callback_service import BOMB_BYTES, callback_app, feature_rows, gzip_bomb, serve, serve_raw
from fastapi import FastAPI
from http_support import http_dispatcher
from reference_processes import FATE_REGISTRY, environment

from fate_registry import Registry
from fate_registry.apireader import ApiReader, FetchFailed
from fate_registry.dispatch import Dispatcher, HookFailed
from fate_registry.settings import HooksSettings

MiB = 1 << 20


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
        reg.register_service("THIRD", "upload", "/upload")
        reg.register_service("THIRD", "query", "/query-word/data/Success")
        yield reg


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty directory for the downloads, apart from the registry's database files."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def hooks(registry: Registry, **download: Any) -> Dispatcher:
    """A dispatcher with the http plugin and ``download``'s settings (its limits)."""
    return http_dispatcher(registry, HooksSettings(download=download))


def fetch(registry: Registry, dest: Path, download: str, **limits: Any) -> Any:
    """A whole fetch from THIRD, its features served by the route ``download``."""
    registry.register_service("THIRD", "download", download)
    return ApiReader(hooks(registry, **limits), "THIRD").fetch(["1"], dest, sleep=lambda _: None)


# -- limits: decoded bytes and rows ------------------------------------------------------------


def test_a_gzip_bomb_is_stopped_at_the_byte_limit_and_leaves_no_file(
    registry: Registry, out: Path
) -> None:
    assert len(gzip_bomb()) < BOMB_BYTES // 400  # a bomb: tiny on the wire
    with pytest.raises(FetchFailed) as failed:
        fetch(registry, out / "f.csv", "/download-gzip-bomb", max_bytes=MiB)
    assert failed.value.step == "download"
    assert "the features pass the limit hooks.download.max_bytes = 1,048,576 bytes" in str(
        failed.value
    )
    assert list(out.iterdir()) == []  # neither the destination nor the temporary file


def test_an_endless_stream_is_stopped_at_the_byte_limit(registry: Registry, out: Path) -> None:
    with pytest.raises(FetchFailed, match=r"hooks\.download\.max_bytes = 2,097,152 bytes") as e:
        fetch(registry, out / "f.csv", "/download-flood", max_bytes=2 * MiB)
    assert e.value.step == "download"
    assert list(out.iterdir()) == []


def test_more_rows_than_the_row_limit_are_refused(registry: Registry, out: Path) -> None:
    with pytest.raises(FetchFailed, match=r"hooks\.download\.max_rows = 999 rows") as failed:
        fetch(registry, out / "f.csv", "/download", max_rows=999)  # it sends 1000
    assert failed.value.step == "download"
    assert list(out.iterdir()) == []


def test_features_at_the_limits_are_kept(registry: Registry, out: Path) -> None:
    size = len(feature_rows())
    result = fetch(registry, out / "f.csv", "/download", max_rows=1000, max_bytes=size)
    assert (result.rows, result.bytes) == (1000, size)
    assert (out / "f.csv").read_bytes() == feature_rows()


def test_the_limits_are_settings_with_defaults_far_above_a_real_job() -> None:
    download = HooksSettings().download
    assert download.max_bytes == 4 << 30 and download.max_rows == 100_000_000
    with pytest.raises(ValueError, match="max_rows"):
        HooksSettings(download={"max_rows": 0})
    with pytest.raises(ValueError, match="max_bytes"):
        HooksSettings(query={"max_bytes": MiB})  # a bound of downloads only


# -- Content-Length: the bytes on the wire, whatever the encoding ---------------------------------


def raw_reply(body: bytes, length: int | str, encoding: str | None = None) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: {length}\r\n"
    if encoding:
        head += f"Content-Encoding: {encoding}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


def download_raw(registry: Registry, dest: Path, reply: bytes) -> Any:
    with serve_raw(reply) as (host, port):
        registry.register_server("RAW", host, port)
        registry.register_service("RAW", "download", "/download")
        return hooks(registry).download({"job_id": "42", "destination": dest}, server_name="RAW")


def test_a_gzip_body_with_its_encoded_length_is_downloaded_decoded(
    registry: Registry, out: Path
) -> None:
    result = fetch(registry, out / "f.csv", "/download-gzip")
    assert (out / "f.csv").read_bytes() == feature_rows()
    assert (result.rows, result.bytes) == (1000, len(feature_rows()))


def test_a_gzip_body_cut_short_of_its_length_is_refused(registry: Registry, out: Path) -> None:
    body = gzip.compress(feature_rows(100_000))
    cut = body[: len(body) // 2]
    reply = raw_reply(cut, len(body), "gzip")
    with pytest.raises(HookFailed, match=rf"download cut after {len(cut)} of {len(body)} bytes"):
        download_raw(registry, out / "f.csv", reply)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_bytes_past_the_length_are_not_taken_as_features(
    registry: Registry, out: Path, encoding: str | None
) -> None:
    """What follows a reply's Content-Length is not that reply: the file holds the body it
    declared, and the rest goes with the connection, which a download closes."""
    body = feature_rows(2_000)
    if encoding:
        body = gzip.compress(body, compresslevel=0)
    reply = raw_reply(body + feature_rows(100), len(body), encoding)
    answer = download_raw(registry, out / "f.csv", reply)
    assert answer.rows == 2_000
    assert (out / "f.csv").read_bytes() == feature_rows(2_000)


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_a_body_of_its_exact_length_is_kept(
    registry: Registry, out: Path, encoding: str | None
) -> None:
    body = feature_rows(10_000)
    sent = gzip.compress(body) if encoding else body
    result = download_raw(registry, out / "f.csv", raw_reply(sent, len(sent), encoding))
    assert (out / "f.csv").read_bytes() == body and result.rows == 10_000


@pytest.mark.parametrize("length", ["many", "-1", "1e3"])
def test_a_content_length_that_is_not_a_number_is_refused(
    registry: Registry, out: Path, length: str
) -> None:
    reply = raw_reply(feature_rows(), length)
    with pytest.raises(HookFailed, match=rf"Content-Length '{length}' is not a number of bytes"):
        download_raw(registry, out / "f.csv", reply)
    assert list(out.iterdir()) == []


def test_a_content_length_beside_chunked_transfer_encoding_is_refused(
    registry: Registry, out: Path
) -> None:
    """Which of the two framings holds is the smuggler's question: neither is trusted."""
    body = feature_rows()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    reply = raw_reply(chunked, len(body)).replace(
        b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n", 1
    )
    with pytest.raises(HookFailed, match="both a Content-Length and Transfer-Encoding: chunked"):
        download_raw(registry, out / "f.csv", reply)
    assert list(out.iterdir()) == []


# -- text features, not binary ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("zip", "a NUL byte at offset 5"),  # in the version field of its first header
        ("nul", "a NUL byte at offset 14"),
        ("latin1", "invalid UTF-8 at offset 15"),
        ("cut", "a UTF-8 character cut short at offset 11"),
    ],
)
def test_a_body_that_is_not_text_features_is_refused(
    registry: Registry, out: Path, kind: str, problem: str
) -> None:
    with pytest.raises(FetchFailed, match="the download is not text features") as failed:
        fetch(registry, out / "f.csv", f"/download-body/{kind}")
    assert failed.value.step == "download"
    assert problem in str(failed.value)
    assert list(out.iterdir()) == []


def test_text_whose_characters_arrive_split_between_reads_is_kept(
    registry: Registry, out: Path
) -> None:
    result = fetch(registry, out / "f.csv", "/download-split-utf8")
    assert (out / "f.csv").read_text(encoding="utf-8").splitlines()[1] == "1,S\u00e3o Paulo"
    assert result.rows == 2


def test_an_empty_body_is_refused_not_taken_for_0_rows(registry: Registry, out: Path) -> None:
    with pytest.raises(HookFailed, match="the download is empty: not even a header line"):
        download_raw(registry, out / "f.csv", raw_reply(b"", 0))
    assert list(out.iterdir()) == []


# -- the command line, terminated ---------------------------------------------------------------


@pytest.mark.parametrize("download", ["/download-endless", "/download-stalled"])
def test_sigterm_during_a_download_exits_143_and_leaves_no_file(
    registry: Registry, sqlite_url: str, out: Path, download: str
) -> None:
    """A real process and a real signal, as a service manager or ``kill`` sends it. The stalled
    service keeps the worker in a read past the few seconds it is given to clean up."""
    registry.register_service("THIRD", "download", download)
    ids = out / "ids.csv"
    ids.write_text("id\nu0\n")
    process = subprocess.Popen(
        [str(FATE_REGISTRY), "--db", sqlite_url, "api-reader", "fetch", "--server", "THIRD",
         "--ids", str(ids), "--out", str(out / "f.csv")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(),
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:  # wait until the download is under way
        if line.startswith("download: "):
            break
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "error: terminated: nothing written to" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["ids.csv"]
