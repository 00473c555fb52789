"""A PostgreSQL hang of 10 s behind a proxy, under load: how long requests take to fail during it,
whether /healthz stays quick, and how soon after the database is back the first request succeeds;
with the default ``db_*`` timeouts and with the old behaviour (the drivers' defaults: psycopg's
130 s connect timeout, no statement timeout, SQLAlchemy's 30 s pool timeout) in the same run.

    python benchmarks/bench_db_outage.py --db postgresql://postgres@127.0.0.1:5432/test_h3 \\
        [--runs 3] [--clients 20] [--hang 10] [--observe 60]

``fate-registry serve`` runs in its own process with its database URL pointed at a TCP proxy
(tests/tcp_proxy.py, asyncio) in this process. ``--clients`` threads each loop
``GET /v2/server/query/all`` (one read of the database per request) while one more probes
``/healthz`` every 50 ms. After 3 s of warm-up the proxy hangs for ``--hang`` seconds: it forwards
nothing, keeps every connection open and accepts new ones without answering; connections caught
in the hang stay silent afterwards (as behind a NAT that lost their state). Then it forwards new
connections again, and the run watches for ``--observe`` seconds at most for the first success.
The database's own tables are the registry's: use a database of your own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from bench_args import positive_float, positive_int
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from tcp_proxy import TcpProxy  # a helper of the test suite, shared

DEFAULTS: dict[str, str] = {}  # the settings' defaults
OLD = {  # what the drivers do when nothing is set
    "FATE_REGISTRY_DB_CONNECT_TIMEOUT": "130",
    "FATE_REGISTRY_DB_STATEMENT_TIMEOUT": "3600",
    "FATE_REGISTRY_DB_POOL_TIMEOUT": "30",
}
WARM_UP = 3.0


@dataclass
class Request:
    started: float
    ended: float
    ok: bool


@dataclass
class Run:
    hang_at: float = 0.0
    back_at: float = 0.0
    requests: list[Request] = field(default_factory=list)
    health: list[Request] = field(default_factory=list)
    stuck: int = 0  # requests begun before the return and still waiting when the run ended

    def first_success_after_return(self) -> float | None:
        ends = [r.ended for r in self.requests if r.ok and r.ended >= self.back_at]
        return min(ends) - self.back_at if ends else None

    def failures_in_hang(self) -> list[float]:
        return [
            r.ended - r.started
            for r in self.requests
            if not r.ok and self.hang_at <= r.started < self.back_at
        ]

    def health_in_hang_ms(self) -> list[float]:
        return [
            (r.ended - r.started) * 1000
            for r in self.health
            if self.hang_at <= r.started < self.back_at
        ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    script = shutil.which("fate-registry", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "fate_registry.cli"]


@contextmanager
def serving(db_url: str, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [*_command(), "serve", "--db", db_url, "--port", str(port), "--log-level", "error"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not start (exit {process.poll()})")
            try:
                if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not up yet, or slow under load
                pass
            time.sleep(0.1)
        yield base
    finally:
        process.kill()  # a graceful stop would wait for requests stuck on the database
        process.wait()


def one_run(db_url: str, env: dict[str, str], clients: int, hang: float, observe: float) -> Run:
    run = Run()
    upstream = make_url(db_url)
    with TcpProxy(upstream.host or "127.0.0.1", upstream.port or 5432) as proxy:
        proxied = proxy.url(db_url).render_as_string(hide_password=False)
        with serving(proxied, env) as base:
            body = {"server_name": "bench", "host": "10.0.0.1", "port": 1}
            requests.post(f"{base}/v2/server/registry", json=body, timeout=10).raise_for_status()
            stop = threading.Event()
            in_flight: dict[int, float] = {}  # thread -> when its current request began
            lock = threading.Lock()

            def client() -> None:
                session = requests.Session()
                while not stop.is_set():
                    started = time.monotonic()
                    with lock:
                        in_flight[threading.get_ident()] = started
                    try:
                        reply = session.get(
                            f"{base}/v2/server/query/all", timeout=(5, hang + observe + 30)
                        )
                        ok = reply.status_code == 200
                    except requests.RequestException:
                        ok = False
                    ended = time.monotonic()
                    with lock:
                        del in_flight[threading.get_ident()]
                        run.requests.append(Request(started, ended, ok))
                    if not ok:
                        stop.wait(0.05)  # as a client backs off a little after an error

            def health() -> None:
                session = requests.Session()
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        ok = session.get(f"{base}/healthz", timeout=30).status_code == 200
                    except requests.RequestException:
                        ok = False
                    run.health.append(Request(started, time.monotonic(), ok))
                    stop.wait(0.05)

            threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
            threads.append(threading.Thread(target=health, daemon=True))
            for thread in threads:
                thread.start()
            time.sleep(WARM_UP)
            run.hang_at = time.monotonic()
            proxy.hang()
            time.sleep(hang)
            run.back_at = time.monotonic()
            proxy.resume()
            deadline = run.back_at + observe
            while time.monotonic() < deadline and run.first_success_after_return() is None:
                time.sleep(0.05)
            time.sleep(1.0)  # a little of the recovery itself
            stop.set()
            with lock:
                run.stuck = sum(started < run.back_at for started in in_flight.values())
    return run  # serve is gone and the proxy closed: the stuck clients fail and exit


def _seconds(value: float | None, observe: float) -> str:
    return f"{value:6.2f} s" if value is not None else f"none in {observe:g} s"


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=os.environ.get("FATE_REGISTRY_TEST_POSTGRES_URL"))
    parser.add_argument("--runs", type=positive_int, default=3)
    parser.add_argument("--clients", type=positive_int, default=20)
    parser.add_argument("--hang", type=positive_float, default=10.0)
    parser.add_argument("--observe", type=positive_float, default=60.0)
    parser.add_argument(
        "--skip-old", action="store_true", help="measure the defaults only (no ratio)"
    )
    args = parser.parse_args()
    if not args.db:
        raise SystemExit("--db postgresql://... (or FATE_REGISTRY_TEST_POSTGRES_URL) is required")

    first: dict[str, list[float | None]] = {"old (no timeouts)": []}
    configurations = [("defaults", DEFAULTS), ("old (no timeouts)", OLD)]
    for name, env in configurations[: 1 if args.skip_old else 2]:
        first[name] = []
        for number in range(1, args.runs + 1):
            run = one_run(args.db, env, args.clients, args.hang, args.observe)
            recovered = run.first_success_after_return()
            first[name].append(recovered)
            failures = run.failures_in_hang()
            health = run.health_in_hang_ms()
            health.sort()
            print(
                f"{name:<18} run {number}: first success {_seconds(recovered, args.observe)} "
                f"after the return; failures in the hang {len(failures):>4}, "
                f"took min/median/max {_spread(failures)} s; "
                f"/healthz in the hang p50 {health[len(health) // 2]:.1f} ms "
                f"p99 {health[int(len(health) * 0.99)]:.1f} ms max {health[-1]:.1f} ms "
                f"({len(health)} probes); begun before the return, still waiting: {run.stuck}",
                flush=True,
            )
    ours = [value for value in first["defaults"] if value is not None]
    old = first["old (no timeouts)"]
    print(
        f"first success after the return, min/median/max over {args.runs} runs: defaults "
        f"{_spread(ours)} s; old: "
        + (", ".join(_seconds(value, args.observe).strip() for value in old) or "not run")
    )
    if not old:
        return
    if ours and all(value is None for value in old):
        print(
            f"ratio: old/defaults > {args.observe / statistics.median(ours):.0f}x "
            "(the old behaviour did not recover within the observation window)"
        )
    elif ours and all(value is not None for value in old):
        old_median = statistics.median([value for value in old if value is not None])
        print(f"ratio: old/defaults = {old_median / statistics.median(ours):.0f}x")


if __name__ == "__main__":
    main()
