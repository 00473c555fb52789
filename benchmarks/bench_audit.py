"""The decision audit trail: what it costs a decision, how fast it writes, how fast it lists.

    python benchmarks/bench_audit.py [--calls 2000] [--rounds 5] [--pg URL] [--records 1000000]

(a) Gateway decisions/s with the audit trail on and off: two ``serve`` processes on one
    database, one with ``audit.enabled = false``, asked FATE Flow 1.11's permission request by
    8 keep-alive callers in interleaved rounds (on, off, on, off, ...); the grants plugin
    decides, the cache off (every decision computed) and on (the cheapest decision there is).
    On SQLite and, with ``--pg``, PostgreSQL. Ratio on/off per round: median and spread.
(b) In process: the recorder's hot path (cached decisions through ``Dispatcher`` with the
    audit trail's sink and without, as bench_dispatch.py (d)); and a sustained run of
    decisions as fast as one thread makes them, with what was written and dropped.
(c) Rows written per second: ``AuditStore.append`` in batches of 1000 (what the writer
    does), and the writer end to end (decisions queued, then flushed).
(d) ``audit list`` over ``--records`` records (30 days, 50 parties): a party's last day, a
    capability's last hour, one job, the newest page; and ``audit verify`` of them all.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from bench_args import positive_int
from bench_dispatch import per_call, run_calls
from bench_gateway import PERMISSION, keep_alive, start_serve

from fate_registry import Registry, Settings
from fate_registry.audit.records import Chain, content_of
from fate_registry.audit.trail import AuditTrail
from fate_registry.capabilities import PermissionRequest
from fate_registry.dispatch import Dispatcher, Outcome
from fate_registry.metrics import AuditMetrics
from fate_registry.plugins import build_plugin_manager
from fate_registry.store.audit import AuditStore

PARTIES = [str(10000 + i) for i in range(50)]
DAY = 86400.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reset(url: str) -> None:
    """An empty database at ``url`` (a server's: its tables dropped)."""
    if url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine, text

    from fate_registry.schema import VERSION_TABLE
    from fate_registry.store import metadata, normalise_url

    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
    engine.dispose()


def spread(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.3f}x (rounds {min(ratios):.3f} to {max(ratios):.3f})"


# -- (a) the gateway ---------------------------------------------------------------------------


def gateway(db_url: str, label: str, calls: int, rounds: int, callers: int) -> None:
    reset(db_url)
    with Registry(db_url) as registry:
        registry.grants.grant("9999", components=["*"], datasets=["*"])
    base = {
        "FATE_REGISTRY_GRANTS__ENABLED": "true",
        "FATE_REGISTRY_HOOKS__PERMISSION__CHAIN": "grants",
        "FATE_REGISTRY_HEALTH__ENABLED": "false",
    }
    for cache in ("false", "true"):
        env = {**base, "FATE_REGISTRY_HOOKS__PERMISSION__CACHE": cache}
        ports = {"on": free_port(), "off": free_port()}
        processes = [
            start_serve(db_url, ports["on"], env),
            start_serve(db_url, ports["off"], {**env, "FATE_REGISTRY_AUDIT__ENABLED": "false"}),
        ]
        try:
            calls_of = {
                name: keep_alive(f"http://127.0.0.1:{port}/v1/hook/permission")
                for name, port in ports.items()
            }
            for call in calls_of.values():
                for _ in range(200):
                    call()
            rates: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(rounds):
                for name in ("on", "off"):
                    elapsed, latencies = run_calls(calls_of[name], calls, callers)
                    rates[name].append(len(latencies) / elapsed)
            ratios = [on / off for on, off in zip(rates["on"], rates["off"], strict=True)]
            counts = metric_values(f"http://127.0.0.1:{ports['on']}/metrics")
            print(
                f"  {label}, cache {'on ' if cache == 'true' else 'off'}: "
                f"audit on {statistics.median(rates['on']):6.0f}/s, "
                f"off {statistics.median(rates['off']):6.0f}/s: on/off {spread(ratios)}; "
                f"{counts.get('fate_registry_audit_written_total', 0):,.0f} written, "
                f"{counts.get('fate_registry_audit_dropped_total', 0):,.0f} dropped"
            )
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(10)


def metric_values(url: str) -> dict[str, float]:
    """The unlabelled samples of a /metrics page."""
    found = {}
    for line in requests.get(url, timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            found[name] = float(value)
    return found


# -- (b) in process ----------------------------------------------------------------------------


def in_process(db_url: str, label: str, calls: int) -> None:
    reset(db_url)
    settings = Settings(
        db_url=db_url,
        grants={"enabled": True},
        hooks={"permission": {"chain": ["grants"]}},
        audit={"queue_size": 100_000},
    )
    with Registry(settings=settings) as registry:
        registry.grants.grant("9999", components=["*"], datasets=["*"])
        hooks = Dispatcher(registry, plugins=build_plugin_manager(load={"grants"}))
        request = PermissionRequest.model_validate(PERMISSION)
        hooks.permission(request)
        trail = hooks.recorder.durable
        rounds: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(7):
            for name, durable in (("without", None), ("with", trail)):
                hooks.recorder.durable = durable
                rounds[name].append(per_call(lambda: hooks.permission(request), calls))
            registry.audit.flush(60)
        ratios = [w / a for a, w in zip(rounds["with"], rounds["without"], strict=True)]
        bare, kept = (statistics.median(rounds[n]) for n in ("without", "with"))
        print(
            f"  {label}: cached decisions {1 / bare:,.0f}/s without the trail's sink, "
            f"{1 / kept:,.0f}/s with it: {spread(ratios)}, {(kept - bare) * 1e6:.2f} us a decision"
        )

        # The sink alone, as the decision's thread pays it (no writer running meanwhile).
        alone = AuditTrail(
            AuditStore(registry.engine), settings.audit, Chain(), AuditMetrics(), time.time
        )
        alone._thread = threading.current_thread()  # never started: nothing drains it
        alone._limit = 10**9  # and never full
        outcome = Outcome("permission", "x", True, 0, "ok", "grants")
        cost = per_call(lambda: alone(outcome, request, 0.0), calls) * 1e6
        print(f"  {label}: the sink's call on the decision's thread: {cost:.2f} us")

        hooks.recorder.durable = trail
        metrics = registry.audit.trail.metrics if registry.audit.trail else None
        assert metrics is not None
        written0, dropped0 = metrics.written._value.get(), metrics.dropped._value.get()
        started = time.perf_counter()
        made = 0
        while time.perf_counter() - started < 5:
            for _ in range(1000):
                hooks.permission(request)
            made += 1000
        elapsed = time.perf_counter() - started
        registry.audit.flush(120)
        written = metrics.written._value.get() - written0
        dropped = metrics.dropped._value.get() - dropped0
        print(
            f"  {label}: one thread deciding for 5 s: {made / elapsed:,.0f} decisions/s, "
            f"{written:,.0f} written, {dropped:,.0f} dropped (queue of 100,000)"
        )
        hooks.close()


# -- (c) rows written --------------------------------------------------------------------------


def contents(
    count: int, start: float, span: float, seed: int = 1, first: int = 0
) -> list[tuple[Any, ...]]:
    """``count`` permission decisions spread over ``span`` seconds from ``start``, in order;
    job ids numbered from ``first``."""
    rng = random.Random(seed)
    request = PermissionRequest.model_validate(PERMISSION)
    made = []
    for i in range(count):
        party = rng.choice(PARTIES)
        allowed = rng.random() < 0.9
        outcome = Outcome(
            "permission", f"bench-{i:x}", allowed, 0 if allowed else 108, "", "grants", elapsed=4e-4
        )
        content = content_of(outcome, request, start + span * i / count)
        made.append((content[0], content[1], content[2], party, *content[4:7],
                     f"2026{first + i:012d}", *content[8:]))  # fmt: skip
    return made


def rows_written(db_url: str, label: str) -> None:
    reset(db_url)
    with Registry(db_url, settings=Settings(db_url=db_url)) as registry:
        store = AuditStore(registry.engine)
        batch = contents(1000, time.time(), 1.0)
        rates = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(10):
                store.append(batch, Chain())
            rates.append(10_000 / (time.perf_counter() - started))
        print(
            f"  {label}: AuditStore.append, batches of 1000: {statistics.median(rates):,.0f} "
            f"rows/s (rounds {min(rates):,.0f} to {max(rates):,.0f})"
        )
        hooks = Dispatcher(registry, plugins=build_plugin_manager(load=set(), entry_points=[]))
        trail = registry.audit.trail
        assert trail is not None
        request = PermissionRequest.model_validate(PERMISSION)
        outcome = Outcome("permission", "x", True, 0, "ok", "grants")
        rates = []
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(20_000):
                trail(outcome, request, time.time())
            trail.flush(120)
            rates.append(20_000 / (time.perf_counter() - started))
        print(
            f"  {label}: the writer end to end (20,000 queued, flushed): "
            f"{statistics.median(rates):,.0f} rows/s "
            f"(rounds {min(rates):,.0f} to {max(rates):,.0f})"
        )
        hooks.close()


# -- (d) listing a million ---------------------------------------------------------------------


def listing(db_url: str, label: str, records: int) -> None:
    reset(db_url)
    now = time.time()
    with Registry(db_url, settings=Settings(db_url=db_url)) as registry:
        store = AuditStore(registry.engine)
        started = time.perf_counter()
        chunk = 10_000
        for first in range(0, records, chunk):
            span = 30 * DAY
            part = contents(
                min(chunk, records - first),
                now - span + span * first / records,
                span * chunk / records,
                seed=first,
                first=first,
            )
            store.append(part, Chain())
        print(f"  {label}: {records:,} records written in {time.perf_counter() - started:.0f} s")
        audit = registry.audit
        queries: dict[str, Callable[[], list[Any]]] = {
            "a party's last day (--party 10007 --since 1d)": lambda: audit.list(
                party="10007", since="1d", limit=10_000
            ),
            "its newest 100 (--party 10007)": lambda: audit.list(party="10007"),
            "the last hour's denies (--result deny --since 1h)": lambda: audit.list(
                result="deny", since="1h", limit=10_000
            ),
            "one job (--job)": lambda: audit.list(job_id=f"2026{records // 2:012d}"),
            "the newest page (no filter)": lambda: audit.list(),
        }
        for name, query in queries.items():
            times = []
            for _ in range(7):
                started = time.perf_counter()
                found = query()
                times.append(time.perf_counter() - started)
            print(
                f"    {name:52} {len(found):6,} records: "
                f"p50 {statistics.median(times) * 1000:7.1f} ms (max {max(times) * 1000:.1f})"
            )
        started = time.perf_counter()
        report = audit.verify()
        print(
            f"    audit verify: {report.checked:,} records in "
            f"{time.perf_counter() - started:.1f} s, {'holds' if report.ok else 'BROKEN'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=positive_int, default=2000, help="per round and side")
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--callers", type=positive_int, default=8)
    parser.add_argument("--records", type=positive_int, default=1_000_000)
    parser.add_argument("--pg", metavar="URL", help="also on this PostgreSQL database (emptied)")
    parser.add_argument(
        "--only", choices=("gateway", "process", "rows", "list"), action="append", default=[]
    )
    args = parser.parse_args()
    only = set(args.only) or {"gateway", "process", "rows", "list"}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        backends = [("SQLite", f"sqlite:///{Path(tmp) / 'registry.db'}")]
        if args.pg:
            backends.append(("PostgreSQL", args.pg))
        if "gateway" in only:
            print(f"\n(a) gateway decisions/s, {args.callers} keep-alive callers, audit on vs off")
            for label, url in backends:
                gateway(url, label, args.calls, args.rounds, args.callers)
        if "process" in only:
            print("\n(b) in process")
            for label, url in backends:
                in_process(url.replace("registry.db", "process.db"), label, 20_000)
        if "rows" in only:
            print("\n(c) rows written")
            for label, url in backends:
                rows_written(url.replace("registry.db", "rows.db"), label)
        if "list" in only:
            print(f"\n(d) audit list over {args.records:,} records")
            for label, url in backends:
                listing(url.replace("registry.db", "list.db"), label, args.records)


if __name__ == "__main__":
    main()
