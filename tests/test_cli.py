"""The `fate-registry` command: each command's output, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_support import clear_settings, error_line, ok
from typer.testing import CliRunner, Result

from fate_registry.cli import EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND, app

LEGACY_YAML = """\
third:
  host: 10.0.0.5
  port: 8080
  api:
    upload: {uri: /v1/upload, method: POST, params: {}, data: {app: fate}, headers: {}}
    query: {uri: /v1/query}
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test alone, not from the developer's shell."""
    clear_settings(monkeypatch)


@pytest.fixture
def run(sqlite_url: str) -> Any:
    """Run the CLI against a fresh SQLite file; returns the result."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, ["--db", sqlite_url, *args], input=input, env=env)

    return invoke


@pytest.fixture
def third(run: Any) -> None:
    ok(run("server", "register", "third", "--host", "10.0.0.5", "--port", "8080"))
    ok(run("service", "register", "third", "upload", "--uri", "/v1/upload"))


# -- servers -------------------------------------------------------------------------------------


def test_server_register_prints_the_address(run: Any) -> None:
    result = ok(run("server", "register", "third", "--host", "10.0.0.5", "--port", "8080"))

    assert result.stdout == "registered server THIRD at http://10.0.0.5:8080\n"


def test_server_register_json(run: Any) -> None:
    result = ok(
        run(
            "server", "register", "s", "--host", "h.example", "--port", "443",
            "--protocol", "https", "--ca-bundle", "/etc/ca.pem", "--json",
        )
    )  # fmt: skip

    server = json.loads(result.stdout)
    assert (server["name"], server["host"], server["port"], server["protocol"]) == (
        "S",
        "h.example",
        443,
        "https",
    )
    assert (server["tls_ca_bundle_set"], server["tls_client_cert_set"]) == (True, False)


def test_server_list_table_and_json(run: Any, third: None) -> None:
    assert "http://10.0.0.5:8080" in ok(run("server", "list")).stdout

    servers = json.loads(ok(run("server", "list", "--json")).stdout)
    assert [server["name"] for server in servers] == ["THIRD"]


def test_server_show_includes_its_services(run: Any, third: None) -> None:
    assert "upload" in ok(run("server", "show", "third")).stdout

    shown = json.loads(ok(run("server", "show", "THIRD", "--json")).stdout)
    assert shown["name"] == "THIRD"
    assert [service["service_name"] for service in shown["services"]] == ["upload"]


def test_server_delete_is_refused_while_it_has_services(run: Any, third: None) -> None:
    line = error_line(run("server", "delete", "third"), EXIT_FAILED)

    assert "still has 1 service(s)" in line
    assert "--cascade" in line


def test_server_delete_cascade(run: Any, third: None) -> None:
    result = ok(run("server", "delete", "third", "--cascade"))

    assert result.stdout == "deleted server THIRD and its 1 service(s)\n"
    assert json.loads(ok(run("service", "list", "--json")).stdout) == []


def test_server_delete_json(run: Any) -> None:
    ok(run("server", "register", "lone", "--host", "h", "--port", "1"))

    result = ok(run("server", "delete", "lone", "--json"))

    assert json.loads(result.stdout) == {"server_name": "LONE", "services_deleted": 0}


# -- services ------------------------------------------------------------------------------------


def test_service_register_with_json_options(run: Any, third: None) -> None:
    result = ok(
        run(
            "service", "register", "third", "query", "--uri", "/v1/query", "--method", "get",
            "--params", '{"v": "1"}', "--data", '{"app": "fate"}', "--headers", '{"X-Trace": "on"}',
            "--json",
        )
    )  # fmt: skip

    service = json.loads(result.stdout)
    assert service["url"] == "http://10.0.0.5:8080/v1/query"
    assert (service["method"], service["params"], service["data"], service["headers"]) == (
        "GET",
        {"v": "1"},
        {"app": "fate"},
        {"X-Trace": "on"},
    )


def test_service_register_prints_method_and_url(run: Any) -> None:
    ok(run("server", "register", "third", "--host", "10.0.0.5", "--port", "8080"))

    result = ok(run("service", "register", "third", "upload", "--uri", "/v1/upload"))

    assert (
        result.stdout == "registered service upload on THIRD: POST http://10.0.0.5:8080/v1/upload\n"
    )


def test_service_list_and_filter(run: Any, third: None) -> None:
    ok(run("server", "register", "other", "--host", "o.example", "--port", "80"))
    ok(run("service", "register", "other", "permission", "--uri", "/perm"))

    everything = json.loads(ok(run("service", "list", "--json")).stdout)
    only_third = json.loads(ok(run("service", "list", "--server", "third", "--json")).stdout)

    assert [s["service_name"] for s in everything] == ["permission", "upload"]
    assert [s["service_name"] for s in only_third] == ["upload"]
    assert "permission" in ok(run("service", "list")).stdout


def test_service_show(run: Any, third: None) -> None:
    assert "/v1/upload" in ok(run("service", "show", "third", "upload")).stdout

    shown = json.loads(ok(run("service", "show", "third", "UPLOAD", "--json")).stdout)
    assert shown["url"] == "http://10.0.0.5:8080/v1/upload"


def test_service_delete(run: Any, third: None) -> None:
    assert ok(run("service", "delete", "third", "upload")).stdout == (
        "deleted service upload on THIRD\n"
    )

    error_line(run("service", "show", "third", "upload"), EXIT_NOT_FOUND)


# -- errors: one line, an exit code, no traceback -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "exit_code", "line"),
    [
        (
            ["server", "register", "third", "--host", "h", "--port", "0"],
            EXIT_INVALID,
            "error: port: must be from 1 to 65535, got 0",
        ),
        (
            ["server", "register", "third", "--host", "http://h/x", "--port", "80"],
            EXIT_INVALID,
            "error: host: must be a hostname, IPv4 or IPv6 address, without scheme, path or port",
        ),
        (
            ["server", "register", "third", "--host", "h", "--port", "80", "--protocol", "ftp"],
            EXIT_INVALID,
            "error: protocol: must be 'http' or 'https'",
        ),
        (
            ["server", "register", "bad name", "--host", "h", "--port", "80"],
            EXIT_INVALID,
            "error: name: must be 1 to 64 characters of letters, digits, '_', '.' or '-'",
        ),
        (
            ["server", "register", "third", "--port", "80"],
            EXIT_INVALID,
            "error: missing option '--host' (see 'fate-registry server register --help')",
        ),
        (["server", "show", "nope"], EXIT_NOT_FOUND, "error: server 'NOPE' is not registered"),
        (["server", "delete", "nope"], EXIT_NOT_FOUND, "error: server 'NOPE' is not registered"),
        (
            ["service", "register", "nope", "upload", "--uri", "/u"],
            EXIT_NOT_FOUND,
            "error: server 'NOPE' is not registered",
        ),
        (
            ["service", "register", "third", "upload", "--uri", "/u", "--params", "{x"],
            EXIT_INVALID,
            "error: --params: not valid JSON: Expecting property name enclosed in double quotes"
            " at column 2",
        ),
        (
            ["service", "register", "third", "upload", "--uri", "/u", "--data", "[1]"],
            EXIT_INVALID,
            'error: --data: must be a JSON object, e.g. {"key": "value"}',
        ),
        (
            ["service", "register", "third", "upload", "--uri", "/u", "--headers", '{"a": 1}'],
            EXIT_INVALID,
            "error: headers: header 'a' must have a string value",
        ),
        (
            ["service", "register", "third", "upload", "--uri", "/u", "--headers", '{"a": "k "}'],
            EXIT_INVALID,
            "error: headers: header 'a' must not start or end with a space or tab (HTTP drops"
            " them)",
        ),
        (
            ["service", "register", "third", "upload", "--uri", "/u", "--headers", '{"Host": "x"}'],
            EXIT_INVALID,
            "error: headers: header 'Host' cannot be stored: HTTP sets it for each message or"
            " connection",
        ),
        (
            ["service", "register", "third", "upload", "--uri", "u"],
            EXIT_INVALID,
            "error: uri: must be a path starting with '/', without scheme or host",
        ),
        (
            ["service", "show", "third", "nope"],
            EXIT_NOT_FOUND,
            "error: service 'nope' is not registered on server 'THIRD'",
        ),
        (["service", "delete", "third", "nope"], EXIT_NOT_FOUND, "error: service 'nope'"),
        (["service", "list", "--server", "nope"], EXIT_NOT_FOUND, "error: server 'NOPE'"),
        (["import", "missing.yaml"], EXIT_INVALID, "error: cannot read missing.yaml: No such file"),
        (["export", "--format", "xml"], EXIT_INVALID, "error: invalid value for '--format'"),
        (["no-such-command"], EXIT_INVALID, "error: no such command 'no-such-command'"),
    ],
)
def test_errors_are_one_line_with_an_exit_code(
    run: Any, third: None, args: list[str], exit_code: int, line: str
) -> None:
    assert error_line(run(*args), exit_code).startswith(line)


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/registry.db"

    line = error_line(CliRunner().invoke(app, ["--db", url, "server", "list"]), EXIT_FAILED)

    assert line == f"error: database {url} is unavailable: its file cannot be opened"


def test_an_unreachable_server_database_hides_its_password() -> None:
    url = "postgresql://fate:s3cret@127.0.0.1:1/registry"

    line = error_line(CliRunner().invoke(app, ["--db", url, "server", "list"]), EXIT_FAILED)

    assert "s3cret" not in line
    assert line == (
        "error: database postgresql://fate:***@127.0.0.1:1/registry is unavailable: "
        "the server refused the connection"
    )


@pytest.mark.parametrize(
    ("url", "line"),
    [
        ("not a url", "error: invalid database URL not a url: Could not parse"),
        (
            "nosuchdb://h/x",
            "error: invalid database URL nosuchdb://h/x: unsupported database 'nosuchdb'",
        ),
        ("oracle://h/x", "error: invalid database URL oracle://h/x: unsupported database"),
    ],
)
def test_a_bad_database_url_is_one_line(url: str, line: str) -> None:
    result = CliRunner().invoke(app, ["--db", url, "server", "list"])

    assert error_line(result, EXIT_INVALID).startswith(line)


def test_a_missing_config_file_is_one_line(run: Any) -> None:
    line = error_line(run("--config", "nope.toml", "config", "show"), EXIT_INVALID)

    assert line == "error: config file 'nope.toml' does not exist"


def test_a_config_directory_is_one_line_saying_so(run: Any, tmp_path: Path) -> None:
    line = error_line(run("--config", str(tmp_path), "config", "show"), EXIT_INVALID)

    assert line == f"error: config file '{tmp_path}' is a directory, not a file"


def test_a_variable_that_is_not_json_is_one_line_naming_it(run: Any) -> None:
    result = run("server", "list", env={"FATE_REGISTRY_HOOKS__PERMISSION": '{"chain": [}'})

    assert error_line(result, EXIT_INVALID) == (
        "error: FATE_REGISTRY_HOOKS__PERMISSION: not valid JSON: Expecting value: line 1 "
        "column 12 (char 11)"
    )


def test_a_config_file_that_is_not_toml_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "registry.toml"
    config.write_text("port = [\n")

    result = CliRunner().invoke(app, ["--config", str(config), "config", "show"])

    assert error_line(result, EXIT_INVALID).startswith(
        f"error: config file {config}: not valid TOML"
    )


def test_invalid_settings_name_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "registry.toml"
    config.write_text("colour = 'red'\n")

    result = CliRunner().invoke(
        app, ["--config", str(config), "config", "show"], env={"FATE_REGISTRY_PORT": "abc"}
    )

    line = error_line(result, EXIT_INVALID)
    assert "port: Input should be a valid integer" in line
    assert "colour: is not a known setting" in line


def test_a_fetch_from_a_server_not_registered_says_so(run: Any, tmp_path: Path) -> None:
    ids = tmp_path / "ids.csv"
    ids.write_text("id\n1\n")
    out = tmp_path / "features.csv"

    result = run("api-reader", "fetch", "--server", "nope", "--ids", str(ids), "--out", str(out))

    assert error_line(result, EXIT_NOT_FOUND).startswith(
        "error: server 'NOPE' is not registered: no plugin answered upload (chain: "
    )
    assert not out.exists()


def test_a_fetch_from_a_server_without_apireader_services_names_the_step(
    run: Any, tmp_path: Path
) -> None:
    ok(run("server", "register", "quiet", "--host", "127.0.0.1", "--port", "9"))
    ids = tmp_path / "ids.csv"
    ids.write_text("id\n1\n")

    result = run("api-reader", "fetch", "--server", "quiet", "--ids", str(ids), "--out", "f.csv")

    line = error_line(result, EXIT_FAILED)
    assert line.startswith("error: no plugin answered upload (chain: "), line


# -- import and export ---------------------------------------------------------------------------


def test_import_legacy_file(run: Any, tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(LEGACY_YAML)

    result = ok(run("import", str(legacy)))

    assert result.stdout == f"imported 1 server(s) and 2 service(s) from {legacy}\n"
    shown = json.loads(ok(run("service", "show", "THIRD", "upload", "--json")).stdout)
    assert (shown["url"], shown["data"]) == ("http://10.0.0.5:8080/v1/upload", {"app": "fate"})


def test_import_from_stdin_json(run: Any) -> None:
    document = {"version": 1, "servers": [{"name": "s", "host": "h", "port": 1}]}

    result = ok(run("import", "-", "--json", input=json.dumps(document)))

    assert json.loads(result.stdout) == {"servers": 1, "services": 0}


def test_export_import_export_is_identical(run: Any, third: None, tmp_path: Path) -> None:
    for fmt in ("yaml", "json"):
        exported = tmp_path / f"registry.{fmt}"
        ok(run("export", "-o", fmt, "--file", str(exported)))

        ok(run("import", str(exported)))

        assert ok(run("export", "-o", fmt)).stdout == exported.read_text()


def test_export_to_stdout_is_the_native_document(run: Any, third: None) -> None:
    assert ok(run("export")).stdout.startswith("version: 1\nservers:\n- name: THIRD\n")
    assert json.loads(ok(run("export", "--format", "json")).stdout)["version"] == 1


def test_export_o_is_the_format_as_on_every_command(
    run: Any, third: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"  # the working directory, apart from the database
    here.mkdir()
    monkeypatch.chdir(here)

    as_json = ok(run("export", "-o", "json")).stdout
    flag = ok(run("export", "--json")).stdout
    into_file = ok(run("export", "--output", "json", "-f", "registry.json"))

    assert json.loads(as_json)["servers"][0]["name"] == "THIRD"
    assert flag == as_json
    assert (here / "registry.json").read_text() == as_json
    assert into_file.stdout == ""
    assert [path.name for path in here.iterdir()] == ["registry.json"]  # no file named json


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--output", "backup.yaml"],
            "error: export: -o/--output is the format, yaml or json, not 'backup.yaml'; "
            "name the file with --file backup.yaml",
        ),
        (
            ["-o", "table"],
            "error: export: -o/--output is the format, yaml or json, not 'table'",
        ),
        (
            ["-o", "yaml", "--format", "json"],
            "error: export: -o yaml and --format json disagree: give one",
        ),
    ],
)
def test_export_refuses_an_output_that_is_not_a_format(
    run: Any,
    third: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    line: str,
) -> None:
    here = tmp_path / "here"  # the working directory, apart from the database
    here.mkdir()
    monkeypatch.chdir(here)

    assert error_line(run("export", *args), EXIT_INVALID) == line
    assert list(here.iterdir()) == []


def test_a_bad_import_writes_nothing_and_names_the_entry(
    run: Any, third: None, tmp_path: Path
) -> None:
    before = ok(run("export")).stdout
    document = tmp_path / "bad.yaml"
    document.write_text(
        "version: 1\nservers:\n"
        "  - {name: new, host: n.example, port: 80}\n"
        "  - {name: third, host: moved.example, port: 80, services: [{name: q, uri: q}]}\n"
    )

    line = error_line(run("import", str(document)), EXIT_INVALID)

    assert line == (
        f"error: {document}: servers[1] (third).services[0] (q): uri: must be a path starting"
        " with '/', without scheme or host"
    )
    assert ok(run("export")).stdout == before


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("THIRD: {host: a, port: 1}\nTHIRD: {host: b, port: 2}\n", "line 2: duplicate key 'THIRD'"),
        ("servers: [\n", "not valid YAML: line 2: "),  # then the parser's own words
        ("", "the document is empty"),
        ("- a\n", "the document must be a mapping, not a list"),
    ],
)
def test_an_unreadable_import_file_is_one_line(
    run: Any, tmp_path: Path, text: str, line: str
) -> None:
    document = tmp_path / "registry.yaml"
    document.write_text(text)

    line_shown = error_line(run("import", str(document)), EXIT_INVALID)

    assert line_shown.startswith(f"error: {document}: {line}")


# -- db and config -------------------------------------------------------------------------------


def test_db_upgrade_then_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    runner = CliRunner()

    current = ok(runner.invoke(app, ["--db", url, "db", "current", "--json"])).stdout
    upgraded = ok(runner.invoke(app, ["--db", url, "db", "upgrade", "--json"])).stdout
    again = ok(runner.invoke(app, ["--db", url, "db", "upgrade"])).stdout

    assert json.loads(current)["current"] is None
    assert json.loads(upgraded)["from"] is None
    assert json.loads(upgraded)["to"] == json.loads(current)["head"]
    assert again.startswith("database already at revision ")


def test_config_show_masks_secrets(run: Any) -> None:
    env = {
        "FATE_REGISTRY_ADMIN_TOKENS": "token-one-for-tests,token-two-for-tests",
        "FATE_REGISTRY_DB_URL": "postgresql://fate:s3cret@db.example:5432/registry",
    }

    result = CliRunner().invoke(app, ["config", "show", "--json"], env=env)

    shown = json.loads(ok(result).stdout)
    assert shown["admin_tokens"] == ["**********", "**********"]
    assert shown["db_url"] == "postgresql://fate:***@db.example:5432/registry"
    assert "s3cret" not in result.stdout
    assert "token-one" not in result.stdout
    assert "token-one" not in ok(CliRunner().invoke(app, ["config", "show"], env=env)).stdout


def test_config_show_reflects_db_and_config_options(tmp_path: Path) -> None:
    config = tmp_path / "registry.toml"
    config.write_text("cache_ttl = 5\n")

    result = CliRunner().invoke(
        app, ["--db", "sqlite:///x.db", "--config", str(config), "config", "show", "--json"]
    )

    shown = json.loads(ok(result).stdout)
    assert (shown["db_url"], shown["cache_ttl"]) == ("sqlite:///x.db", 5.0)


# -- the command itself ----------------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    result = ok(CliRunner().invoke(app, ["--help"]))

    for command in ("server", "service", "import", "export", "db", "config", "keys", "permission"):
        assert command in result.stdout


def test_the_installed_command_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/registry.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FATE_REGISTRY_")}
    command = [sys.executable, "-m", "fate_registry.cli", "--db", url]

    registered = subprocess.run(
        [*command, "server", "register", "third", "--host", "h.example", "--port", "80"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    missing = subprocess.run(
        [*command, "server", "show", "nope"], capture_output=True, text=True, env=env, check=False
    )

    assert (registered.returncode, registered.stdout) == (
        0,
        "registered server THIRD at http://h.example:80\n",
    )
    assert (missing.returncode, missing.stderr) == (
        EXIT_NOT_FOUND,
        "error: server 'NOPE' is not registered\n",
    )


def test_demo_without_a_reference_service_that_starts_is_one_line_with_the_install_command(
    tmp_path: Path,
) -> None:
    # A reference service whose import fails, found before any installed one: as in a venv
    # where it is installed without its dependencies.
    broken = tmp_path / "shadow" / "fate_reference_service"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("import no_such_dependency_of_the_test\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FATE_REGISTRY_")}
    env["PYTHONPATH"] = str(broken.parent)

    done = subprocess.run(
        [sys.executable, "-m", "fate_registry.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert done.returncode == EXIT_FAILED
    assert done.stdout == ""  # nothing was started
    assert done.stderr == (
        "error: the demo needs the reference service, which cannot start here "
        "(ModuleNotFoundError: No module named 'no_such_dependency_of_the_test'): "
        "pip install ./contrib/fate-reference-service (from a fate-registry checkout)\n"
    )


def test_a_password_in_the_url_query_is_masked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}?password=s3cret"
    result = CliRunner().invoke(app, ["--db", url, "config", "show", "--json"])
    assert "s3cret" not in result.output


def test_export_to_a_file_leaves_no_partial_file(run: Any, third: None, tmp_path: Path) -> None:
    output = tmp_path / "registry.yaml"
    ok(run("export", "--file", str(output)))
    assert "THIRD" in output.read_text() and list(tmp_path.glob(".*partial")) == []
    missing = tmp_path / "no-such-dir" / "registry.yaml"
    assert error_line(run("export", "--file", str(missing)), 1).startswith("error: cannot write")


def test_a_misspelt_setting_variable_is_one_line(run: Any) -> None:
    result = run("server", "list", env={"FATE_REGISTRY_DB_ULR": "sqlite:///elsewhere.db"})
    line = error_line(result, EXIT_INVALID)
    assert line.startswith("error: unknown setting variable(s) FATE_REGISTRY_DB_ULR")


def test_nested_and_non_setting_variables_are_not_unknown(run: Any) -> None:
    env = {"FATE_REGISTRY_HOOKS__PERMISSION__TIMEOUT": "0.5", "FATE_REGISTRY_LOAD_PLUGINS": ""}
    ok(run("server", "list", env=env))
