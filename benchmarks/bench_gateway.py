"""The hook gateway's own cost, next to calling the callback service directly.

    python benchmarks/bench_gateway.py [--calls 1500] [--rounds 5] [--concurrency 8]

Four paths, each answering FATE Flow 1.11's permission request, in interleaved rounds:

- direct: the client calls the callback service (a bare ASGI app under uvicorn) itself;
- gateway, cache off: ``fate-registry serve`` -> the ``http`` plugin -> the same service;
- gateway, cached: the same decision answered from the decision cache;
- an empty FastAPI POST route under uvicorn, for scale.

Each in two client styles: FATE Flow 1.11's hook code (``requests.post(url, json=...)``, a new
connection per call, no session) and a keep-alive ``requests.Session`` (as
contrib/fate-flow-hooks calls); with 1 caller and with ``--concurrency`` callers. Prints p50,
p99 and calls/s, and each path's ratio to direct in the same style and round.

``--also LABEL=PYTHON`` (repeatable) adds the two gateway paths once more, served by another
environment's ``fate-registry`` (an earlier build, or one without httptools and uvloop),
interleaved with the rest so that the comparison sees the same machine load.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from bench_args import positive_int
from bench_dispatch import compare, free_port, start_service
from fastapi import FastAPI

from fate_registry import Registry

# FATE Flow 1.11's permission request, as its hook code builds it (src_role null: it reads a
# misspelt header; component modules lower-cased).
PERMISSION: dict[str, Any] = {
    "src_role": None,
    "src_party_id": "9999",
    "role": "host",
    "party_id": "10000",
    "initiator": {"role": "guest", "party_id": 9999},
    "roles": {"guest": [9999], "host": [10000], "arbiter": [10000]},
    "component_list": ["reader", "dataio", "intersection", "heterolr", "evaluation"],
    "dataset_list": [{"namespace": "experiment", "name": "breast_hetero_host"}],
    "run_time_conf": {"job_parameters": {"common": {"task_parallelism": 2}}},
    "dsl": {"components": {"reader_0": {"module": "Reader"}}},
    "component_parameters": {"role": {"host": {"0": {"reader_0": {"table": {}}}}}},
}

# The callback service's registration, run by another environment's interpreter (--also).
REGISTER = """
import sys
from fate_registry import Registry
with Registry(sys.argv[1]) as registry:
    registry.register_server("HOOK", "127.0.0.1", int(sys.argv[2]))
    registry.register_service("HOOK", "permission", "/permission")
"""

empty_app = FastAPI()


@empty_app.post("/empty")
async def empty() -> dict[str, Any]:
    """The scale: what FastAPI and uvicorn cost for one JSON POST with nothing behind it (a
    coroutine, FastAPI's lightest kind of route: no thread hand-off)."""
    return {"code": 0, "msg": "success"}


def start_empty(port: int) -> subprocess.Popen[bytes]:
    code = (
        "import sys, uvicorn; sys.path.insert(0, sys.argv[1]); "
        "uvicorn.run('bench_gateway:empty_app', host='127.0.0.1', port=int(sys.argv[2]), "
        "log_level='warning', access_log=False, http='h11', loop='asyncio')"
    )
    here = str(Path(__file__).resolve().parent)
    process = subprocess.Popen([sys.executable, "-c", code, here, str(port)])
    _wait(f"http://127.0.0.1:{port}/empty", process)
    return process


def start_serve(
    db_url: str, port: int, env: dict[str, str], python: str = sys.executable
) -> subprocess.Popen[bytes]:
    command = shutil.which("fate-registry", path=str(Path(python).parent))
    args = [command] if command else [python, "-m", "fate_registry.cli"]
    process = subprocess.Popen(
        [*args, "serve", "--db", db_url, "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # its access log: written, as in production, not read
    )
    _wait(f"http://127.0.0.1:{port}/healthz", process, method="get")
    return process


def _wait(url: str, process: subprocess.Popen[bytes], method: str = "post") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            getattr(requests, method)(url, json={}, timeout=0.5)
            return
        except requests.RequestException:  # not up yet, or slow under load
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{url} did not answer")


def fate_way(url: str) -> Callable[[], object]:
    """FATE Flow 1.11's hook call: a new connection each time."""

    def call() -> None:
        reply = requests.post(url, json=PERMISSION)
        assert reply.status_code == 200 and reply.json()["code"] == 0, reply.text

    return call


def keep_alive(url: str) -> Callable[[], object]:
    """One keep-alive session per calling thread."""
    local = threading.local()

    def call() -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        reply = session.post(url, json=PERMISSION, timeout=10)
        assert reply.status_code == 200 and reply.json()["code"] == 0, reply.text

    return call


def report(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"{'':36} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p50 x direct':>13}")
    direct = rows["direct"]
    for name, row in rows.items():
        print(
            f"{name:36} {row['per_s']:9.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
            f"{row['p50_ms'] / direct['p50_ms']:12.2f}x"
        )
    tags = [""] + [
        name[name.index(" [") :] for name in rows if name.startswith("gateway, cached [")
    ]
    for tag in tags:
        uncached = rows[f"gateway, cache off{tag}"]
        cached = rows[f"gateway, cached{tag}"]
        print(
            f"{tag.strip() or 'gateway'}: cached p50 = {cached['p50_ms'] / direct['p50_ms']:.2f}x"
            f" direct, uncached p50 = {uncached['p50_ms'] / direct['p50_ms']:.2f}x direct, "
            f"uncached throughput = {uncached['per_s'] / direct['per_s']:.2f}x direct"
        )


def add_also(parser: argparse.ArgumentParser, help: str) -> None:
    """``--also LABEL=PYTHON``, repeatable: another environment's build to measure."""
    parser.add_argument(
        "--also", metavar="LABEL=PYTHON", action="append", default=[], type=_also, help=help
    )


def _also(text: str) -> tuple[str, str]:
    label, _, python = text.partition("=")
    if not label or not python:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give LABEL=PYTHON, e.g. before=venv/bin/python"
        )
    if shutil.which(python) is None:
        raise argparse.ArgumentTypeError(f"{python!r}: no such interpreter")
    return label, python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=positive_int, default=1500, help="calls per path and setting"
    )
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--concurrency", type=positive_int, default=8)
    add_also(
        parser,
        "also measure the gateway run by that interpreter's environment (another build, or one "
        "without httptools and uvloop), interleaved with the rest; repeatable",
    )
    args = parser.parse_args()
    fast = [name for name in ("httptools", "uvloop") if importlib.util.find_spec(name)]
    print(
        f"python {sys.version.split()[0]}, loopback, each server in its own process; "
        f"serve's uvicorn with {' and '.join(fast) or 'h11 and asyncio'} (the callback "
        "service and the empty route always with h11 and asyncio)"
    )

    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            service_port = free_port()
            processes.append(start_service(service_port))
            db_url = f"sqlite:///{Path(tmp) / 'registry.db'}"
            with Registry(db_url) as registry:
                registry.register_server("HOOK", "127.0.0.1", service_port)
                registry.register_service("HOOK", "permission", "/permission")
            ports = {"off": free_port(), "on": free_port(), "empty": free_port()}
            cache_off = {"FATE_REGISTRY_HOOKS__PERMISSION__CACHE": "false"}
            processes.append(start_serve(db_url, ports["off"], cache_off))
            processes.append(start_serve(db_url, ports["on"], {}))
            processes.append(start_empty(ports["empty"]))
            urls = {
                "direct": f"http://127.0.0.1:{service_port}/permission",
                "gateway, cache off": f"http://127.0.0.1:{ports['off']}/v1/hook/permission",
                "gateway, cached": f"http://127.0.0.1:{ports['on']}/v1/hook/permission",
                "empty FastAPI route": f"http://127.0.0.1:{ports['empty']}/empty",
            }
            for label, python in args.also:  # the gateway run by another environment
                # its own database, made by its own build (another build's schema may differ)
                also_db = f"sqlite:///{Path(tmp) / f'{label}.db'}"
                subprocess.run([python, "-c", REGISTER, also_db, str(service_port)], check=True)
                for key, env in (("cache off", cache_off), ("cached", {})):
                    port = free_port()
                    processes.append(start_serve(also_db, port, env, python=python))
                    urls[f"gateway, {key} [{label}]"] = (
                        f"http://127.0.0.1:{port}/v1/hook/permission"
                    )
            for style, make in (
                ("FATE Flow's way (no session)", fate_way),
                ("keep-alive", keep_alive),
            ):
                for callers in (1, args.concurrency):
                    variants = {name: make(url) for name, url in urls.items()}
                    rows = compare(variants, args.calls, callers, rounds=args.rounds)
                    report(f"{style}, {callers} caller(s), {args.calls} calls per path", rows)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(10)


if __name__ == "__main__":
    main()
