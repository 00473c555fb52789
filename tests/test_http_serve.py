"""`fate-registry serve` as the README starts it: the spec's registration example over real HTTP,
resolved through the Python API from this (another) process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests
from serve_process import Served, serve
from serve_support import free_port, serve_command, start_serve

from fate_registry import Registry

TOKEN = "serve-test-token"


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[str, str]]:
    with start_serve(db_url) as base:
        yield base, db_url


@pytest.mark.db
def test_spec_registration_example_resolves_from_another_process(served):
    base, db_url = served
    # The registration example of the published contract, as a provider's script sends it.
    response = requests.post(
        f"{base}/v1/server/fate_test/register", json={"host": "127.0.0.1", "port": 8888}
    )
    assert response.json()["retcode"] == 0
    response = requests.post(
        f"{base}/v1/service/registry",
        json={
            "server_name": "fate_test",
            "service_name": "upload",
            "uri": "/v1/data/upload",
            "method": "POST",
            "protocol": "http",
        },
    )
    assert response.json()["retcode"] == 0
    assert response.headers["x-request-id"]

    with Registry(db_url) as registry:
        resolved = registry.resolve("fate_test", "upload")
    assert resolved.url == "http://127.0.0.1:8888/v1/data/upload"
    assert resolved.method == "POST"


def test_two_workers_serve_with_tokens_from_the_environment(sqlite_url):
    env = {"FATE_REGISTRY_ADMIN_TOKENS": TOKEN}
    with start_serve(sqlite_url, "--workers", "2", env=env) as base:
        body = {"server_name": "w", "host": "10.0.0.1", "port": 80}
        assert requests.post(f"{base}/v2/server/registry", json=body).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(4):  # whichever worker answers knows the token and the database
            reply = requests.post(f"{base}/v2/server/registry", json=body, headers=auth)
            assert reply.status_code == 200
    with Registry(sqlite_url) as registry:
        assert registry.server("W").host == "10.0.0.1"


def test_the_log_of_serve_never_carries_a_query_string_or_the_authorization_header(sqlite_url):
    """Whatever writes to serve's log (our access line, uvicorn's own access log if it were
    on), neither a query (stored params, tokens in URLs) nor a bearer token reaches it."""
    token = "l0gged-admin-token-for-tests"
    auth = {"Authorization": f"Bearer {token}"}
    wrong = {"Authorization": "Bearer wr0ng-token-for-tests"}
    body = {"host": "10.0.0.5", "port": 8080}
    with serve(sqlite_url, env={"FATE_REGISTRY_ADMIN_TOKENS": token}) as served:
        base = served.url
        calls = [
            ("POST", "/v1/server/third/register?check=false&q=qu3ry-secret", auth, 200),
            ("POST", "/v1/server/x/register", wrong, 401),
            ("GET", "/v2/server/query/all?access_token=qu3ry-secret", auth, 200),
        ]
        for number, (method, target, headers, status) in enumerate(calls):
            request_id = {"X-Request-ID": f"logged-{number}"}
            reply = requests.request(
                method, base + target, json=body, headers={**headers, **request_id}
            )
            assert reply.status_code == status, reply.text
        # Our line comes once the reply is sent; uvicorn's, were it on, at the reply's start.
        text = wait_for_lines(served, *(f"logged-{number} " for number in range(len(calls))))
    for number, (method, target, _, status) in enumerate(calls):
        path = target.partition("?")[0]
        assert re.search(f'logged-{number} \\S+ "{method} {re.escape(path)}" {status} ', text), text
    for secret in ("qu3ry-secret", "check=false", token, "wr0ng-token", "Bearer"):
        assert secret not in text, f"{secret!r} is in serve's log:\n{text}"


def wait_for_lines(served: Served, *lines: str, timeout: float = 30.0) -> str:
    """The log of ``served`` once it holds every one of ``lines``."""
    deadline = time.monotonic() + timeout
    while not all(line in (text := served.log_text()) for line in lines):
        if time.monotonic() > deadline:
            raise AssertionError(f"{lines} not all in serve's log within {timeout} s:\n{text}")
        time.sleep(0.05)  # polling the file of another process: there is no event to await
    return text


def test_serve_refuses_a_public_address_with_writes_open(sqlite_url):
    result = subprocess.run(
        [*serve_command(), "serve", "--db", sqlite_url, "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "FATE_REGISTRY_ADMIN_TOKENS"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: refusing to listen on 0.0.0.0:")


def test_serve_refuses_a_short_admin_token(sqlite_url):
    result = subprocess.run(
        [*serve_command(), "serve", "--db", sqlite_url, "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FATE_REGISTRY_ADMIN_TOKENS": "a"},
    )
    assert result.returncode == 2
    assert "FATE_REGISTRY_ADMIN_TOKENS" in result.stderr
    assert "at least 16 characters" in result.stderr


def test_serve_on_every_address_without_trusted_hosts_is_refused_naming_the_setting(sqlite_url):
    env = {k: v for k, v in os.environ.items() if k != "FATE_REGISTRY_TRUSTED_HOSTS"}
    result = subprocess.run(
        [*serve_command(), "serve", "--db", sqlite_url, "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "FATE_REGISTRY_ADMIN_TOKENS": TOKEN + "-long-enough"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: refusing to listen on 0.0.0.0 with no trusted host")
    assert "FATE_REGISTRY_TRUSTED_HOSTS" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "variable", ["FATE_REGISTRY_LOAD_PLUGINS", "FATE_REGISTRY_DISABLE_PLUGINS"]
)
def test_serve_with_an_unknown_plugin_name_is_refused_before_listening(sqlite_url, variable):
    port = free_port()
    result = subprocess.run(
        [*serve_command(), "serve", "--db", sqlite_url, "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, variable: "newcomr"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {variable} names no installed plugin: 'newcomr'")
    assert len(result.stderr.splitlines()) == 1


def test_serve_with_a_chain_naming_a_plugin_not_installed_is_refused_before_listening(
    sqlite_url,
):
    port = free_port()
    result = subprocess.run(
        [*serve_command(), "serve", "--db", sqlite_url, "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FATE_REGISTRY_HOOKS__SIGNATURE__CHAIN": "rsa,htpp"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: hooks.signature.chain names no installed plugin: 'htpp'; installed: "
    )
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_port_in_use_is_one_error_line_and_exit_1(sqlite_url, workers):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                *serve_command(),
                "serve",
                "--db",
                sqlite_url,
                "--port",
                str(port),
                "--workers",
                workers,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_connections_of_the_socket_serve_binds_send_without_delay():
    """A reply on a kept-alive connection must not wait for the client's delayed ACK (Nagle):
    asyncio sets TCP_NODELAY on the connections of a TCP socket, if the socket says it is."""
    import asyncio
    import socket

    from fate_registry.http.serve import listen

    sock = listen("127.0.0.1", 0)
    nodelay: list[int] = []

    async def check() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            nodelay.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        while not nodelay:
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(check())
    assert nodelay == [1]
