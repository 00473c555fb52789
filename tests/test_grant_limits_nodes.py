"""A grant with max_uses on a shared database, hammered through the gateways of two ``serve``
processes at once: exactly max_uses jobs are admitted, whichever node and FATE Flow line asks."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from serve_process import serve
from sqlalchemy import text
from waiting import wait_until

from fate_registry import Registry

pytestmark = pytest.mark.db

ENV = {
    "FATE_REGISTRY_GRANTS__ENABLED": "true",
    "FATE_REGISTRY_HOOKS__PERMISSION__CHAIN": "grants",
    "FATE_REGISTRY_AUDIT__FLUSH_INTERVAL": "0.05",
}
JOBS = 60  # distinct jobs asked for, 20 at a time, over both nodes and both lines


def fate1(job_id: str) -> dict[str, object]:
    return {
        "src_role": "guest",
        "src_party_id": "9999",
        "role": "host",
        "party_id": "10000",
        "component_list": ["reader"],
        "dataset_list": [{"namespace": "experiment", "name": "breast"}],
        "job_id": job_id,
    }


def fate2(job_id: str) -> dict[str, object]:
    return {
        "party_id": "9999",
        "roles": [{"role": "guest", "party_id": ["9999"]}, {"role": "host", "party_id": ["10000"]}],
        "component_list": ["reader"],
        "dataset_list": [{"namespace": "experiment", "name": "breast"}],
        "dest_role": "host",
        "dest_party_id": "10000",
        "job_id": job_id,
    }


def test_max_uses_3_admits_exactly_three_jobs_across_two_serve_processes(
    server_db_url: str,
) -> None:
    with Registry(server_db_url) as registry:
        registry.grants.grant("9999", components=["reader"], datasets=["experiment:*"], max_uses=3)
    with serve(server_db_url, env=ENV) as one, serve(server_db_url, env=ENV) as two:
        targets = itertools.cycle(
            [
                (f"{one.url}/v1/hook/permission", fate1),
                (f"{two.url}/v2/hook/permission", fate2),
                (f"{two.url}/v1/hook/permission", fate1),
                (f"{one.url}/v2/hook/permission", fate2),
            ]
        )
        asks = [
            (url, body(f"2026010100000{i:03d}"))
            for i, (url, body) in zip(range(JOBS), targets, strict=False)
        ]

        def ask(item: tuple[str, dict[str, object]]) -> int:
            url, body = item
            code: int = requests.post(url, json=body, timeout=30).json()["code"]
            return code

        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(ask, asks))

        with Registry(server_db_url) as registry:
            entries = {entry.value: entry for entry in registry.grants.entries("9999")}
            with registry.engine.connect() as conn:
                counted = conn.execute(text("SELECT COUNT(*) FROM fr_grant_use")).scalar()
            admitted = {asks[i][1]["job_id"] for i, code in enumerate(codes) if code == 0}
            wait_until(
                lambda: len(registry.audit.list(capability="permission", limit=1000)) == JOBS,
                "every decision in the audit trail",
            )
            audited = {r.job_id for r in registry.audit.list(result="allow", limit=1000)}

    assert codes.count(0) == 3, codes
    assert {code for code in codes if code} <= {108, 5005}  # 1.x's and 2.x's "no permission"
    assert (entries["reader"].uses, entries["experiment:*"].uses, counted) == (3, 3, 6)
    assert audited == admitted
