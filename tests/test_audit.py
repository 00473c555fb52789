"""The decision audit trail: every decision recorded with its fields and nothing secret, one hash
chain across the writers of a database, tampering found by ``verify``, pruning that leaves the
rest verifiable, and the policy when the queue is full."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from waiting import wait_until

from fate_registry import Registry, Settings, hookimpl, nonblocking
from fate_registry.capabilities import Decision, Signature
from fate_registry.dispatch import Dispatcher
from fate_registry.metrics import DEFAULT_AUDIT_METRICS
from fate_registry.plugins import build_plugin_manager

SECRET_SIGNATURE = "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1iZS1rZXB0"
APP_SECRET = "app-secret-that-is-a-header-value"
AUDIT_KEY = "an-audit-key-of-32-characters-ok"


class Plugin:
    """Allows everything; signs with a signature that must never be kept."""

    @hookimpl
    @nonblocking
    def permission(self, request: object) -> Decision:
        return Decision.allow()

    @hookimpl
    @nonblocking
    def signature(self, request: object) -> Signature:
        return Signature.signed(SECRET_SIGNATURE)

    @hookimpl
    @nonblocking
    def site_authentication(self, request: object) -> Decision:
        return Decision.deny("unknown site", 109)

    @hookimpl
    @nonblocking
    def client_authentication(self, request: object) -> Decision:
        return Decision.allow(principal="app")


class Clock:
    """A clock set by hand: seconds since the epoch."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextmanager
def node(db_url: str, clock: Clock | None = None, **audit: Any) -> Iterator[Registry]:
    settings = Settings(db_url=db_url, hooks={"permission": {"cache": False}}, audit=audit or {})
    with Registry(db_url, settings=settings, cache_ttl=0, clock=clock) as registry:
        plugins = build_plugin_manager(load=set(), entry_points=[])
        plugins.register(Plugin(), "local")
        registry.__dict__["hooks"] = Dispatcher(registry, plugins=plugins)
        yield registry


def permission(registry: Registry, job: str = "202601010000001", party: str = "10000") -> Any:
    return registry.hooks.permission(
        {
            "src_party_id": party,
            "src_role": "Guest",
            "role": "host",
            "party_id": "09999",
            "job_id": job,
            "component_list": ["Reader", "HeteroLR"],
            "dataset_list": [{"namespace": "experiment", "name": "breast"}],
        }
    )


def decide_every_capability(registry: Registry) -> None:
    permission(registry)
    registry.hooks.signature(
        {"party_id": "9999", "body": {"secret_field": "s3cr3t"}, "dest_party_id": "10000"}
    )
    registry.hooks.site_authentication(
        {"src_party_id": "10000", "site_signature": "c2ln", "body": {"secret_field": "s3cr3t"}}
    )
    registry.hooks.client_authentication(
        {"full_path": "/v1/job/submit", "headers": {"APP_KEY": "app", "SIGNATURE": APP_SECRET}}
    )


def raw_rows(registry: Registry) -> list[dict[str, Any]]:
    with registry.engine.connect() as conn:
        return [dict(row) for row in conn.execute(text("SELECT * FROM fr_audit")).mappings()]


def test_each_decision_is_recorded_with_its_fields(db_url: str) -> None:
    with node(db_url) as registry:
        decide_every_capability(registry)
        assert registry.audit.flush()
        records = {r.capability: r.as_dict() for r in registry.audit.list()}

    assert set(records) == {
        "permission",
        "signature",
        "site_authentication",
        "client_authentication",
    }
    allowed = records["permission"]
    assert {k: allowed[k] for k in ("src_party", "dest_party", "src_role", "role", "job_id")} == {
        "src_party": "10000",
        "dest_party": "9999",  # canonical: 09999 is party 9999
        "src_role": "guest",
        "role": "host",
        "job_id": "202601010000001",
    }
    assert allowed["components"] == ["reader", "heterolr"]
    assert allowed["datasets"] == ["experiment:breast"]
    assert (allowed["result"], allowed["code"], allowed["plugin"], allowed["cached"]) == (
        "allow",
        0,
        "local",
        False,
    )
    assert allowed["latency_ms"] >= 0 and allowed["decision_id"]
    assert (records["signature"]["src_party"], records["signature"]["dest_party"]) == (
        "9999",
        "10000",
    )
    site = records["site_authentication"]
    assert (site["src_party"], site["result"], site["code"]) == ("10000", "deny", 109)
    client = records["client_authentication"]
    assert (client["src_party"], client["result"]) == (None, "allow")


def test_no_secret_signature_header_value_or_body_is_kept(sqlite_url: str) -> None:
    with node(sqlite_url) as registry:
        decide_every_capability(registry)
        assert registry.audit.flush()
        stored = str(raw_rows(registry))

    for secret in (SECRET_SIGNATURE, APP_SECRET, "s3cr3t", "c2ln", "unknown site"):
        assert secret not in stored, secret
    assert "'app'" not in stored  # the APP_KEY header's value, whom hmac authenticated


def test_the_chain_holds_and_an_edited_record_is_found(db_url: str) -> None:
    with node(db_url) as registry:
        for i in range(5):
            permission(registry, job=f"job{i}")
        assert registry.audit.flush()
        assert registry.audit.verify().ok

        with registry.engine.begin() as conn:  # by hand, as someone with write access would
            conn.execute(text("UPDATE fr_audit SET job_id = 'other' WHERE seq = 3"))
        report = registry.audit.verify()

    assert not report.ok
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "changed")]
    assert "record 3 does not match its hash" in report.problems[0].message


def test_deleted_records_are_found_in_the_middle_and_at_the_end(db_url: str) -> None:
    with node(db_url) as registry:
        for i in range(6):
            permission(registry, job=f"job{i}")
        assert registry.audit.flush()
        with registry.engine.begin() as conn:
            conn.execute(text("DELETE FROM fr_audit WHERE seq IN (2, 3, 6)"))
        report = registry.audit.verify()

    assert [(p.seq, p.last, p.kind) for p in report.problems] == [
        (2, 3, "missing"),
        (6, 6, "missing"),
    ]
    assert "records 2 to 3 are missing" in report.problems[0].message
    assert "record 6 is missing (deleted: the newest records)" in report.problems[1].message


def test_a_record_rewritten_with_its_hash_recomputed_is_found_by_the_next(sqlite_url: str) -> None:
    from fate_registry.audit.records import Chain

    with node(sqlite_url) as registry:
        for i in range(3):
            permission(registry, job=f"job{i}")
        assert registry.audit.flush()
        first, second = sorted(registry.audit.list(), key=lambda r: r.seq)[:2]
        forged = (*second.content[:7], "forged", *second.content[8:])
        rehashed = Chain().link(first.hash, 2, forged, "")
        with registry.engine.begin() as conn:
            conn.execute(
                text("UPDATE fr_audit SET job_id = 'forged', hash = :h WHERE seq = 2"),
                {"h": rehashed},
            )
        report = registry.audit.verify()

    assert [(p.seq, p.kind) for p in report.problems] == [(3, "changed")]


def test_a_keyed_chain_cannot_be_rewritten_without_the_key(sqlite_url: str) -> None:
    from fate_registry.audit.records import Chain

    with node(sqlite_url, key=AUDIT_KEY) as registry:
        permission(registry, job="a")
        permission(registry, job="b")
        assert registry.audit.flush()
        assert registry.audit.verify().ok
        records = sorted(registry.audit.list(), key=lambda r: r.seq)
        assert records[0].key_id and records[0].key_id not in AUDIT_KEY
        # Rewritten by someone without the key: hashed unkeyed, as the chain would be.
        forged = (*records[1].content[:7], "forged", *records[1].content[8:])
        rehashed = Chain().link(records[0].hash, 2, forged, "")
        with registry.engine.begin() as conn:
            conn.execute(
                text("UPDATE fr_audit SET job_id='forged', key_id='', hash=:h WHERE seq=2"),
                {"h": rehashed},
            )
        report = registry.audit.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(2, "changed"), (2, "changed")]
    assert "has no key although records before it have" in report.problems[0].message

    with node(sqlite_url) as unkeyed:  # verifying needs the key
        problems = unkeyed.audit.verify().problems
    assert problems[0].kind == "unverifiable" and "not audit.key" in problems[0].message


def test_writers_of_several_nodes_append_to_one_chain(db_url: str) -> None:
    with node(db_url) as one, node(db_url) as two:

        def decide(registry: Registry, prefix: str) -> None:
            for i in range(150):
                permission(registry, job=f"{prefix}{i}")
                if i % 50 == 0:
                    registry.audit.flush()  # batches of each node interleave

        threads = [
            threading.Thread(target=decide, args=(registry, prefix))
            for registry, prefix in ((one, "a"), (two, "b"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert one.audit.flush() and two.audit.flush()
        report = one.audit.verify()
        jobs = {record.job_id for record in one.audit.records()}

    assert report.ok, report.problems
    assert (report.first_seq, report.last_seq, report.checked) == (1, 300, 300)
    assert len(jobs) == 300


def test_pruning_keeps_the_rest_verifiable_and_a_later_deletion_still_found(db_url: str) -> None:
    clock = Clock()
    with node(db_url, clock, max_age_days=1, max_rows=1000) as registry:
        for i in range(4):
            permission(registry, job=f"old{i}")
        assert registry.audit.flush()
        clock.now += 2 * 86400  # two days later
        for i in range(3):
            permission(registry, job=f"new{i}")
        assert registry.audit.flush()

        assert registry.audit.prune() == 4
        report = registry.audit.verify()
        assert report.ok, report.problems
        assert (report.first_seq, report.last_seq, report.checked) == (5, 7, 3)
        assert [r.job_id for r in registry.audit.list()] == ["new2", "new1", "new0"]

        with registry.engine.begin() as conn:
            conn.execute(text("DELETE FROM fr_audit WHERE seq = 5"))
        problems = registry.audit.verify().problems
    assert [(p.seq, p.kind) for p in problems] == [(5, "missing")]


def test_pruning_by_rows_keeps_the_newest(sqlite_url: str) -> None:
    with node(sqlite_url, max_age_days=0, max_rows=1000) as registry:
        for i in range(1005):
            permission(registry, job=f"job{i}")
        assert registry.audit.flush()
        assert registry.audit.prune() == 5
        report = registry.audit.verify()
    assert report.ok and (report.first_seq, report.last_seq) == (6, 1005)


@contextmanager
def write_lock_held(db_url: str) -> Iterator[None]:
    """Another process's write transaction on the SQLite database: the audit writer waits."""
    engine = create_engine(db_url, connect_args={"isolation_level": None})
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.exec_driver_sql("ROLLBACK")
    engine.dispose()


def test_a_full_queue_drops_by_default_and_counts_it(sqlite_url: str) -> None:
    with node(sqlite_url, queue_size=100) as registry:
        permission(registry)
        assert registry.audit.flush()
        before = DEFAULT_AUDIT_METRICS.dropped._value.get()
        with write_lock_held(sqlite_url):
            outcomes = [permission(registry, job=f"j{i}") for i in range(300)]
        assert registry.audit.flush()
        written = len(list(registry.audit.records()))
        dropped = DEFAULT_AUDIT_METRICS.dropped._value.get() - before

    assert all(outcome.allowed for outcome in outcomes)  # the decisions stand
    assert dropped > 0 and written - 1 + dropped == 300


def test_a_full_queue_refuses_what_it_cannot_record_under_refuse(sqlite_url: str) -> None:
    with node(sqlite_url, queue_size=100, when_full="refuse") as registry:
        permission(registry)
        assert registry.audit.flush()
        with write_lock_held(sqlite_url):
            outcomes = [permission(registry, job=f"j{i}") for i in range(300)]
        assert registry.audit.flush()
        allowed_jobs = {f"j{i}" for i, o in enumerate(outcomes) if o.allowed}
        recorded = {r.job_id for r in registry.audit.records(result="allow")}

    refused = [o for o in outcomes if not o.allowed]
    assert refused and refused[0].code == 108 and refused[0].failed
    assert "audit.when_full refuses" in refused[0].message
    assert allowed_jobs and allowed_jobs <= recorded  # nothing allowed went unrecorded


def test_listing_filters_by_capability_party_job_result_and_time(sqlite_url: str) -> None:
    clock = Clock()
    with node(sqlite_url, clock) as registry:
        decide_every_capability(registry)
        clock.now += 3600
        permission(registry, job="later", party="10001")
        assert registry.audit.flush()
        audit = registry.audit

        assert [r.capability for r in audit.list(capability="signature")] == ["signature"]
        assert {r.capability for r in audit.list(party="010000")} == {
            "permission",
            "signature",
            "site_authentication",
        }
        assert [r.job_id for r in audit.list(job_id="later")] == ["later"]
        assert [r.capability for r in audit.list(result="deny")] == ["site_authentication"]
        assert [r.job_id for r in audit.list(since="30m")] == ["later"]  # 30 minutes ago
        assert len(audit.list(until="30m")) == 4
        newest, *_ = audit.list(limit=1)
        assert [r.seq for r in audit.list(before=newest.seq, limit=2)] == [
            newest.seq - 1,
            newest.seq - 2,
        ]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"capability": "upload"}, "capability"),
        ({"party": "ten"}, "party"),
        ({"result": "maybe"}, "result"),
        ({"since": "yesterday"}, "since"),
        ({"since": "1h", "until": "2h"}, "until"),
        ({"limit": 0}, "limit"),
    ],
)
def test_a_bad_filter_is_refused_naming_it(sqlite_url: str, filters: dict, field: str) -> None:
    from fate_registry import InvalidRegistration

    with node(sqlite_url) as registry, pytest.raises(InvalidRegistration) as raised:
        registry.audit.list(**filters)
    assert raised.value.problems[0][0] == field


def test_the_writer_prunes_in_the_background(sqlite_url: str) -> None:
    with node(sqlite_url, max_age_days=0, max_rows=1000, prune_interval=1) as registry:
        for i in range(1010):
            permission(registry, job=f"job{i}")
        assert registry.audit.flush()
        wait_until(
            lambda: registry.audit.store.head().first_seq == 11,
            "the oldest 10 pruned by the writer",
        )
        report = registry.audit.verify()
    assert report.ok and (report.first_seq, report.last_seq) == (11, 1010)


def test_with_the_audit_trail_off_decisions_are_made_and_nothing_is_written(
    sqlite_url: str,
) -> None:
    with node(sqlite_url, enabled=False) as registry:
        assert permission(registry).allowed
        assert registry.audit.trail is None and registry.audit.flush()
        assert registry.audit.list() == []


def test_an_in_memory_database_has_no_audit_trail(caplog: pytest.LogCaptureFixture) -> None:
    with node("sqlite://") as registry:
        assert permission(registry).allowed
        assert registry.audit.trail is None
    assert "audit trail off: an in-memory SQLite database" in caplog.text
