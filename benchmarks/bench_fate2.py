"""What reading a FATE Flow 2.x request costs the gateway, next to a 1.x one.

    python benchmarks/bench_fate2.py [--tasks 10] [--calls 2000] [--rounds 7]

``/v1/hook/<capability>`` validates 1.x's request; ``/v2/hook/<capability>`` validates 2.x's
(``fate2``) and maps it onto the same request (``contract()``). Client authentication, which
FATE Flow asks on every client request: the same signed request in each line's shape.
Permission, asked once per job and party: a job of ``--tasks`` tasks in each line's shape, every
2.x task reading one table as a ``data_warehouse`` input, so that the DAG walk is measured at
its longest. Rounds are interleaved; prints each variant's median per call, the range of its
rounds, and its ratio to the 1.x request of the same capability.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_args import positive_int

from fate_registry.capabilities import ClientAuthenticationRequest, PermissionRequest
from fate_registry.fate2 import ClientAuthentication2, Permission2

PARTIES = [
    {"role": "guest", "party_id": ["9999"]},
    {"role": "host", "party_id": ["10000"]},
    {"role": "arbiter", "party_id": ["10000"]},
]


def request_1x(tasks: int) -> bytes:
    components = {f"task_{i}": {"module": "HeteroLR", "input": {"data": {}}} for i in range(tasks)}
    return json.dumps(
        {
            "src_role": None,
            "src_party_id": "9999",
            "role": "host",
            "party_id": "10000",
            "initiator": {"role": "guest", "party_id": 9999},
            "roles": {"guest": [9999], "host": [10000], "arbiter": [10000]},
            "component_list": ["reader", "intersection", "heterolr"],
            "dataset_list": [{"namespace": "experiment", "name": "breast_hetero_host"}],
            "run_time_conf": {"job_parameters": {"common": {"task_parallelism": 2}}},
            "dsl": {"components": components},
            "component_parameters": {"role": {"host": {"0": {}}}},
        }
    ).encode()


def request_2x(tasks: int) -> bytes:
    warehouse = {"data": {"input_data": {"data_warehouse": {"namespace": "ns", "name": "t"}}}}
    dag = {
        "parties": PARTIES,
        "conf": {"initiator_party_id": "9999", "scheduler_party_id": "9999"},
        "tasks": {
            f"task_{i}": {"component_ref": "coordinated_lr", "inputs": warehouse, "parameters": {}}
            for i in range(tasks)
        },
    }
    return json.dumps(
        {
            "party_id": "9999",
            "roles": PARTIES,
            "component_list": ["coordinated_lr", "psi", "reader"],
            "dataset_list": [{"namespace": "experiment", "name": "breast_hetero_host"}],
            "dag_schema": {"dag": dag, "schema_version": "2.2.0", "kind": "fate"},
            "component_parameters": {"coordinated_lr": {}, "psi": {}, "reader": {}},
            "dest_role": "host",
            "dest_party_id": "10000",
            "job_id": "202401010000000000001",
        }
    ).encode()


def client_requests() -> tuple[bytes, bytes]:
    headers = {
        "Content-Type": "application/json",
        "Timestamp": "1700000000000",
        "Nonce": "1234",
        "Signature": "0123456789abcdef0123456789abcdef",
    }
    common = {"form": {}, "data": '{"job_id": "j"}', "json": {"job_id": "j"}}
    one = {**common, "full_path": "/v1/job/stop?", "headers": {**headers, "App-Key": "app"}}
    two = {
        **common,
        "path": "/v2/job/stop",
        "method": "POST",
        "full_path": "/v2/job/stop?",
        "headers": {**headers, "Appid": "app", "Username": ""},
    }
    return json.dumps(one).encode(), json.dumps(two).encode()


def per_call(call: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=positive_int, default=10)
    parser.add_argument("--calls", type=positive_int, default=2000)
    parser.add_argument("--rounds", type=positive_int, default=7)
    args = parser.parse_args()
    client_1x, client_2x = client_requests()
    job_1x, job_2x = request_1x(args.tasks), request_2x(args.tasks)
    variants: dict[str, Callable[[], Any]] = {
        "client_authentication 1.x": lambda: ClientAuthenticationRequest.model_validate_json(
            client_1x
        ),
        "client_authentication 2.x": lambda: ClientAuthentication2.model_validate_json(
            client_2x
        ).contract(),
        "permission 1.x": lambda: PermissionRequest.model_validate_json(job_1x),
        "permission 2.x": lambda: Permission2.model_validate_json(job_2x).contract(),
    }
    for call in variants.values():
        per_call(call, 200)  # warm up
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, call in variants.items():
            rounds[name].append(per_call(call, args.calls))
    print(f"{args.rounds} rounds of {args.calls} calls; jobs of {args.tasks} tasks "
          f"({len(job_1x)} and {len(job_2x)} bytes)")  # fmt: skip
    for name, times in rounds.items():
        median = statistics.median(times)
        base = statistics.median(rounds[name.replace("2.x", "1.x")])
        print(
            f"{name:27} {median * 1e6:7.1f} µs/call  (rounds {min(times) * 1e6:.1f} to "
            f"{max(times) * 1e6:.1f})  x{median / base:.2f}"
        )


if __name__ == "__main__":
    main()
