"""``fate-registry audit`` and ``GET /audit``: the gateway's decisions listed locally and over
--url, exported as JSON lines and CSV, the chain verified; read protection on the route."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_support import clear_settings, error_line, invoke, ok
from http_support import client_for
from serve_process import Served, serve
from sqlalchemy import text
from waiting import wait_until

from fate_registry import Registry

TOKEN = "audit-test-token-0123456789"
FATE1 = {  # FATE Flow 1.11's permission request: no job id
    "src_role": None,
    "src_party_id": "9999",
    "role": "host",
    "party_id": "10000",
    "roles": {"guest": [9999], "host": [10000]},
    "component_list": ["reader", "heterolr"],
    "dataset_list": [{"namespace": "experiment", "name": "breast_hetero_host"}],
}
FATE2 = {  # 2.x's, as contrib/fate-flow-hooks sends it
    "party_id": "9999",
    "roles": [{"role": "guest", "party_id": ["9999"]}, {"role": "host", "party_id": ["10000"]}],
    "component_list": ["psi"],
    "dataset_list": [{"namespace": "experiment", "name": "h"}],
    "dest_role": "host",
    "dest_party_id": "10000",
    "job_id": "202601010000001",
}
SERVE_ENV = {
    "FATE_REGISTRY_GRANTS__ENABLED": "true",
    "FATE_REGISTRY_HOOKS__PERMISSION__CHAIN": "grants",
    "FATE_REGISTRY_AUDIT__FLUSH_INTERVAL": "0.05",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings(monkeypatch)


@pytest.fixture
def served(sqlite_url: str) -> Iterator[Served]:
    """A serve that has decided three permissions through its gateway: a 1.x allow, a 1.x deny
    and a 2.x allow, all written to the audit trail."""
    with Registry(sqlite_url) as registry:
        registry.grants.grant("9999", components=["reader", "heterolr", "psi"], datasets=["*"])
    with serve(sqlite_url, env=SERVE_ENV) as running:
        allowed = requests.post(f"{running.url}/v1/hook/permission", json=FATE1, timeout=10)
        denied = requests.post(
            f"{running.url}/v1/hook/permission",
            json={**FATE1, "component_list": ["homo_nn"]},
            timeout=10,
        )
        second = requests.post(f"{running.url}/v2/hook/permission", json=FATE2, timeout=10)
        assert (allowed.json()["code"], denied.json()["code"], second.json()["code"]) == (0, 108, 0)
        wait_until(lambda: len(listed("--db", sqlite_url)) == 3, "the decisions written")
        yield running


def listed(*args: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(
        ok(invoke(*args, "audit", "list", "-o", "json")).stdout
    )
    return records


def test_the_gateways_decisions_are_listed_with_their_fields(
    served: Served, sqlite_url: str
) -> None:
    local = listed("--db", sqlite_url)
    remote = listed("--url", served.url)

    assert remote == local
    two, denied, one = local  # newest first
    assert (two["job_id"], two["components"], two["datasets"]) == (
        "202601010000001",
        ["psi"],
        ["experiment:h"],
    )
    assert (two["src_party"], two["src_role"], two["dest_party"], two["role"]) == (
        "9999",
        "guest",
        "10000",
        "host",
    )
    assert (denied["result"], denied["code"], denied["plugin"]) == ("deny", 108, "grants")
    assert (one["result"], one["job_id"], one["components"]) == (
        "allow",
        None,
        ["reader", "heterolr"],
    )
    plain = ok(invoke("--db", sqlite_url, "audit", "list", "--result", "deny")).stdout
    assert plain.split("\t")[2:8] == ["permission", "9999", "10000", "-", "deny", "108"]


def test_listing_filters_over_url_as_locally(served: Served, sqlite_url: str) -> None:
    for filters in (
        ("--party", "09999"),
        ("--job", "202601010000001"),
        ("--result", "deny"),
        ("--capability", "signature"),
        ("--since", "1h"),
        ("--limit", "1"),
    ):
        local = json.loads(
            ok(invoke("--db", sqlite_url, "audit", "list", *filters, "--json")).stdout
        )
        remote = json.loads(
            ok(invoke("--url", served.url, "audit", "list", *filters, "--json")).stdout
        )
        assert local == remote, filters
    newest = listed("--url", served.url)[0]["seq"]
    page = json.loads(
        ok(invoke("--url", served.url, "audit", "list", "--before", str(newest), "--json")).stdout
    )
    assert [r["seq"] for r in page] == [newest - 1, newest - 2]


def test_export_writes_json_lines_and_csv(served: Served, sqlite_url: str, tmp_path: Path) -> None:
    lines = ok(invoke("--url", served.url, "audit", "export")).stdout.splitlines()
    assert [json.loads(line) for line in lines] == listed("--db", sqlite_url)

    target = tmp_path / "audit.csv"
    result = ok(invoke("--db", sqlite_url, "audit", "export", "-o", "csv", "--file", str(target)))
    assert "exported 3 record(s)" in result.stderr
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [row["result"] for row in rows] == ["allow", "deny", "allow"]
    assert json.loads(rows[2]["components"]) == ["reader", "heterolr"]


def test_a_bad_filter_names_its_option_and_writes_no_file(sqlite_url: str, tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    line = error_line(
        invoke("--db", sqlite_url, "audit", "export", "--party", "ten", "--file", str(target)), 2
    )
    assert line == "error: --party: 'ten' is not a party id: a decimal integer such as 10000"
    assert [path.name for path in tmp_path.iterdir()] == ["registry.db"]  # no file, no partial
    line = error_line(invoke("--db", sqlite_url, "audit", "list", "--since", "yesterday"), 2)
    assert line == (
        "error: --since: must be an ISO 8601 time such as 2026-01-31T12:00:00Z, or a duration "
        "ago such as 30m, 24h or 7d"
    )


def test_verify_finds_a_record_edited_by_hand(served: Served, sqlite_url: str) -> None:
    held = ok(invoke("--db", sqlite_url, "audit", "verify"))
    assert held.stdout.startswith("the audit chain holds: records 1 to 3, 3 checked")

    with Registry(sqlite_url) as registry, registry.engine.begin() as conn:
        conn.execute(text("UPDATE fr_audit SET result = 'allow' WHERE seq = 2"))
    broken = invoke("--db", sqlite_url, "audit", "verify", "-o", "json")

    assert broken.exit_code == 1
    report = json.loads(broken.stdout)
    assert report["ok"] is False
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(2, "changed")]


def test_verify_is_not_offered_over_url(served: Served) -> None:
    line = error_line(invoke("--url", served.url, "audit", "verify"), 2)
    assert "reads every record and needs audit.key" in line


def test_the_route_is_behind_the_read_protection(sqlite_url: str) -> None:
    settings = {"admin_tokens": [TOKEN], "protect_reads": True}
    with client_for(sqlite_url, **settings) as (client, registry):
        assert client.get("/audit").status_code == 401
        registry.audit.flush()
        reply = client.get("/audit", headers={"Authorization": f"Bearer {TOKEN}"})
        assert reply.status_code == 200 and reply.json()["next_before"] is None
        # the refused read was asked of the client_authentication chain: a decision, recorded
        assert [r["capability"] for r in reply.json()["records"]] == ["client_authentication"]
        bad = client.get(
            "/audit", params={"party": "x"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert bad.status_code == 400 and "party" in bad.text


def test_the_routes_choices_are_the_capabilities_and_results() -> None:
    from typing import get_args

    from fate_registry.capabilities import DECISIONS
    from fate_registry.http.audit import Decision, Result
    from fate_registry.recording import RESULTS

    assert (get_args(Decision), get_args(Result)) == (DECISIONS, RESULTS)
