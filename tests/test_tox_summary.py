"""tox's last environment, ``summary`` (.ci/tox_summary.py): what a bare ``tox`` skipped, and
why, above the report that says only SKIP or OK."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "tox_summary.py"
POSTGRES = "FATE_REGISTRY_TEST_POSTGRES_URL"


def summary(*args: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("FATE_")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_missing_python_and_an_unset_database_url_are_named_with_the_reason() -> None:
    lines = summary(
        "--python", f"here={sys.executable}", "far=python-that-is-not-here",
        "--database", f"postgres={POSTGRES}",
    )  # fmt: skip

    assert lines == [
        "Skipped in this run (tox's report below says OK or SKIP, not why):",
        "  far: not run (tox says SKIP): no python-that-is-not-here on this machine",
        f"  postgres: its PostgreSQL tests skipped: {POSTGRES} is not set (e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test)",
    ]


def test_a_database_url_whose_server_does_not_answer_is_named() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"

    lines = summary("--database", f"casbin={POSTGRES}", **{POSTGRES: url})

    assert lines[1] == (
        f"  casbin: its PostgreSQL tests skipped: {POSTGRES} names a server that does not "
        "answer (Connection refused)"
    )


def test_under_ci_the_database_suites_do_not_skip_and_nothing_is_said() -> None:
    lines = summary("--python", f"here={sys.executable}", "--database", f"pg={POSTGRES}", CI="true")

    assert lines == ["Nothing skipped: every environment ran all its tests."]
