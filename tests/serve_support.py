"""`fate-registry serve` as a real process on a free loopback port, for the tests that need one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from callback_service import free_port

__all__ = ["free_port", "serve_command", "start_serve", "stop", "wait_ready"]


def serve_command() -> list[str]:
    script = shutil.which("fate-registry", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "fate_registry.cli"]


def wait_ready(process: subprocess.Popen[bytes], base: str, timeout: float = 30.0) -> None:
    """Until ``base``/readyz answers 200; AssertionError when the process exits or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}")
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or slow on a loaded machine
            pass
        time.sleep(0.1)  # polling a process we do not control: there is no event to await
    raise AssertionError(f"serve did not answer {base}/readyz within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` (by its own id), killing it if it has not exited within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
            stop(process)
