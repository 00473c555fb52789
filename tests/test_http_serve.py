"""`fate-registry serve` as the README starts it: the spec's registration example over real HTTP,
resolved through the Python API from this (another) process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from fate_registry import Registry

TOKEN = "serve-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    script = shutil.which("fate-registry", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "fate_registry.cli"]


def _wait_ready(process: subprocess.Popen[bytes], base: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}")
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"serve did not answer {base}/readyz within {timeout} s")


@contextmanager
def _start(db_url: str, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [*_command(), "serve", "--db", db_url, "--host", "127.0.0.1", "--port", str(port), *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, base)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[str, str]]:
    with _start(db_url) as base:
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
    with _start(sqlite_url, "--workers", "2", env=env) as base:
        body = {"server_name": "w", "host": "10.0.0.1", "port": 80}
        assert requests.post(f"{base}/v2/server/registry", json=body).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(4):  # whichever worker answers knows the token and the database
            reply = requests.post(f"{base}/v2/server/registry", json=body, headers=auth)
            assert reply.status_code == 200
    with Registry(sqlite_url) as registry:
        assert registry.server("W").host == "10.0.0.1"


def test_serve_refuses_a_public_address_with_writes_open(sqlite_url):
    result = subprocess.run(
        [*_command(), "serve", "--db", sqlite_url, "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "FATE_REGISTRY_ADMIN_TOKENS"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: refusing to listen on 0.0.0.0:")


def test_serve_refuses_a_short_admin_token(sqlite_url):
    result = subprocess.run(
        [*_command(), "serve", "--db", sqlite_url, "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FATE_REGISTRY_ADMIN_TOKENS": "a"},
    )
    assert result.returncode == 2
    assert "FATE_REGISTRY_ADMIN_TOKENS" in result.stderr
    assert "at least 16 characters" in result.stderr
