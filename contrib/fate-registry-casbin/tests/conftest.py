"""A fresh registry database per test: SQLite always; PostgreSQL and MySQL when
FATE_REGISTRY_TEST_POSTGRES_URL / FATE_REGISTRY_TEST_MYSQL_URL name one (their tables are
dropped first: give a database meant for tests). Under CI=true their tests fail, not skip,
when the variable is unset: CI must not pass without them."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from fate_registry import Registry, Settings
from fate_registry.schema import VERSION_TABLE
from fate_registry.store import metadata, normalise_url
from fate_registry_casbin.policies import DEFAULT_TABLE

SERVERS = {
    "postgres": "FATE_REGISTRY_TEST_POSTGRES_URL",
    "mysql": "FATE_REGISTRY_TEST_MYSQL_URL",
}
IN_CI = os.environ.get("CI", "").lower() == "true"
FATE_TABLE = "fate_casbin"  # FATE Flow 1.11's own policy table
OTHER_TABLE = "not_casbin"  # a table that is not a policy table


def pytest_configure(config: pytest.Config) -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group="fate_registry")}
    if "casbin" not in names:
        raise pytest.UsageError(
            "fate-registry-casbin is not installed (no entry point 'casbin' of group "
            "fate_registry): pip install contrib/fate-registry-casbin, or run `tox -e casbin`"
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_url" in metafunc.fixturenames:
        params = [pytest.param("sqlite")]
        for backend, variable in SERVERS.items():
            reason = f"{backend}: set {variable} to a database for tests to run it"
            marks = [pytest.mark.db]
            if not os.environ.get(variable) and not IN_CI:  # under CI, db_url fails instead
                marks.append(pytest.mark.skip(reason=reason))
            params.append(pytest.param(backend, marks=marks))
        metafunc.parametrize("db_url", params, indirect=True)


def drop_tables(url: str) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        for table in (DEFAULT_TABLE, FATE_TABLE, OTHER_TABLE, "casbin_rule", VERSION_TABLE):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        metadata.drop_all(conn)
    engine.dispose()


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FATE_CASBIN_") or name in (
            "FATE_REGISTRY_LOAD_PLUGINS",
            "FATE_REGISTRY_DISABLE_PLUGINS",
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    variable = SERVERS[request.param]
    url = os.environ.get(variable)
    if not url:
        pytest.fail(f"{request.param}: CI=true and {variable} is not set: set it to a database")
    drop_tables(url)
    yield url
    drop_tables(url)


def open_registry(
    url: str, *, switched_on: bool = True, cache_ttl: float = 0, **hooks: object
) -> Registry:
    """A registry whose permission chain is ``casbin`` alone (switched on), or the default
    (every plugin); no decision cache unless ``hooks`` says otherwise; its revision checked
    on each use unless ``cache_ttl`` says otherwise."""
    permission = {"chain": ["casbin"], "cache": False, **hooks}
    if not switched_on:
        del permission["chain"]
    settings = Settings(db_url=url, hooks={"permission": permission})
    return Registry(url, settings=settings, cache_ttl=cache_ttl)


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    with open_registry(db_url) as reg:
        yield reg


@contextmanager
def serve(url: str, env: dict[str, str]) -> Iterator[str]:
    """``fate-registry serve`` on ``url`` as a real process on a free loopback port, with
    ``env`` added to a copy of this environment without FATE_REGISTRY_* variables; yields its
    base URL once /readyz answers, and stops it after."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = shutil.which("fate-registry", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "fate_registry.cli"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FATE_REGISTRY_")}
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*command, "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port)],
            env={**clean, **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while not _ready(base):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise AssertionError(f"serve did not start: {log.read()[-2000:].decode()}")
                time.sleep(0.1)  # a process we do not control: no event to await
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False
