"""The console itself: output formats, filters, --version, -h, completion, the help of every
command, config discovery, and what a command imports before it runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import clear_settings
from typer.main import get_command
from typer.testing import CliRunner, Result

import fate_registry
from fate_registry import schema
from fate_registry.cli import COMMANDS, app

LONG_SERVICE = "a_service_name_that_is_long_enough_to_be_cut_in_a_narrow_column_x"[:64]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_settings(monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no user config file
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run(sqlite_url: str) -> Any:
    def invoke(*args: str) -> Result:
        result = CliRunner().invoke(app, ["--db", sqlite_url, *args])
        return result

    invoke("server", "register", "third", "--host", "10.0.0.5", "--port", "8080")
    invoke("server", "register", "other", "--host", "o.example", "--port", "80")
    invoke("service", "register", "third", "upload", "--uri", "/v1/upload")
    invoke("service", "register", "other", LONG_SERVICE, "--uri", "/" + "p" * 200)
    return invoke


# -- output ---------------------------------------------------------------------------------------


def test_plain_is_the_default_in_a_pipe_one_tab_separated_line_per_row(run: Any) -> None:
    lines = run("service", "list").stdout.splitlines()

    assert [line.split("\t")[:3] for line in lines] == [
        ["OTHER", LONG_SERVICE, "POST"],
        ["THIRD", "upload", "POST"],
    ]
    assert lines[0].split("\t")[3] == "http://o.example:80/" + "p" * 200  # never cut


def test_json_and_yaml_carry_the_same_records(run: Any) -> None:
    as_json = json.loads(run("server", "list", "-o", "json").stdout)

    assert json.loads(run("server", "list", "--json").stdout) == as_json
    assert yaml.safe_load(run("server", "list", "--output", "yaml").stdout) == as_json
    assert [server["name"] for server in as_json] == ["OTHER", "THIRD"]


def test_a_table_wraps_long_values_and_cuts_none(run: Any) -> None:
    table = run("service", "list", "-o", "table").stdout

    assert "…" not in table
    assert LONG_SERVICE[:20] in table and "┃ server" in table


def test_show_in_plain_is_name_tab_value(run: Any) -> None:
    lines = run("service", "show", "third", "upload", "-o", "plain").stdout.splitlines()

    assert "url\thttp://10.0.0.5:8080/v1/upload" in lines
    assert "params\t{}" in lines


def test_a_write_prints_its_message_or_its_record(run: Any) -> None:
    plain = run("server", "register", "n", "--host", "h", "--port", "1")
    as_yaml = run("server", "register", "n", "--host", "h", "--port", "2", "-o", "yaml")

    assert plain.stdout == "registered server N at http://h:1\n"
    assert yaml.safe_load(as_yaml.stdout)["port"] == 2


def test_an_unknown_output_format_is_one_line(run: Any) -> None:
    result = run("server", "list", "-o", "xml")

    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: invalid value for '--output' / '-o': 'xml' is not one of 'table', 'json', "
        "'yaml', 'plain'"
    )


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["server", "list", "--server", "th*"], ["THIRD"]),
        (["server", "list", "--server", "third"], ["THIRD"]),
        (["server", "list", "--server", "nothing*"], []),
        (["service", "list", "--service", "up*"], ["upload"]),
        (["service", "list", "--service", "UPLOAD"], ["upload"]),
        (["service", "list", "--server", "o*"], [LONG_SERVICE]),
        (["service", "list", "--server", "*", "--service", "a_*"], [LONG_SERVICE]),
    ],
)
def test_lists_filter_by_name_or_pattern(run: Any, args: list[str], names: list[str]) -> None:
    rows = json.loads(run(*args, "--json").stdout)

    assert [row.get("service_name", row.get("name")) for row in rows] == names


# -- the command itself ---------------------------------------------------------------------------


def test_version_is_the_installed_distributions() -> None:
    result = CliRunner().invoke(app, ["--version"])

    assert result.stdout == f"fate-registry {version('fate-registry')}\n"
    assert fate_registry.__version__ == version("fate-registry")


def test_dash_h_is_help_everywhere() -> None:
    for args in (["-h"], ["server", "-h"], ["service", "list", "-h"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0 and result.stdout.startswith("Usage: fate-registry")


def test_shell_completion_scripts_are_offered() -> None:
    """From a bash, as a user asks for it: typer finds the shell among the process's parents
    (run detached from any shell, as by a CI runner, it finds none and says so)."""
    script = Path(sys.executable).parent / "fate-registry"  # as installed, with its name
    command = f"{script} --show-completion; exit $?"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "_FATE_REGISTRY_COMPLETE" in result.stdout
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).stdout


def every_command() -> Iterator[list[str]]:
    """The path of every command and group, from the loaded click tree."""

    def walk(command: Any, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name in getattr(command, "commands", {}):
            yield from walk(command.commands[name], [*path, name])

    yield from walk(get_command(app), [])


def _words(text: str) -> str:
    """Help text as one line of words; a word wrapped after its hyphen is joined again."""
    return re.sub(r"\s+", " ", re.sub(r"-\n\s*", "-", text))


@pytest.mark.parametrize("path", list(every_command()), ids=lambda path: " ".join(path) or "root")
def test_the_help_of_every_command_reads_cleanly(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=80)
    command = get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]

    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "<bool>" not in text and "…" not in text and "..." not in text.replace("[ARGS]...", "")
    assert all(len(line) <= 100 for line in text.splitlines()), text
    shown = _words(text)
    assert _words(command.help or "") in shown  # the whole docstring, no word cut
    for param in command.params:
        assert _words(getattr(param, "help", None) or "") in shown, param.name


def test_every_command_module_is_listed_and_loads() -> None:
    root = get_command(app)

    assert list(root.commands) == list(COMMANDS)  # type: ignore[attr-defined]
    assert all(root.commands[name] is not None for name in COMMANDS)  # type: ignore[attr-defined]


# -- config discovery -----------------------------------------------------------------------------


def _source(*args: str, env: dict[str, str] | None = None) -> tuple[str | None, str, float]:
    result = CliRunner().invoke(app, [*args, "config", "show", "--json"], env=env)
    shown = json.loads(result.stdout)
    return shown["config_file"], shown["config_source"], shown["cache_ttl"]


def test_config_is_found_in_order(tmp_path: Path) -> None:
    user = tmp_path / "xdg" / "fate-registry" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("cache_ttl = 2\n")
    assert _source() == (str(user), "the user's config folder", 2.0)

    Path("fate-registry.toml").write_text("cache_ttl = 3\n")
    assert _source() == ("fate-registry.toml", "the working directory", 3.0)

    named = tmp_path / "named.toml"
    named.write_text("cache_ttl = 4\n")
    env = {"FATE_REGISTRY_CONFIG": str(named)}
    assert _source(env=env) == (str(named), "$FATE_REGISTRY_CONFIG", 4.0)

    given = tmp_path / "given.toml"
    given.write_text("cache_ttl = 5\n")
    assert _source("--config", str(given), env=env) == (str(given), "--config", 5.0)


def test_no_config_file_is_said_so() -> None:
    assert _source() == (None, "no settings file found", 1.0)


# -- start-up: a command imports what it needs when it runs ---------------------------------------


def _imported_by(*args: str) -> set[str]:
    code = (
        "import sys\n"
        f"sys.argv = ['fate-registry', *{list(args)!r}]\n"
        "from fate_registry.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    return set(done.stderr.split())


def test_help_imports_no_database_web_or_model_library() -> None:
    heavy = {"sqlalchemy", "pydantic", "pydantic_settings", "alembic", "fastapi", "rich", "yaml",
             "requests", "pluggy", "cryptography"}  # fmt: skip
    imported = _imported_by("--help")
    assert {name.split(".")[0] for name in imported} & heavy == set()
    # the keys and permission commands are listed without their modules of the registry
    assert {"fate_registry.cli.keys", "fate_registry.cli.permission"} <= imported
    assert {
        "fate_registry.keys",
        "fate_registry.grants",
        "fate_registry.client",
    } & imported == set()


@pytest.mark.parametrize("group", ["server", "keys", "permission"])
def test_a_groups_help_imports_no_database_library_or_cryptography(group: str) -> None:
    """A group's --help exits through click's Exit: not an error to describe (which would
    import SQLAlchemy and Alembic to find out)."""
    imported = _imported_by(group, "--help")

    heavy = {"cryptography", "sqlalchemy", "alembic"}
    assert {name.split(".")[0] for name in imported} & heavy == set()


def test_a_local_list_imports_neither_alembic_nor_the_web_stack(sqlite_url: str) -> None:
    CliRunner().invoke(app, ["--db", sqlite_url, "db", "upgrade"])

    imported = _imported_by("--db", sqlite_url, "server", "list")

    assert "sqlalchemy" in imported
    unwanted = {"alembic", "fastapi", "uvicorn", "requests", "rich", "pluggy"}
    assert {name.split(".")[0] for name in imported} & unwanted == set()
    assert "sqlalchemy.dialects.postgresql" not in imported


def test_the_schema_head_constant_is_alembics() -> None:
    assert schema.head() == schema.HEAD
