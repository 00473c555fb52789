"""``fate-registry serve`` and the reference service as real processes on loopback, for the
end-to-end tests: started on free ports, waited for, and stopped by their own process ids."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from serve_support import free_port, stop

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "contrib" / "fate-reference-service"
FATE_REGISTRY = Path(sys.executable).parent / "fate-registry"


def environment(**extra: str) -> dict[str, str]:
    """This environment without FATE_REGISTRY_* settings, the reference service importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FATE_REGISTRY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REFERENCE), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@dataclass
class Running:
    db_url: str
    registry_url: str
    service_port: int
    home: Path


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:  # not up yet, or slow under load
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {seconds} s: {log.read_text()[-2000:]}")


@contextmanager
def registry_and_reference_service(home: Path, name: str = "THIRD") -> Iterator[Running]:
    """``fate-registry serve`` over a SQLite file in ``home``, and the reference service
    registered with it as ``name``; both stopped when the block ends."""
    db_url = f"sqlite:///{home / 'registry.db'}"
    registry_port, service_port = free_port(), free_port()
    registry_url = f"http://127.0.0.1:{registry_port}"
    serve_log, service_log = home / "serve.log", home / "service.log"
    serve = subprocess.Popen(
        [str(FATE_REGISTRY), "--db", db_url, "serve", "--port", str(registry_port)],
        stdout=serve_log.open("wb"),
        stderr=subprocess.STDOUT,
        env=environment(),
        cwd=home,
    )
    service: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(f"{registry_url}/v1/server/get", serve, serve_log)
        service = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fate_reference_service",
                "--registry",
                registry_url,
                "--name",
                name,
                "--port",
                str(service_port),
                "--data-dir",
                str(home / "jobs"),
            ],
            stdout=service_log.open("wb"),
            stderr=subprocess.STDOUT,
            env=environment(),
            cwd=home,
        )
        deadline = time.monotonic() + 60
        while b"registered with" not in service_log.read_bytes():
            if service.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"reference service did not register: {service_log.read_text()}")
            time.sleep(0.1)
        yield Running(db_url, registry_url, service_port, home)
    finally:
        if service is not None:
            stop(service)
        stop(serve)
