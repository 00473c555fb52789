"""What the CLI tests share: running a command, an environment without the caller's settings,
and checks of a command that succeeded or failed in one line."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner, Result

from fate_registry.cli import app


def invoke(
    *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None
) -> Result:
    """``fate-registry ARGS`` in this process, its stdout and stderr apart."""
    return CliRunner().invoke(app, list(args), input=input, env=env)


def clear_settings(monkeypatch: pytest.MonkeyPatch, *, keep_test: bool = False) -> None:
    """Drop the caller's FATE_REGISTRY_* variables, so settings come from each test alone
    (``keep_test``: the test suite's own FATE_REGISTRY_TEST_* stay)."""
    for name in list(os.environ):
        if name.startswith("FATE_REGISTRY_") and not (
            keep_test and name.startswith("FATE_REGISTRY_TEST_")
        ):
            monkeypatch.delenv(name)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def error_line(result: Result, exit_code: int) -> str:
    """The one stderr line of a failed command (no traceback, nothing on stdout)."""
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]
