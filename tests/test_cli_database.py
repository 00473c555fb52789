"""The command line on a database it cannot use: one ``error:`` line and exit 1, whether the
database was written by a newer fate-registry or cannot be reached."""

from __future__ import annotations

import re
import subprocess

import pytest
from cli_support import clear_settings, error_line
from serve_support import free_port, serve_command
from sqlalchemy import text
from tcp_proxy import TcpProxy
from typer.testing import CliRunner

from fate_registry import Registry, schema
from fate_registry.cli import EXIT_FAILED, app
from fate_registry.store import create_engine

NEWER = "written by a newer fate-registry: its schema ffff0000 is unknown to this version"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test alone; the test suite's own variables stay."""
    clear_settings(monkeypatch, keep_test=True)


@pytest.fixture
def newer_db(sqlite_url: str) -> str:
    """A registry database whose schema revision this version does not know."""
    Registry(sqlite_url).close()
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = 'ffff0000'"))
    engine.dispose()
    return sqlite_url


@pytest.mark.parametrize(
    "args",
    [
        ["db", "current"],
        ["db", "current", "--json"],
        ["db", "upgrade"],
        ["server", "list"],
        ["server", "register", "a", "--host", "10.0.0.1", "--port", "1"],
        ["service", "list"],
        ["export"],
    ],
    ids=" ".join,
)
def test_every_command_refuses_a_database_written_by_a_newer_release(
    newer_db: str, args: list[str]
) -> None:
    line = error_line(CliRunner().invoke(app, ["--db", newer_db, *args]), EXIT_FAILED)
    assert NEWER in line
    assert line.endswith("upgrade fate-registry")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_refuses_a_database_written_by_a_newer_release(newer_db: str, workers: str) -> None:
    port = str(free_port())
    finished = subprocess.run(
        [*serve_command(), "--db", newer_db, "serve", "--port", port, "--workers", workers],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == EXIT_FAILED, finished.stderr
    errors = [line for line in finished.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, finished.stderr
    assert NEWER in errors[0]


@pytest.mark.db
def test_a_database_that_hangs_is_one_line_within_its_timeouts(
    server_db_url: str, proxy: TcpProxy
) -> None:
    url = proxy.url(server_db_url).set(password="s3cret-pass")
    CliRunner().invoke(app, ["--db", url.render_as_string(False), "db", "upgrade"])
    proxy.hang()
    env = {"FATE_REGISTRY_DB_CONNECT_TIMEOUT": "2", "FATE_REGISTRY_DB_STATEMENT_TIMEOUT": "1"}
    result = CliRunner().invoke(
        app, ["--db", url.render_as_string(False), "server", "list"], env=env
    )
    assert result.exit_code == EXIT_FAILED, result.output
    assert result.stdout == ""
    shown = re.escape(url.render_as_string(hide_password=True))
    # PostgreSQL's handshake is under the connect timeout, MySQL's under the read timeout
    reason = "(no connection|it did not answer) within 2 s"
    assert re.fullmatch(f"error: database {shown} is unavailable: {reason}\n", result.stderr)
    assert "s3cret" not in result.stderr
