"""Grants with limits: a time window (not_before, expires_at) on a clock set by hand, and
max_uses counted once per job id, exactly, on any number of nodes; the decision cache never
serves an answer past the change of a grant it relied on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from fate_registry import InvalidRegistration, Registry, Settings
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import build_plugin_manager

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z
HOUR = 3600.0


class Clock:
    """The registry's time source, set by hand: seconds since the epoch."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


@contextmanager
def node(db_url: str, clock: Clock | None = None) -> Iterator[tuple[Registry, Dispatcher]]:
    """A registry with the grants plugin alone, its permission decisions cached for an hour:
    what a decision says must hold even when the cache would keep it longer."""
    settings = Settings(
        db_url=db_url,
        grants={"enabled": True},
        hooks={"permission": {"cache": True, "allow_ttl": HOUR, "deny_ttl": HOUR}},
        audit={"enabled": False},
    )
    with Registry(db_url, settings=settings, cache_ttl=HOUR, clock=clock or Clock()) as registry:
        hooks = Dispatcher(registry, plugins=build_plugin_manager(load={"grants"}))
        try:
            yield registry, hooks
        finally:
            hooks.close()


def job(job_id: str | None = None, components: tuple[str, ...] = ("reader",)) -> dict[str, Any]:
    request: dict[str, Any] = {
        "src_role": "guest",
        "src_party_id": "10000",
        "role": "host",
        "party_id": "9999",
        "component_list": list(components),
    }
    if job_id is not None:
        request["job_id"] = job_id
    return request


def test_an_expired_grant_refuses_and_says_so_even_when_its_allow_is_cached(
    sqlite_url: str,
) -> None:
    clock = Clock()
    with node(sqlite_url, clock) as (registry, hooks):
        registry.grants.grant("10000", components=["reader"], expires_at=at(START + HOUR))
        assert hooks.permission(job("j1")).allowed
        assert hooks.permission(job("j1")).cached

        clock.now = START + HOUR  # the instant it expires
        refused = hooks.permission(job("j1"))

    assert (refused.allowed, refused.cached, refused.code) == (False, False, 108)
    assert refused.message == (
        "the grant of component reader to party 10000 expired at 2027-01-15T09:00:00Z"
    )


def test_a_grant_for_a_duration_counts_from_now(sqlite_url: str) -> None:
    clock = Clock()
    with node(sqlite_url, clock) as (registry, hooks):
        (entry,) = registry.grants.grant("10000", components=["reader"], valid_for="30d")
        assert entry.expires_at == datetime.fromtimestamp(START + 30 * 86400, UTC)
        clock.now += 30 * 86400 - 1
        assert hooks.permission(job("j1")).allowed
        clock.now += 1
        assert "expired at" in hooks.permission(job("j2")).message


def test_a_grant_not_yet_valid_refuses_until_it_begins(sqlite_url: str) -> None:
    clock = Clock()
    with node(sqlite_url, clock) as (registry, hooks):
        registry.grants.grant(
            "10000", components=["reader"], not_before=at(START + HOUR), valid_for="1h"
        )
        early = hooks.permission(job("j1"))
        assert early.message == (
            "the grant of component reader to party 10000 is not valid before 2027-01-15T09:00:00Z"
        )
        clock.now = START + HOUR  # the deny was cached for an hour, but held only until now
        assert hooks.permission(job("j1")).allowed
        clock.now = START + 2 * HOUR
        assert not hooks.permission(job("j1")).allowed


def test_a_deny_in_force_refuses_and_an_expired_one_no_longer(sqlite_url: str) -> None:
    clock = Clock()
    with node(sqlite_url, clock) as (registry, hooks):
        registry.grants.grant("10000", components=["*"])
        registry.grants.grant("10000", components=["reader"], deny=True, valid_for="1h")
        assert "denied to party 10000: reader" in hooks.permission(job("j1")).message
        clock.now += HOUR
        assert hooks.permission(job("j1")).allowed


def test_max_uses_admits_that_many_jobs_each_counted_once(sqlite_url: str) -> None:
    with node(sqlite_url) as (registry, hooks):
        registry.grants.grant("10000", components=["reader"], max_uses=3)
        admitted = [hooks.permission(job(f"j{i}")) for i in (1, 2, 3)]
        again = hooks.permission({**job("j1"), "role": "HOST"})  # the same job: not cached
        fourth = hooks.permission(job("j4"))
        (entry,) = registry.grants.entries("10000")

    assert all(outcome.allowed for outcome in admitted) and again.allowed
    assert admitted[2].message == "granted to party 10000 (jobs counted: component reader 3/3)"
    assert (fourth.allowed, fourth.code) == (False, 108)
    assert fourth.message == (
        "the grant of component reader to party 10000 is used up: 3 of 3 jobs admitted"
    )
    assert (entry.uses, entry.max_uses) == (3, 3)


def test_a_request_without_a_job_id_counts_each_time_and_is_never_cached(
    sqlite_url: str,
) -> None:
    with node(sqlite_url) as (registry, hooks):  # FATE Flow 1.x sends no job id
        registry.grants.grant("10000", components=["reader"], max_uses=2)
        first, second, third = (hooks.permission(job()) for _ in range(3))

    assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
    assert not second.cached and "used up: 2 of 2" in third.message


def test_an_unlimited_entry_covering_the_same_value_needs_no_count(sqlite_url: str) -> None:
    with node(sqlite_url) as (registry, hooks):
        registry.grants.grant("10000", components=["*"], max_uses=1)
        registry.grants.grant("10000", components=["reader"])
        outcomes = [hooks.permission(job(f"j{i}")) for i in range(5)]
        limited = next(e for e in registry.grants.entries("10000") if e.value == "*")

    assert all(outcome.allowed for outcome in outcomes) and limited.uses == 0


def test_a_job_refused_by_one_used_up_entry_counts_on_none(sqlite_url: str) -> None:
    with node(sqlite_url) as (registry, hooks):
        registry.grants.grant("10000", components=["reader"], max_uses=5)
        registry.grants.grant("10000", components=["heterolr"], max_uses=1)
        assert hooks.permission(job("j1", ("reader", "heterolr"))).allowed
        refused = hooks.permission(job("j2", ("reader", "heterolr")))
        uses = {e.value: e.uses for e in registry.grants.entries("10000")}

    assert "heterolr to party 10000 is used up: 1 of 1" in refused.message
    assert uses == {"reader": 1, "heterolr": 1}  # j2's reader use went back with the refusal


def test_a_new_grant_changes_the_limit_and_keeps_the_count_a_revoke_forgets_it(
    sqlite_url: str,
) -> None:
    with node(sqlite_url) as (registry, hooks):
        registry.grants.grant("10000", components=["reader"], max_uses=1)
        assert hooks.permission(job("j1")).allowed
        registry.grants.grant("10000", components=["reader"], max_uses=2)
        assert hooks.permission(job("j2")).allowed
        assert not hooks.permission(job("j3")).allowed
        registry.grants.revoke("10000", components=["reader"])
        registry.grants.grant("10000", components=["reader"], max_uses=1)
        assert hooks.permission(job("j1")).allowed  # counted anew


@pytest.mark.parametrize(
    ("limits", "field", "reason"),
    [
        ({"expires_at": at(START - 1)}, "expires_at", "is not in the future"),
        ({"not_before": at(START + HOUR), "expires_at": at(START)}, "expires_at", "after"),
        ({"expires_at": "next week"}, "expires_at", "ISO 8601"),
        ({"valid_for": "a while"}, "valid_for", "duration such as"),
        ({"valid_for": "1d", "expires_at": at(START + HOUR)}, "valid_for", "not both"),
        ({"max_uses": 0}, "max_uses", "from 1 to"),
        ({"max_uses": "3"}, "max_uses", "whole number"),
        ({"max_uses": 3, "deny": True}, "max_uses", "a deny entry has no uses"),
    ],
)
def test_bad_limits_are_refused_naming_the_field_and_nothing_is_stored(
    sqlite_url: str, limits: dict[str, Any], field: str, reason: str
) -> None:
    with node(sqlite_url) as (registry, _):
        with pytest.raises(InvalidRegistration) as raised:
            registry.grants.grant("10000", components=["reader"], **limits)
        assert registry.grants.entries() == []
    assert raised.value.problems[0][0] == field and reason in raised.value.problems[0][1]


def test_two_nodes_admitting_at_once_admit_exactly_max_uses(db_url: str) -> None:
    with node(db_url) as (admin, _):
        admin.grants.grant("10000", components=["reader"], max_uses=3)
    allowed: list[str] = []
    with node(db_url) as (_, one), node(db_url) as (_, two):
        start = threading.Barrier(8)

        def ask(hooks: Dispatcher, prefix: str) -> None:
            start.wait()
            for i in range(5):
                outcome = hooks.permission(job(f"{prefix}-{i}"))
                if outcome.allowed:
                    allowed.append(f"{prefix}-{i}")

        threads = [
            threading.Thread(target=ask, args=(hooks, f"{name}{t}"))
            for name, hooks in (("a", one), ("b", two))
            for t in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with node(db_url) as (admin, _):
        (entry,) = admin.grants.entries("10000")

    assert len(allowed) == 3 and entry.uses == 3


def test_a_grant_revoked_on_another_node_admits_no_job_before_this_node_sees_it(
    sqlite_url: str,
) -> None:
    with node(sqlite_url) as (registry, hooks), node(sqlite_url) as (other, _):
        registry.grants.grant("10000", components=["reader"], max_uses=5)
        assert hooks.permission(job("j1")).allowed
        other.grants.revoke("10000", components=["reader"])  # this node's snapshot: an hour old
        refused = hooks.permission(job("j2"))

    assert not refused.allowed
    assert refused.message == "the grant of component reader to party 10000 is no longer in force"
