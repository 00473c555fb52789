"""`fate-registry plugins` and `fate-registry call`, in this environment."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callback_service import callback_app, serve
from typer.testing import CliRunner, Result

from fate_registry import Registry
from fate_registry.cli import app
from fate_registry.plugins import reset_plugin_manager

PERMISSION = {"src_role": "guest", "src_party_id": "9999", "component_list": ["reader_0"]}


@pytest.fixture(autouse=True)
def only_the_http_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("FATE_REGISTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FATE_REGISTRY_LOAD_PLUGINS", "http")
    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def run(sqlite_url: str) -> Any:
    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, ["--db", sqlite_url, *args], input=input)

    return invoke


@pytest.fixture
def request_file(tmp_path: Path) -> Path:
    path = tmp_path / "permission.json"
    path.write_text(json.dumps(PERMISSION))
    return path


def test_plugins_lists_plugins_and_chains_as_json(run: Any) -> None:
    result = run("plugins", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert [p["name"] for p in listing["plugins"]] == ["http"]
    assert listing["chains"]["permission"] == ["http"]


def test_plugins_shows_a_chain_naming_a_plugin_installed_but_not_loaded(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FATE_REGISTRY_HOOKS__PERMISSION__CHAIN", "grants,http")
    result = run("plugins")
    assert result.exit_code == 0, result.output
    assert "grants (not loaded), http" in result.stdout


def test_call_prints_the_answer_the_plugin_and_the_time(
    run: Any, sqlite_url: str, request_file: Path
) -> None:
    with serve(callback_app()) as (host, port):
        with Registry(sqlite_url) as registry:
            registry.register_server("HOOK", host, port)
            registry.register_service("HOOK", "permission", "/allow")
        result = run("call", "permission", "--json-file", str(request_file))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "allow: code 0, welcome"
    assert lines[1].startswith("plugin: http; decision ") and lines[1].endswith(" ms")


def test_call_exits_1_on_a_deny(run: Any, request_file: Path) -> None:
    result = run("call", "permission", "--json-file", str(request_file), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["allowed"] is False


def test_call_reads_stdin(run: Any) -> None:
    result = run("call", "permission", "--json-file", "-", "--json", input=json.dumps(PERMISSION))
    assert json.loads(result.stdout)["capability"] == "permission"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{oops", "not valid JSON"),
        ("[1]", "the request must be a JSON object"),
        ('{"src_role": "guest"}', "invalid permission request: src_party_id: Field required"),
    ],
)
def test_call_with_a_bad_request_is_one_line_and_exit_2(
    run: Any, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "request.json"
    path.write_text(content)
    result = run("call", "permission", "--json-file", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_call_of_an_unknown_capability_lists_the_known_ones(run: Any, request_file: Path) -> None:
    result = run("call", "permit", "--json-file", str(request_file))
    assert result.exit_code == 2 and "'client_authentication'" in result.stderr


def test_call_of_apireader_without_a_service_says_so(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "query.json"
    path.write_text('{"job_id": "x"}')
    result = run("call", "query", "--json-file", str(path))
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no plugin answered query (chain: http)"


def test_call_of_apireader_prints_the_answer_the_plugin_and_the_time(
    run: Any, sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "query.json"
    path.write_text('{"job_id": "job-42"}')
    with serve(callback_app()) as (host, port):
        with Registry(sqlite_url) as registry:
            registry.register_server("HOOK", host, port)
            registry.register_service("HOOK", "query", "/query-data")
        human = run("call", "query", "--json-file", str(path))
        as_json = run("call", "query", "--json-file", str(path), "--json")
    assert human.exit_code == 0, human.output
    lines = human.stdout.splitlines()
    assert json.loads(lines[0]) == {
        "status": "success",
        "raw_status": "success",
        "retry_after": None,
    }
    assert lines[1].startswith("plugin: http; ") and lines[1].endswith(" ms")
    assert json.loads(as_json.stdout)["plugin"] == "http"


def test_call_never_prints_a_services_stored_params(
    run: Any, sqlite_url: str, request_file: Path
) -> None:
    with Registry(sqlite_url) as registry:
        registry.register_server("HOOK", "127.0.0.1", 9)  # discard port: nothing listens
        registry.register_service("HOOK", "permission", "/allow", params={"token": "s3cret"})
    result = run("call", "permission", "--json-file", str(request_file))
    assert result.exit_code == 1
    assert "connection failed" in result.output and "s3cret" not in result.output


def test_call_offers_every_capability() -> None:
    from fate_registry.capabilities import CAPABILITIES
    from fate_registry.cli.plugins import CapabilityName

    assert tuple(CapabilityName) == CAPABILITIES


@pytest.mark.parametrize(
    "variable", ["FATE_REGISTRY_LOAD_PLUGINS", "FATE_REGISTRY_DISABLE_PLUGINS"]
)
def test_an_unknown_plugin_name_is_one_error_line_and_exit_2(
    run: Any, request_file: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "newcomr")
    for args in (["plugins"], ["call", "permission", "--json-file", str(request_file)]):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: {variable} names no installed plugin: 'newcomr'")
        installed = result.stderr.partition("; installed: ")[2]  # others may be installed too
        assert all(name in installed for name in ("grants", "hmac", "http", "localfeatures", "rsa"))
        assert len(result.stderr.splitlines()) == 1


def test_a_chain_naming_a_plugin_not_installed_is_one_error_line_and_exit_2(
    run: Any, request_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FATE_REGISTRY_HOOKS__PERMISSION__CHAIN", "htpp")
    for args in (["plugins"], ["call", "permission", "--json-file", str(request_file)]):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(
            "error: hooks.permission.chain names no installed plugin: 'htpp'; installed: "
        )
        assert len(result.stderr.splitlines()) == 1
