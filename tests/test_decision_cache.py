"""The decision cache, on: an allow is served from it while the registry's revision holds; a
revoke, on this node or another one on the same database, is refused within ``allow_ttl``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from waiting import wait_until

from fate_registry import Registry, Settings
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import build_plugin_manager

pytestmark = pytest.mark.db

JOB = {
    "src_role": "guest",
    "src_party_id": "10000",
    "role": "host",
    "party_id": "9999",
    "component_list": ["reader"],
    "dataset_list": [],
}
HOUR = 3600.0  # allow_ttl and deny_ttl: every check below is well within them


@contextmanager
def node(db_url: str, cache_ttl: float = 0) -> Iterator[tuple[Registry, Dispatcher]]:
    """A registry and its dispatcher, the grants plugin alone, permission decisions cached."""
    settings = Settings(
        db_url=db_url,
        grants={"enabled": True},
        hooks={"permission": {"cache": True, "allow_ttl": HOUR, "deny_ttl": HOUR}},
    )
    with Registry(db_url, settings=settings, cache_ttl=cache_ttl) as registry:
        hooks = Dispatcher(registry, plugins=build_plugin_manager(load={"grants"}))
        try:
            yield registry, hooks
        finally:
            hooks.close()


def test_a_revoke_on_this_node_is_refused_at_once(db_url: str) -> None:
    # No look at the revision on its own for an hour: only the write's own refresh shows it.
    with node(db_url, cache_ttl=HOUR) as (registry, hooks):
        registry.grants.grant("10000", components=["reader"])
        assert hooks.permission(JOB).allowed
        assert hooks.permission(JOB).cached  # the cache is on: the same request is a hit

        registry.grants.revoke("10000", components=["reader"])
        outcome = hooks.permission(JOB)  # at once: no wait for a background check

        assert (outcome.allowed, outcome.cached) == (False, False)
        assert outcome.message == "party 10000 has no grants here"


def test_a_revoke_on_another_node_is_refused_once_this_node_sees_the_revision(
    db_url: str,
) -> None:
    with node(db_url) as (admin, _), node(db_url) as (registry, hooks):
        admin.grants.grant("10000", components=["reader"])
        wait_until(lambda: registry.known_revision() == admin.revision, "the grant seen")
        assert hooks.permission(JOB).allowed
        assert hooks.permission(JOB).cached

        admin.grants.revoke("10000", components=["reader"])
        # cache_ttl 0: the next look at the revision reads it again (in the background)
        wait_until(lambda: registry.known_revision() == admin.revision, "the revoke seen")
        outcome = hooks.permission(JOB)

        assert (outcome.allowed, outcome.cached) == (False, False)
        assert outcome.message == "party 10000 has no grants here"
