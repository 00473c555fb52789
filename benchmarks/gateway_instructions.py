"""CPU instructions one hook gateway request costs the server, counted by valgrind's callgrind:
the same count whatever else the machine is doing, unlike wall-clock time.

    python benchmarks/gateway_instructions.py [--requests 300] [--also LABEL=PYTHON ...]

The app is called in process as an ASGI application (no server, no client sockets), with FATE
Flow 1.11's permission request, answered from the decision cache and with the cache off (the
``http`` plugin then calls the callback service, a bare ASGI app under uvicorn in another
process, which callgrind does not count). Each figure is the difference between a run of N
requests and a run of none, over N, so start-up and imports are left out. The baseline, in the
same run: an empty FastAPI POST route (a coroutine) called the same way. ``--also`` measures
another environment's build (say an earlier commit) the same way.

Needs valgrind (``apt-get install valgrind``). Each count takes a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_args import positive_int

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import PERMISSION, REGISTER, add_also


def child(requests: int, path: str) -> None:
    """Run in the measured process: ``requests`` calls of the app, after 50 to warm up."""
    if path == "empty":
        from bench_gateway import empty_app as app

        url = "/empty"
    else:
        from fate_registry.http.app import app_from_env

        app = app_from_env()
        url = "/v1/hook/permission"
    body = os.environ["GATEWAY_BODY"].encode()  # the parent's: any build can read it
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 9390),
        "headers": [
            (b"host", b"127.0.0.1:9390"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"user-agent", b"python-requests/2.32"),
        ],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def one() -> None:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(dict(scope), receive, send)
        assert sent[0]["status"] == 200 and json.loads(sent[1]["body"])["code"] == 0, sent

    async def run() -> None:
        for _ in range(50 + requests):
            await one()

    asyncio.run(run())


def count(python: str, requests: int, path: str, env: dict[str, str]) -> int:
    """Instructions of a child process making ``requests`` requests."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                python,
                __file__,
                "--child",
                str(requests),
                path,
            ],
            env={**os.environ, **env, "GATEWAY_BODY": json.dumps(PERMISSION)},
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no count from valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(python: str, requests: int, path: str, env: dict[str, str]) -> float:
    return (count(python, requests, path, env) - count(python, 0, path, env)) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=positive_int, default=300)
    add_also(parser, "another environment's build, measured the same way; repeatable")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1])
        return

    from bench_dispatch import free_port, start_service

    port = free_port()
    service = start_service(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = per_request(sys.executable, args.requests, "empty", {})
            print(f"{'':36} {'instructions':>13} {'x empty route':>14}")
            print(f"{'empty FastAPI route':36} {base:13,.0f} {1:13.2f}x")
            for label, python in [("this build", sys.executable), *args.also]:
                stem = re.sub(r"\W", "_", label)
                db = f"sqlite:///{Path(tmp) / stem}.db"
                subprocess.run([python, "-c", REGISTER, db, str(port)], check=True)
                for cache in ("true", "false"):
                    env = {
                        "FATE_REGISTRY_DB_URL": db,
                        "FATE_REGISTRY_HOOKS__PERMISSION__CACHE": cache,
                    }
                    figure = per_request(python, args.requests, "gateway", env)
                    name = f"gateway, {'cached' if cache == 'true' else 'cache off'} [{label}]"
                    print(f"{name:36} {figure:13,.0f} {figure / base:13.2f}x", flush=True)
    finally:
        service.terminate()
        service.wait(10)


if __name__ == "__main__":
    main()
