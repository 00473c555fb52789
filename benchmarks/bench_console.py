"""The console's pages at scale: each page's server time with 1,000 servers and 5,000 services.

    python benchmarks/bench_console.py [--servers 1000] [--per-server 5] [--requests 20]

Fills a SQLite database with ``servers`` servers and ``per-server`` services each (every
service with an HTTP check and a stored result, a tenth of them critical), 50 public keys and
2,000 grants, runs ``fate-registry serve`` on it (checks off, so the results stay as written)
and asks each page's content (``/ui/fragment/<page>``, what the page's script fetches) ``requests``
times over a kept-alive connection on loopback. Prints p50 and the slowest per page; the goal
is under 300 ms. ``/healthz`` in the same run gives the floor of a request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from bench_args import positive_int
from bench_dispatch import free_port
from bench_health import start_serve

from fate_registry import Registry
from fate_registry.models import ServerRegistration, ServiceRegistration
from fate_registry.store.health import SERVER_CHECK, CheckResult, HealthStore

GOAL_MS = 300.0
PAGES = (
    "/healthz",
    "/ui/fragment/overview",
    "/ui/fragment/services",
    "/ui/fragment/services?page=50",
    "/ui/fragment/services?status=critical",
    "/ui/fragment/services?q=s00500",
    "/ui/fragment/servers",
    "/ui/fragment/servers?status=critical&page=2",
    "/ui/fragment/decisions",
    "/ui/fragment/keys",
    "/ui/fragment/grants",
    "/ui/fragment/grants?q=10042",
    "/status",
)


def fill(db_url: str, servers: int, per_server: int) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from fate_registry.keys import public_pem

    with Registry(db_url) as registry:
        registry.register_many(
            [ServerRegistration(name=f"S{i:05}", host="10.0.0.1", port=8000 + i % 1000)
             for i in range(servers)],
            [ServiceRegistration(server_name=f"S{i:05}", service_name=f"svc{j}", uri="/call",
                                 check={"path": "/health"})
             for i in range(servers) for j in range(per_server)],
        )  # fmt: skip
        at = datetime.now(UTC).replace(microsecond=0)
        results = {}
        for i in range(servers):
            status = "critical" if i % 10 == 0 else "passing"
            results[(f"S{i:05}", SERVER_CHECK)] = CheckResult(status, "TCP connect", 0.001, at, at)
            for j in range(per_server):
                results[(f"S{i:05}", f"svc{j}")] = CheckResult(
                    status, "HTTP GET /health: 200 OK", 0.002, at, at
                )
        HealthStore(registry.engine).save_results(results)
        pem = public_pem(
            rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        )
        for party in range(50):
            registry.keys.import_public(str(9000 + party), pem)
        for party in range(200):
            registry.grants.grant(str(10000 + party), components=[f"c{k}" for k in range(10)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=positive_int, default=1000)
    parser.add_argument("--per-server", type=positive_int, default=5)
    parser.add_argument("--requests", type=positive_int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'registry.db'}"
        fill(db_url, args.servers, args.per_server)
        port = free_port()
        serve = start_serve(db_url, port, {"FATE_REGISTRY_HEALTH__ENABLED": "false"})
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        try:
            for _ in range(3):  # warm-up: plugins, templates, connections
                for page in PAGES:
                    session.get(base + page, timeout=60).raise_for_status()
            timings: dict[str, list[float]] = {page: [] for page in PAGES}
            for _ in range(args.requests):  # interleaved: load falls on every page alike
                for page in PAGES:
                    started = time.perf_counter()
                    session.get(base + page, timeout=60).raise_for_status()
                    timings[page].append((time.perf_counter() - started) * 1000)
        finally:
            serve.terminate()
            serve.wait(10)
    print(
        f"python {sys.version.split()[0]}, {args.servers:,} servers, "
        f"{args.servers * args.per_server:,} services, 2,000 grants, 50 keys; "
        f"{args.requests} requests per page, loopback, load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'page':46} {'p50 ms':>8} {'max ms':>8}")
    for page, values in timings.items():
        slowest = max(values)
        mark = "" if page == "/healthz" or slowest < GOAL_MS else f"  (over {GOAL_MS:g} ms)"
        print(f"{page:46} {statistics.median(values):8.1f} {slowest:8.1f}{mark}")


if __name__ == "__main__":
    main()
