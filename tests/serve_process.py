"""`fate-registry serve` as a real process on a free loopback port, for tests that talk to it
over HTTP; its log goes to a file the test can read."""

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
from dataclasses import dataclass
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command() -> list[str]:
    script = shutil.which("fate-registry", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "fate_registry.cli"]


@dataclass
class Served:
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serve(db_url: str, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """A serve on ``db_url``, ready (``/readyz`` answers) when this yields; stopped after."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FATE_REGISTRY_")}
    with tempfile.NamedTemporaryFile(prefix="serve-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [
                *command(),
                "serve",
                "--db",
                db_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *args,
            ],
            env={**clean, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", Path(log.name))
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}: {served.log_text()}")
            try:
                if requests.get(f"{served.url}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not get ready: {served.log_text()}")
            time.sleep(0.1)  # polling a process we do not control: there is no event to await
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        served.log.unlink(missing_ok=True)
