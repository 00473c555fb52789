"""`fate-registry serve` as a real process, as serve_support starts it, with its log in a file
the test can read and no FATE_REGISTRY_* variable of the developer's shell."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from serve_support import free_port, serve_command, stop, wait_ready

__all__ = ["Served", "free_port", "serve"]


@dataclass
class Served:
    url: str
    log: Path
    pid: int = 0  # of the serve process (its workers are its children)

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
    served = Served(f"http://127.0.0.1:{port}", Path(log.name), process.pid)
    try:
        try:
            wait_ready(process, served.url, timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {served.log_text()}") from None
        yield served
    finally:
        stop(process)
        served.log.unlink(missing_ok=True)
