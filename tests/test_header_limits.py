"""`serve` bounds a request's line and headers (max_header_bytes, max_headers) on every HTTP stack
it runs: uvicorn with httptools, with h11 (httptools not installed), and with --workers N. Past a
limit it answers 431 naming the setting and closes the connection; the next request is served."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from serve_process import serve

HIDDEN_HTTPTOOLS = "raise ImportError('httptools is hidden from this process by the test')\n"


@dataclass
class Stack:
    url: str
    max_bytes: int
    max_headers: int


def _hide_httptools(directory: Path) -> str:
    """A directory that, first on PYTHONPATH, makes ``import httptools`` fail as if it were not
    installed: uvicorn then runs h11, and so does serve."""
    package = directory / "httptools"
    package.mkdir()
    (package / "__init__.py").write_text(HIDDEN_HTTPTOOLS)
    return str(directory)


@pytest.fixture(scope="module", params=["httptools", "h11", "workers"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One serve per stack: httptools with the default limits; h11 with the limits from
    variables; two workers with the limits from a TOML file (serve hands them on through the
    environment)."""
    tmp = tmp_path_factory.mktemp(request.param)
    db_url = f"sqlite:///{tmp / 'registry.db'}"
    args: list[str] = []
    env: dict[str, str] = {}
    limits = (65536, 100)  # the defaults
    if request.param == "h11":
        limits = (16384, 20)
        env = {
            "PYTHONPATH": _hide_httptools(tmp),
            "FATE_REGISTRY_MAX_HEADER_BYTES": str(limits[0]),
            "FATE_REGISTRY_MAX_HEADERS": str(limits[1]),
        }
    elif request.param == "workers":
        limits = (8192, 12)
        config = tmp / "config.toml"
        config.write_text(f"max_header_bytes = {limits[0]}\nmax_headers = {limits[1]}\n")
        args = ["--workers", "2"]
        env = {"FATE_REGISTRY_CONFIG": str(config)}
    with serve(db_url, *args, env=env) as served:
        stack_name = "h11" if request.param == "h11" else "httptools"
        assert (
            f"http: uvicorn with {stack_name}; request line and headers at most "
            f"{limits[0]} bytes, {limits[1]} header fields"
        ) in served.log_text()
        yield Stack(served.url, *limits)


# -- what a client sends and gets --------------------------------------------------------------


def request_head(size: int | None = None, *, headers: int = 0, close: bool = True) -> bytes:
    """``GET /healthz`` with Host, ``headers`` more header fields (X-1: 1, ...), Connection:
    close unless ``close`` is false, and, given ``size``, an X-Fill field that makes the request
    line and headers, the blank line included, exactly ``size`` bytes."""
    lines = [b"GET /healthz HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [b"X-%d: %d" % (n, n) for n in range(1, headers + 1)]
    if close:
        lines.append(b"Connection: close")
    head = b"".join(line + b"\r\n" for line in lines)
    if size is not None:
        fill = size - len(head) - len(b"X-Fill: \r\n\r\n")
        assert fill >= 0, "the other fields are already larger than that"
        head += b"X-Fill: " + b"f" * fill + b"\r\n"
    return head + b"\r\n"


def connect(stack: Stack) -> socket.socket:
    address = urlsplit(stack.url)
    return socket.create_connection((address.hostname, address.port), timeout=30)


def exchange(stack: Stack, data: bytes) -> bytes:
    """Send ``data`` on a new connection, then all the server answered until it closed."""
    with connect(stack) as sock:
        # closed before it read everything: what it answered is still there to read
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    """What the server sent until it closed the connection (a timeout fails the test: the
    server kept it open)."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # closed with bytes of ours unread: what came first stays
            return received
        if not chunk:
            return received
        received += chunk


def replies(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each reply in ``data``, in order."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        fields = dict(line.split(b": ", 1) for line in lines[1:])
        length = int(fields[b"content-length"])
        found.append((int(lines[0].split()[1]), rest[:length]))
        data = rest[length:]
    return found


def assert_refused(stack: Stack, answer: bytes, setting: str) -> None:
    """One 431 whose message names the setting, then the connection closed; and the server
    goes on serving."""
    [(status, body)] = replies(answer)
    assert status == 431
    message = json.loads(body)["message"]
    assert setting in message and f"FATE_REGISTRY_{setting.upper()}" in message
    limit = stack.max_bytes if setting == "max_header_bytes" else stack.max_headers
    assert str(limit) in message
    assert requests.get(f"{stack.url}/healthz", timeout=10).status_code == 200


# -- the size of the request line and headers --------------------------------------------------


def test_a_request_line_and_headers_of_exactly_max_header_bytes_are_answered(stack: Stack) -> None:
    answer = exchange(stack, request_head(stack.max_bytes))

    assert [status for status, _ in replies(answer)] == [200]


def test_one_byte_more_than_max_header_bytes_is_refused(stack: Stack) -> None:
    answer = exchange(stack, request_head(stack.max_bytes + 1))

    assert_refused(stack, answer, "max_header_bytes")


def test_a_request_line_longer_than_max_header_bytes_is_refused(stack: Stack) -> None:
    line = b"GET /" + b"a" * stack.max_bytes + b" HTTP/1.1\r\n"  # and nothing after it

    assert_refused(stack, exchange(stack, line), "max_header_bytes")


def test_a_header_that_never_ends_is_refused_before_the_server_has_read_it(stack: Stack) -> None:
    """The server stops reading at the limit: the client cannot hand it 32 MiB (a server that
    kept reading would hold them all, and keep the memory)."""
    chunk, total, sent = b"v" * 65536, 32 * 1024 * 1024, 0
    with connect(stack) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        try:
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)

    assert sent < total
    assert_refused(stack, answer, "max_header_bytes")


# -- the number of header fields ---------------------------------------------------------------


def test_exactly_max_headers_fields_are_answered(stack: Stack) -> None:
    # Host and Connection are two of them
    answer = exchange(stack, request_head(headers=stack.max_headers - 2))

    assert [status for status, _ in replies(answer)] == [200]


def test_one_field_more_than_max_headers_is_refused(stack: Stack) -> None:
    answer = exchange(stack, request_head(headers=stack.max_headers - 1))

    assert_refused(stack, answer, "max_headers")


# -- kept-alive and pipelined requests ---------------------------------------------------------


def test_the_limit_holds_for_the_next_request_on_a_kept_alive_connection(stack: Stack) -> None:
    with connect(stack) as sock:
        sock.sendall(request_head(close=False))
        answer = b""
        while b"}" not in answer:  # /healthz answers a small JSON object
            answer += sock.recv(65536)
        assert [status for status, _ in replies(answer)] == [200]

        sock.sendall(request_head(stack.max_bytes + 1))
        assert_refused(stack, read_until_closed(sock), "max_header_bytes")


def test_a_pipelined_request_at_the_limit_is_answered(stack: Stack) -> None:
    """A request sent behind another, before that one is answered, begins within a read."""
    answer = exchange(stack, request_head(close=False) + request_head(stack.max_bytes))

    assert [status for status, _ in replies(answer)] == [200, 200]


def test_a_pipelined_request_past_the_limit_is_refused(stack: Stack) -> None:
    answer = exchange(stack, request_head(close=False) + request_head(stack.max_bytes + 1))

    # uvicorn answers a request it refuses at once, so with httptools the 431 may come before
    # the first request's reply, which is then never sent (as with uvicorn's own 400s)
    *_, (status, body) = replies(answer)
    assert status == 431
    assert "max_header_bytes" in json.loads(body)["message"]
