"""Registry core: import 100,000 services, then warm resolve() next to a plain dict lookup.

    python benchmarks/bench_registry.py [--db URL] [--servers 10000] [--services 10]

Baselines measured in the same run: one-by-one register_service() calls (for the import), and a
dict lookup on the same keys (for resolve). Prints each figure and the ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_args import positive_int

from fate_registry import Registry, transfer


def document(servers: int, services: int) -> str:
    return json.dumps(
        {
            "version": 1,
            "servers": [
                {
                    "name": f"server-{s}",
                    "host": f"10.{s // 65536}.{s // 256 % 256}.{s % 256}",
                    "port": 8000 + s % 1000,
                    "services": [
                        {"name": f"svc-{v}", "uri": f"/v1/svc/{v}", "headers": {"X-Tenant": "a"}}
                        for v in range(services)
                    ],
                }
                for s in range(servers)
            ],
        }
    )


def per_op(loop: Callable[[], None], ops: int, repeats: int = 5) -> float:
    """Median seconds per operation over ``repeats`` runs of ``loop`` (which does ``ops``)."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        loop()
        samples.append((time.perf_counter() - start) / ops)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--servers", type=positive_int, default=10_000)
    parser.add_argument("--services", type=positive_int, default=10, help="services per server")
    parser.add_argument("--lookups", type=positive_int, default=200_000)
    parser.add_argument(
        "--single", type=positive_int, default=2_000, help="one-by-one registrations"
    )
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench-registry-")
    url = args.db or f"sqlite:///{Path(workdir) / 'registry.db'}"
    registry = Registry(url)
    total = args.servers * args.services
    print(f"database: {registry.engine.url.render_as_string(hide_password=True)}")

    # -- import -------------------------------------------------------------------------------
    text = document(args.servers, args.services)
    start = time.perf_counter()
    servers, services = transfer.import_document(registry, transfer.loads(text, "json"))
    import_seconds = time.perf_counter() - start
    assert (servers, services) == (args.servers, total)
    import_rate = total / import_seconds
    print(f"import: {total:,} services on {servers:,} servers in {import_seconds:.2f} s")

    registry.register_server("single", host="10.9.9.9", port=9000)
    start = time.perf_counter()
    for i in range(args.single):
        registry.register_service("single", f"svc-{i}", uri=f"/v1/{i}")
    single_rate = args.single / (time.perf_counter() - start)
    print(
        f"  baseline, register_service() one by one: {single_rate:,.0f} services/s "
        f"({args.single:,} calls); import: {import_rate:,.0f} services/s "
        f"= {import_rate / single_rate:.0f}x"
    )

    # -- resolve ------------------------------------------------------------------------------
    rng = random.Random(7)
    keys = [
        (f"SERVER-{rng.randrange(args.servers)}", f"svc-{rng.randrange(args.services)}")
        for _ in range(args.lookups)
    ]
    cold_keys = keys[:2_000]
    start = time.perf_counter()
    for server, service in cold_keys:
        registry.resolve(server, service)
    cold = (time.perf_counter() - start) / len(cold_keys)

    for server, service in keys:  # warm every key used below
        registry.resolve(server, service)
    table = {key: registry.resolve(*key) for key in keys}
    resolve = registry.resolve

    def warm() -> None:
        for server, service in keys:
            resolve(server, service)

    def plain_dict() -> None:
        for server, service in keys:
            table[(server, service)]

    warm_s = per_op(warm, len(keys))
    dict_s = per_op(plain_dict, len(keys))
    print(f"resolve() with {total:,} services registered, cache_ttl={registry.cache_ttl} s:")
    print(f"  cold (SQL):          {cold * 1e6:8.1f} us")
    print(f"  warm:                {warm_s * 1e6:8.3f} us  ({1 / warm_s:,.0f}/s)")
    print(f"  baseline, dict[key]: {dict_s * 1e6:8.3f} us  ({1 / dict_s:,.0f}/s)")
    print(f"  warm resolve / dict lookup = {warm_s / dict_s:.1f}x")
    registry.close()


if __name__ == "__main__":
    main()
