"""`fate-registry serve` as a real process, as serve_support starts it, with its log in a file
the test can read and no FATE_REGISTRY_* variable of the developer's shell."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from serve_support import free_port, serve_command

__all__ = ["Served", "free_port", "serve"]


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
                *serve_command(),
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
            except requests.RequestException:  # not listening yet, or slow on a loaded machine
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
