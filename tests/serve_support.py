"""`fate-registry serve` as a real process on a free loopback port, for the tests that need one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command() -> list[str]:
    script = shutil.which("fate-registry", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "fate_registry.cli"]


def wait_ready(process: subprocess.Popen[bytes], base: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}")
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or slow on a loaded machine
            time.sleep(0.1)
    raise AssertionError(f"serve did not answer {base}/readyz within {timeout} s")


@contextmanager
def start_serve(db_url: str, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``fate-registry serve`` on ``db_url`` until the block ends; yields its base URL.
    ``env`` is added to this process's environment. Its log goes to a temporary file (a pipe
    nobody reads would stall it once it holds 64 KiB of access lines) and is quoted when it
    fails to start."""
    port = free_port()
    arguments = ["serve", "--db", db_url, "--host", "127.0.0.1", "--port", str(port), *args]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*serve_command(), *arguments],
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_ready(process, base)
            except AssertionError as exc:
                log.seek(0)
                raise AssertionError(f"{exc}; its log:\n{log.read()[-2000:].decode()}") from None
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
