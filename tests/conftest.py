"""Shared fixtures: a fresh registry database on each selected backend.

Backends: sqlite always; postgres and mysql when their URL variable is set, or always under
CI=true (default local URLs), where an unreachable server fails the run instead of skipping.
FATE_REGISTRY_TEST_BACKENDS (comma list) narrows the set, as the tox envs do.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from tcp_proxy import TcpProxy

from fate_registry import Registry
from fate_registry.schema import VERSION_TABLE
from fate_registry.store import metadata, normalise_url

BACKENDS = {
    "postgres": (
        "FATE_REGISTRY_TEST_POSTGRES_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    "mysql": ("FATE_REGISTRY_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
IN_CI = os.environ.get("CI", "").lower() == "true"

# A run started in the background by a shell without job control (`tox &`, a CI runner's
# script) inherits SIGINT ignored: Python then raises no KeyboardInterrupt, and neither do the
# CLI processes the tests start, which inherit the disposition. The tests of Ctrl-C need it as
# a user's terminal gives it, so it is given back here (the children then start with it too).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _selected() -> set[str]:
    raw = os.environ.get("FATE_REGISTRY_TEST_BACKENDS", "")
    return {b.strip() for b in raw.split(",") if b.strip()} or {"sqlite", "postgres", "mysql"}


def server_url(backend: str) -> str:
    """The URL of a server backend, or skip (fail under CI) when it is not configured or down."""
    variable, default = BACKENDS[backend]
    url = os.environ.get(variable) or (default if IN_CI else None)
    if url is None:
        pytest.skip(f"{backend} suite skipped: set {variable} (e.g. {default}) to run it")
    try:
        engine = create_engine(normalise_url(url))
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        message = f"{backend} at {url} is unreachable ({type(exc).__name__}: {exc})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(f"{message}; set {variable} to a reachable server")
    return url


def reset_database(url: str) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
    engine.dispose()


# Suites that build wheels into fresh virtual environments, drive a browser, fuzz the whole API
# or run every process of a deployment: what they check does not change with the Python
# version, so tox runs them once (py311-sqlite) and the other Pythons skip them (-m "not slow").
SLOW_MODULES = frozenset(
    {
        "test_apireader_e2e.py",
        "test_casbin_package.py",
        "test_console_browser.py",
        "test_docs_offline.py",
        "test_fate_client.py",
        "test_plugin_wheel.py",
        "test_reference_service_package.py",
        "test_schemathesis.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        # A test parametrised over the backends is a database test, marked or not: the
        # PostgreSQL and MySQL runs (tox's postgres and mysql: -m db) select it by the marker.
        if {"db_url", "server_db_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes ``db_url`` once per selected backend."""
    if "db_url" in metafunc.fixturenames:
        backends = [b for b in ("sqlite", "postgres", "mysql") if b in _selected()]
        metafunc.parametrize("db_url", backends, indirect=True)
    if "server_db_url" in metafunc.fixturenames:
        backends = [b for b in ("postgres", "mysql") if b in _selected()]
        reason = "needs a database server: FATE_REGISTRY_TEST_BACKENDS selects none"
        none = [pytest.param("none", marks=pytest.mark.skip(reason=reason))]
        metafunc.parametrize("server_db_url", backends or none, indirect=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database of the backend the test is parametrised with."""
    backend = request.param
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    url = server_url(backend)
    reset_database(url)
    return url


@pytest.fixture
def server_db_url(request: pytest.FixtureRequest) -> str:
    """A URL to an empty database of a database server (PostgreSQL, MySQL), for tests of what
    only a server over the network can do (a proxy in between, a hang, a reset)."""
    url = server_url(request.param)
    reset_database(url)
    return url


@pytest.fixture
def proxy(server_db_url: str) -> Iterator[TcpProxy]:
    """A TCP proxy in front of the server of ``server_db_url``: ``proxy.url(server_db_url)``
    reaches it through the proxy, whose faults the test turns on (tcp_proxy.py)."""
    upstream = make_url(server_db_url)
    default_port = 5432 if upstream.get_backend_name() == "postgresql" else 3306
    with TcpProxy(upstream.host or "127.0.0.1", upstream.port or default_port) as running:
        yield running


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database, for tests that are not about the backend."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    with Registry(db_url, cache_ttl=0) as reg:
        yield reg
