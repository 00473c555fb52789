"""The registration HTTP API on loopback: registrations/s and lookups/s with p50 and p99, next to
a FastAPI route that does nothing, served the same way in the same run (the framework's ceiling).

    python benchmarks/bench_http.py [--requests 2000] [--clients 4] [--max-seconds 60]

Each server runs in its own process under uvicorn with the options ``fate-registry serve`` uses
(one worker, our logging config, access lines written to /dev/null); the clients are threads of
this process, each with a keep-alive ``requests.Session``. A phase stops at ``--requests`` or
``--max-seconds``, whichever comes first.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from bench_args import positive_float, positive_int

Call = Callable[[requests.Session, int], requests.Response]


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.name:<28} {self.count:>6} req  {self.per_second:>8.0f}/s  "
            f"p50 {self.quantile(0.50):>6.2f} ms  p99 {self.quantile(0.99):>6.2f} ms"
        )


# -- servers ------------------------------------------------------------------------------------


def serve_noop(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    from fate_registry.http.serve import log_config

    app = FastAPI()

    @app.post("/noop")
    def noop() -> dict[str, int]:
        return {"code": 0}

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=log_config(),
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


def serve_registry(port: int, db_url: str) -> None:
    from fate_registry import Settings
    from fate_registry.http.serve import serve

    serve(Settings(db_url=db_url, host="127.0.0.1", port=port))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(kind: str, *args: str) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.post(f"{base}/noop" if kind == "noop" else f"{base}/readyz", timeout=1)
                break
            except requests.RequestException:  # not up yet, or slow under load
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{kind} server did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- clients ------------------------------------------------------------------------------------


def drive(name: str, call: Call, count: int, clients: int, max_seconds: float) -> Result:
    latencies: list[float] = []
    lock = threading.Lock()
    next_index = iter(range(count))
    started = time.perf_counter()
    deadline = started + max_seconds

    def worker() -> None:
        with requests.Session() as session:
            while time.perf_counter() < deadline:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                begin = time.perf_counter()
                response = call(session, index)
                elapsed = (time.perf_counter() - begin) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text[:200]}")
                with lock:
                    latencies.append(elapsed)

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(worker) for _ in range(clients)]:
            future.result()
    return Result(name, len(latencies), time.perf_counter() - started, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=positive_int, default=2000, help="requests per phase")
    parser.add_argument("--clients", type=positive_int, default=4, help="concurrent client threads")
    parser.add_argument(
        "--max-seconds", type=positive_float, default=60, help="time bound per phase"
    )
    parser.add_argument("--serve", choices=["noop", "registry"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "noop":
        serve_noop(args.port)
        return
    if args.serve == "registry":
        serve_registry(args.port, args.db)
        return

    n, clients, limit = args.requests, args.clients, args.max_seconds
    body = {"server_name": "bench", "host": "10.0.0.1", "port": 8080, "protocol": "http"}
    results = []
    with server("noop") as base:
        drive("warm-up", lambda s, i: s.post(f"{base}/noop", json=body), 200, clients, limit)
        results.append(
            drive(
                "noop route (ceiling)",
                lambda s, i: s.post(f"{base}/noop", json=body),
                n,
                clients,
                limit,
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with server("registry", "--db", db_url) as base:

            def register(session: requests.Session, i: int) -> requests.Response:
                return session.post(
                    f"{base}/v2/server/registry", json={**body, "server_name": f"bench{i}"}
                )

            def lookup(session: requests.Session, i: int) -> requests.Response:
                return session.get(
                    f"{base}/v2/server/service/query",
                    params={"server_name": f"bench{i % 100}", "service_name": "upload"},
                )

            drive("warm-up", register, 200, clients, limit)
            results.append(drive("registrations (v2 server)", register, n, clients, limit))
            for i in range(100):
                requests.post(
                    f"{base}/v2/server/service/registry",
                    json={"server_name": f"bench{i}", "service_name": "upload", "uri": "/up"},
                ).raise_for_status()
            results.append(drive("lookups (v2 service query)", lookup, n, clients, limit))

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {clients} client threads, "
        f"SQLite, one uvicorn worker"
    )
    for result in results:
        print(result.line())
    ceiling = results[0]
    for result in results[1:]:
        print(
            f"{result.name}: {result.per_second / ceiling.per_second:.0%} of the noop route's "
            f"throughput, p50 {result.quantile(0.5) / ceiling.quantile(0.5):.1f}x its latency"
        )


if __name__ == "__main__":
    main()
