"""The grants plugin's decisions: unlimited grants (decided from memory, inline) and grants with
max_uses (each new job counted in the database, in a worker thread).

    python benchmarks/bench_grants.py [--calls 20000] [--rounds 5] [--pg URL]

(a) permission decisions/s through ``Dispatcher`` (cache off, so the plugin decides each
    time), the party's grants unlimited; run it with an earlier build on PYTHONPATH to compare
    (``PYTHONPATH=OTHER/core:OTHER/plugins python benchmarks/bench_grants.py --only unlimited``).
(b) the same with a grant of max_uses, a new job id each decision: one transaction each,
    on SQLite and, with ``--pg``, PostgreSQL.
The audit trail is off: what is measured is the decision.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_args import positive_int

from fate_registry import Registry, Settings
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import build_plugin_manager

REQUEST: dict[str, Any] = {
    "src_role": "guest",
    "src_party_id": "9999",
    "role": "host",
    "party_id": "10000",
    "component_list": ["reader", "dataio", "intersection", "heterolr", "evaluation"],
    "dataset_list": [{"namespace": "experiment", "name": "breast_hetero_host"}],
}


def hooks_on(db_url: str) -> tuple[Registry, Dispatcher]:
    fields: dict[str, Any] = {
        "db_url": db_url,
        "grants": {"enabled": True},
        "hooks": {"permission": {"cache": False, "chain": ["grants"]}},
    }
    if "audit" in Settings.model_fields:
        fields["audit"] = {"enabled": False}
    registry = Registry(db_url, settings=Settings(**fields))
    return registry, Dispatcher(registry, plugins=build_plugin_manager(load={"grants"}))


def rate(call: Any, calls: int, rounds: int) -> list[float]:
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        rates.append(calls / (time.perf_counter() - started))
    return rates


def show(label: str, rates: list[float]) -> None:
    print(
        f"  {label}: {statistics.median(rates):,.0f} decisions/s "
        f"(rounds {min(rates):,.0f} to {max(rates):,.0f})"
    )


def unlimited(db_url: str, calls: int, rounds: int) -> None:
    registry, hooks = hooks_on(db_url)
    registry.grants.grant("9999", components=["*"], datasets=["experiment:*"])
    assert hooks.permission(REQUEST).allowed
    show("unlimited grants", rate(lambda: hooks.permission(REQUEST), calls, rounds))
    hooks.close()
    registry.close()


def limited(db_url: str, label: str, calls: int, rounds: int) -> None:
    registry, hooks = hooks_on(db_url)
    registry.grants.grant("9999", components=["*"], datasets=["experiment:*"], max_uses=10**9)
    jobs = itertools.count()

    def decide() -> None:
        outcome = hooks.permission({**REQUEST, "job_id": f"job{next(jobs)}"})
        assert outcome.allowed, outcome.message

    show(f"max_uses, a new job each time, {label}", rate(decide, calls, rounds))
    hooks.close()
    registry.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=positive_int, default=20000)
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--pg", metavar="URL", help="also on this PostgreSQL database (emptied)")
    parser.add_argument("--only", choices=("unlimited", "limited"), action="append", default=[])
    args = parser.parse_args()
    only = set(args.only) or {"unlimited", "limited"}
    print(f"python {sys.version.split()[0]}; fate_registry from {Registry.__module__!r} at "
          f"{sys.modules['fate_registry'].__file__}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        if "unlimited" in only:
            print("(a) unlimited")
            unlimited(f"sqlite:///{Path(tmp) / 'a.db'}", args.calls, args.rounds)
        if "limited" in only:
            print("(b) max_uses")
            limited(f"sqlite:///{Path(tmp) / 'b.db'}", "SQLite", args.calls // 10, args.rounds)
            if args.pg:
                from bench_audit import reset

                reset(args.pg)
                limited(args.pg, "PostgreSQL", args.calls // 10, args.rounds)


if __name__ == "__main__":
    main()
