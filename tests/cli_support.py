"""Checks shared by the CLI tests: a command that succeeded, and one that failed in one line."""

from __future__ import annotations

from typer.testing import Result


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
