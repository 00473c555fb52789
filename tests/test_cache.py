"""The resolve cache: a warm lookup runs no SQL; another process's write shows within cache_ttl."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import event

from fate_registry import Registry

pytestmark = pytest.mark.db


class StatementCounter:
    def __init__(self, registry: Registry) -> None:
        self.count = 0
        event.listen(registry.engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's explicit BEGIN is not a query
            self.count += 1


def _register_elsewhere(db_url: str, host: str) -> None:
    """Move THIRD to ``host`` from another process, as another FATE Flow node would."""
    code = (
        "import sys; from fate_registry import Registry\n"
        "Registry(sys.argv[1]).register_server('third', host=sys.argv[2], port=8080)\n"
    )
    subprocess.run([sys.executable, "-c", code, db_url, host], check=True, timeout=120)


def test_warm_resolve_runs_no_sql(db_url: str) -> None:
    with Registry(db_url, cache_ttl=60) as registry:
        registry.register_server("third", host="10.0.0.5", port=8080)
        registry.register_service("third", "upload", uri="/u")
        registry.resolve("third", "upload")
        counter = StatementCounter(registry)
        for _ in range(100):
            registry.resolve("third", "upload")
        assert counter.count == 0


def test_write_in_another_process_is_seen_within_cache_ttl(db_url: str) -> None:
    ttl = 0.5
    with Registry(db_url, cache_ttl=ttl) as registry:
        registry.register_server("third", host="10.0.0.5", port=8080)
        registry.register_service("third", "upload", uri="/u")
        assert registry.resolve("third", "upload").url == "http://10.0.0.5:8080/u"

        _register_elsewhere(db_url, "10.0.0.9")
        written_at = time.monotonic()
        # The contract: once cache_ttl has passed since the write, the next lookup is fresh.
        time.sleep(max(0.0, written_at + ttl - time.monotonic()))
        assert registry.resolve("third", "upload").url == "http://10.0.0.9:8080/u"


def test_stale_check_costs_one_query_when_nothing_changed(db_url: str) -> None:
    with Registry(db_url, cache_ttl=0) as registry:
        registry.register_server("third", host="10.0.0.5", port=8080)
        registry.register_service("third", "upload", uri="/u")
        registry.resolve("third", "upload")
        registry.resolve("third", "upload")
        counter = StatementCounter(registry)
        registry.resolve("third", "upload")
        assert counter.count == 1  # the revision read


def test_own_write_is_seen_at_once(db_url: str) -> None:
    with Registry(db_url, cache_ttl=3600) as registry:
        registry.register_server("third", host="10.0.0.5", port=8080)
        registry.register_service("third", "upload", uri="/u")
        registry.resolve("third", "upload")
        registry.register_server("third", host="10.0.0.7", port=8080)
        assert registry.resolve("third", "upload").url == "http://10.0.0.7:8080/u"


def test_a_lookup_racing_a_write_does_not_pin_the_old_address(db_url: str) -> None:
    """A miss that read the old row while the server moved, and another lookup refreshed the
    revision, must not leave the old address in the cache."""
    with Registry(db_url, cache_ttl=3600) as registry:
        registry.register_server("third", host="10.0.0.5", port=8080)
        registry.register_service("third", "upload", uri="/u")
        registry.register_service("third", "query", uri="/q")
        read_row = registry.store.resolve

        def read_then_race(server: str, service: str) -> Any:
            row = read_row(server, service)  # thread A reads the old address ...
            registry.store.resolve = read_row  # type: ignore[method-assign]
            registry.register_server("third", host="10.0.0.9", port=8080)  # B moves the server
            registry.resolve("third", "query")  # C's lookup takes in the new revision
            return row

        registry.store.resolve = read_then_race  # type: ignore[method-assign]
        registry.resolve("third", "upload")
        assert registry.resolve("third", "upload").url == "http://10.0.0.9:8080/u"
