"""Remote mode: every command the HTTP API offers gives, through a real `fate-registry serve`
(`--url`), the output and exit code it gives on the database itself (`--db`); the others say
they need the database. And `RegistryClient`, with and without a token."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callback_service import serve as serve_app
from cli_support import clear_settings
from fastapi import FastAPI
from serve_process import Served, free_port, serve
from typer.testing import CliRunner, Result

from fate_registry import (
    Conflict,
    InvalidRegistration,
    Registry,
    ServerNotFound,
    ServiceNotFound,
)
from fate_registry.cli import EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND, app
from fate_registry.client import (
    AuthenticationFailed,
    Forbidden,
    RegistryClient,
    RemoteError,
    Unreachable,
)
from fate_registry.models import ServerRegistration

TOKEN = "remote-test-token-0123456789"
LEGACY = """\
third:
  host: 10.0.0.5
  port: 8080
  api:
    upload: {uri: /v1/upload, data: {app: fate}}
    query: {uri: /v1/query, method: GET}
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings(monkeypatch)
    monkeypatch.setenv("FATE_REGISTRY_LOAD_PLUGINS", "http")


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('remote') / 'registry.db'}"


@pytest.fixture(scope="module")
def server(db_file: str) -> Iterator[Served]:
    """One serve, writes open (loopback), for the whole module."""
    with serve(db_file) as served:
        yield served


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A serve whose writes and reads need the token."""
    url = f"sqlite:///{tmp_path_factory.mktemp('protected') / 'registry.db'}"
    env = {"FATE_REGISTRY_ADMIN_TOKENS": TOKEN, "FATE_REGISTRY_PROTECT_READS": "true"}
    with serve(url, env=env) as served:
        yield served


@pytest.fixture
def state(db_file: str, server: Served) -> None:
    """The database as each test starts it: THIRD with upload and query, OTHER with permission."""
    with Registry(db_file, cache_ttl=0) as registry:
        for found in registry.servers():
            registry.delete_server(found.name, cascade=True)
        registry.register_server("third", "10.0.0.5", 8080)
        registry.register_service("third", "upload", "/v1/upload", data={"app": "fate"})
        registry.register_service("third", "query", "/v1/query", "GET")
        registry.register_server("other", "o.example", 80)
        registry.register_service("other", "permission", "/perm")


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def outcome(result: Result) -> tuple[int, str, str]:
    return result.exit_code, result.stdout, result.stderr


TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\+00:00|Z)?")


def same_outcome(local: Result, remote: Result) -> None:
    """Equal exit codes, stdout and stderr, times of day aside (each run writes anew)."""
    assert remote.exit_code == local.exit_code, (local.output, remote.output)
    assert TIMESTAMP.sub("T", remote.stdout) == TIMESTAMP.sub("T", local.stdout)
    assert remote.stderr == local.stderr


# Read commands: the same database state, read through each path.
READS = [
    ["server", "list"],
    ["server", "list", "-o", "json"],
    ["server", "list", "-o", "yaml"],
    ["server", "list", "--server", "th*"],
    ["server", "show", "third"],
    ["server", "show", "third", "--json"],
    ["server", "show", "nope"],
    ["service", "list"],
    ["service", "list", "--json"],
    ["service", "list", "--server", "third"],
    ["service", "list", "--server", "nope"],
    ["service", "list", "--server", "*R", "--service", "*e*"],
    ["service", "show", "third", "upload"],
    ["service", "show", "third", "upload", "-o", "yaml"],
    ["service", "show", "third", "nope"],
    ["service", "show", "bad name", "upload"],
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_reads_are_the_same_remote_and_local(
    args: list[str], db_file: str, server: Served, state: None
) -> None:
    local = invoke("--db", db_file, *args)
    remote = invoke("--url", server.url, *args)

    same_outcome(local, remote)


# Write commands: each runs on the fixture state, locally then remotely.
WRITES = [
    ["server", "register", "new", "--host", "10.1.1.1", "--port", "81"],
    ["server", "register", "new", "--host", "10.1.1.1", "--port", "81", "--json"],
    ["server", "register", "third", "--host", "moved.example", "--port", "90"],
    ["server", "register", "new", "--host", "h", "--port", "0"],
    ["server", "register", "new", "--host", "http://h/x", "--port", "80"],
    ["server", "delete", "third"],
    ["server", "delete", "third", "--cascade"],
    ["server", "delete", "third", "--cascade", "-o", "json"],
    ["server", "delete", "nope"],
    ["service", "register", "third", "perm", "--uri", "/p", "--method", "get"],
    ["service", "register", "third", "perm", "--uri", "/p", "--params", '{"v": "1"}', "--json"],
    ["service", "register", "nope", "perm", "--uri", "/p"],
    ["service", "register", "third", "perm", "--uri", "p"],
    ["service", "register", "third", "perm", "--uri", "/p", "--data", "[1]"],
    ["service", "delete", "third", "upload"],
    ["service", "delete", "third", "nope"],
]


@pytest.mark.parametrize("args", WRITES, ids=" ".join)
def test_writes_are_the_same_remote_and_local(
    args: list[str], db_file: str, server: Served, state: None
) -> None:
    local = invoke("--db", db_file, *args)
    after_local = invoke("--db", db_file, "export", "--format", "json").stdout
    _reset(db_file)
    remote = invoke("--url", server.url, *args)
    after_remote = invoke("--db", db_file, "export", "--format", "json").stdout

    same_outcome(local, remote)
    assert after_remote == after_local


def _reset(db_file: str) -> None:
    with Registry(db_file, cache_ttl=0) as registry:
        for found in registry.servers():
            registry.delete_server(found.name, cascade=True)
        registry.register_server("third", "10.0.0.5", 8080)
        registry.register_service("third", "upload", "/v1/upload", data={"app": "fate"})
        registry.register_service("third", "query", "/v1/query", "GET")
        registry.register_server("other", "o.example", 80)
        registry.register_service("other", "permission", "/perm")


def test_tls_paths_are_refused_remotely(server: Served, state: None) -> None:
    args = ["server", "register", "s", "--host", "h", "--port", "1", "--ca-bundle", "/ca.pem"]

    result = invoke("--url", server.url, *args)

    assert result.exit_code == EXIT_INVALID
    assert result.stderr == (
        "error: ca_bundle: cannot be set over the HTTP API: register it where the database is\n"
    )


def test_import_is_the_same_remote_and_local(
    db_file: str, server: Served, state: None, tmp_path: Path
) -> None:
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(LEGACY)
    native = tmp_path / "native.json"
    native.write_text(
        json.dumps(
            {
                "version": 1,
                "servers": [
                    {"name": "s1", "host": "h1", "port": 1},
                    {"name": "other", "host": "o.example", "port": 80, "services": []},
                ],
            }
        )
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nservers:\n  - {name: x, host: h, port: 1, services: [{name: q}]}\n")
    for document in (legacy, native, bad):
        local = invoke("--db", db_file, "import", str(document))
        after_local = invoke("--db", db_file, "export").stdout
        _reset(db_file)
        remote = invoke("--url", server.url, "import", str(document))
        after_remote = invoke("--db", db_file, "export").stdout
        _reset(db_file)

        same_outcome(local, remote)
        assert after_remote == after_local


def test_import_of_services_on_a_registered_server_remotely(
    db_file: str, server: Served, state: None, tmp_path: Path
) -> None:
    document = tmp_path / "services.yaml"
    document.write_text(
        "version: 1\nservers:\n  - {name: s1, host: h1, port: 1}\n"
        "  - {name: third, host: 10.0.0.5, port: 8080, services: [{name: new, uri: /n}]}\n"
    )

    result = invoke("--url", server.url, "import", str(document), "--json")

    assert json.loads(result.stdout) == {"servers": 2, "services": 1}
    with Registry(db_file) as registry:
        assert {s.service_name for s in registry.services("third")} == {"new", "query", "upload"}


def test_call_goes_through_the_hook_gateway(db_file: str, server: Served, state: None) -> None:
    request = json.dumps({"src_role": "guest", "src_party_id": "9999"})

    local = invoke("--db", db_file, "call", "permission", "--json-file", "-", input=request)
    remote = invoke("--url", server.url, "call", "permission", "--json-file", "-", input=request)

    # No HOOK server is registered: the chain fails, the failure policy denies, exit 1.
    assert (local.exit_code, remote.exit_code) == (1, 1)
    assert local.stdout.splitlines()[0].startswith("deny: code ")
    assert remote.stdout.splitlines()[0].startswith("deny: code ")
    assert remote.stdout.splitlines()[-1].startswith(f"server: {server.url}; ")


@pytest.mark.parametrize(
    "args",
    [
        ["export"],
        ["db", "current"],
        ["db", "upgrade"],
        ["plugins"],
        ["serve"],
        ["call", "query", "--json-file", "-"],
        ["api-reader", "fetch", "--server", "third", "--ids", "ids.csv", "--out", "f.csv"],
    ],
    ids=" ".join,
)
def test_commands_the_api_does_not_offer_say_so(args: list[str], server: Served) -> None:
    result = invoke("--url", server.url, *args, input="{}")

    assert result.exit_code == EXIT_INVALID
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "--url" in result.stderr


def test_the_url_comes_from_the_environment_too(server: Served, state: None) -> None:
    result = CliRunner().invoke(
        app, ["server", "list", "-o", "json"], env={"FATE_REGISTRY_URL": server.url}
    )

    assert [found["name"] for found in json.loads(result.stdout)] == ["OTHER", "THIRD"]


def test_db_and_url_together_are_refused(server: Served) -> None:
    result = invoke("--db", "sqlite:///x.db", "--url", server.url, "server", "list")

    assert result.exit_code == EXIT_INVALID
    assert result.stderr == "error: --db and --url exclude each other: one registry at a time\n"


# -- with a token ----------------------------------------------------------------------------


def test_a_protected_server_needs_the_token(protected: Served) -> None:
    without = invoke("--url", protected.url, "server", "list")
    wrong = invoke("--url", protected.url, "--token", "wrong-token-0123456789", "server", "list")
    right = invoke("--url", protected.url, "--token", TOKEN, "server", "register", "a",
                   "--host", "h", "--port", "1")  # fmt: skip
    from_env = CliRunner().invoke(
        app, ["server", "list", "-o", "json"],
        env={"FATE_REGISTRY_URL": protected.url, "FATE_REGISTRY_TOKEN": TOKEN},
    )  # fmt: skip

    assert without.stderr.startswith(f"error: {protected.url}: authentication is required")
    assert wrong.stderr.startswith(f"error: {protected.url}: the bearer token is not valid")
    for refused in (without, wrong):
        assert refused.exit_code == EXIT_INVALID
        assert refused.stderr.endswith("(--token or FATE_REGISTRY_TOKEN)\n")
    assert right.stdout == "registered server A at http://h:1\n"
    assert [found["name"] for found in json.loads(from_env.stdout)] == ["A"]
    for result in (without, wrong, right, from_env):
        assert TOKEN not in result.output and "wrong-token" not in result.output


def test_call_on_a_protected_server_needs_the_token(protected: Served) -> None:
    request = json.dumps({"src_role": "guest", "src_party_id": "9999"})
    args = ["call", "permission", "--json-file", "-"]

    without = invoke("--url", protected.url, *args, input=request)
    wrong = invoke(
        "--url", protected.url, "--token", "wrong-token-0123456789", *args, input=request
    )
    right = invoke("--url", protected.url, "--token", TOKEN, *args, input=request)

    assert without.stderr.startswith(f"error: {protected.url}: authentication is required")
    assert wrong.stderr.startswith(f"error: {protected.url}: the bearer token is not valid")
    for refused in (without, wrong):
        assert refused.exit_code == EXIT_INVALID, refused.output
        assert refused.stdout == ""
        assert refused.stderr.endswith("(--token or FATE_REGISTRY_TOKEN)\n")
    # No HOOK server is registered: the chain fails, the failure policy denies, exit 1.
    assert right.exit_code == 1 and right.stdout.startswith("deny: code ")


def test_call_of_an_invalid_request_is_the_same_remote_and_local(
    db_file: str, server: Served, state: None
) -> None:
    request = json.dumps({"src_role": "guest", "src_party_id": ["9999"]})

    local = invoke("--db", db_file, "call", "permission", "--json-file", "-", input=request)
    remote = invoke("--url", server.url, "call", "permission", "--json-file", "-", input=request)

    assert local.exit_code == EXIT_INVALID
    same_outcome(local, remote)


def test_client_hook_raises_the_refusals_of_the_gateway(protected: Served) -> None:
    request = {"src_role": "guest", "src_party_id": "9999"}
    with RegistryClient(protected.url) as anonymous, pytest.raises(AuthenticationFailed) as exc:
        anonymous.hook("permission", request)
    assert exc.value.status == 401
    with RegistryClient(protected.url, token=TOKEN) as client:
        assert client.hook("permission", request)["code"] != 0  # a decision: a deny


def test_config_show_in_remote_mode_masks_the_token(protected: Served) -> None:
    result = invoke("--url", protected.url, "--token", TOKEN, "config", "show", "--json")

    shown = json.loads(result.stdout)
    assert (shown["url"], shown["token"]) == (protected.url, "**********")
    assert TOKEN not in result.stdout


def test_client_with_a_token(protected: Served) -> None:
    with RegistryClient(protected.url, token=TOKEN) as client:
        server = client.register_server("tok", "10.9.9.9", 99)
        service = client.register_service("tok", "upload", "/u", params={"v": "1"})
        assert client.server("TOK") == server
        assert client.service("tok", "UPLOAD") == service
        assert service.url == "http://10.9.9.9:99/u"
        assert client.revision > 0
        assert TOKEN not in repr(client)
    with RegistryClient(protected.url) as anonymous, pytest.raises(AuthenticationFailed) as exc:
        anonymous.servers()
    assert exc.value.status == 401


# -- RegistryClient: the methods and typed exceptions of Registry ---------------------------


def test_client_reads_and_writes_like_the_registry(
    db_file: str, server: Served, state: None
) -> None:
    with RegistryClient(server.url) as client, Registry(db_file) as registry:
        assert client.servers() == registry.servers()
        assert client.services() == registry.services()
        assert client.services("third") == registry.services("third")
        assert client.server("third") == registry.server("third")
        assert client.service("THIRD", "upload") == registry.service("third", "upload")

        moved = client.register_server("third", "moved.example", 9000, "https")
        assert moved.base_url == "https://moved.example:9000"
        assert registry.service("third", "upload").url == "https://moved.example:9000/v1/upload"
        assert client.delete_server("other", cascade=True) == 1
        client.delete_service("third", "query")
        assert [s.service_name for s in registry.services()] == ["upload"]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda c: c.server("nope"), ServerNotFound, "server 'NOPE' is not registered"),
        (
            lambda c: c.service("third", "nope"),
            ServiceNotFound,
            "service 'nope' is not registered on server 'THIRD'",
        ),
        (lambda c: c.services("nope"), ServerNotFound, "server 'NOPE' is not registered"),
        (
            lambda c: c.delete_server("third"),
            Conflict,
            "server 'THIRD' still has 2 service(s)",
        ),
        (
            lambda c: c.register_server("x", "h", 0),
            InvalidRegistration,
            "port: must be from 1 to 65535, got 0",
        ),
        (
            lambda c: c.register_service("nope", "s", "/s"),
            ServerNotFound,
            "server 'NOPE' is not registered",
        ),
    ],
)
def test_client_raises_the_registrys_typed_errors(
    server: Served, state: None, call: Any, error: type[Exception], message: str
) -> None:
    with RegistryClient(server.url) as client, pytest.raises(error) as raised:
        call(client)
    assert str(raised.value).startswith(message)


def test_client_maps_a_server_side_refusal(tmp_path: Path) -> None:
    env = {"FATE_REGISTRY_ALLOWED_HOSTS": "10.0.0.0/8"}
    with serve(f"sqlite:///{tmp_path / 'r.db'}", env=env) as served:
        client = RegistryClient(served.url)
        with pytest.raises(Forbidden) as raised:
            client.register_server("x", "192.168.1.1", 80)
        args = ["server", "register", "x", "--host", "192.168.1.1", "--port", "80"]
        result = invoke("--url", served.url, *args)
    assert "allowed_hosts" in str(raised.value)
    assert result.exit_code == EXIT_INVALID
    assert result.stderr == f"error: {raised.value}\n"


SERVER = ServerRegistration(name="x", host="10.0.0.1", port=80)


def refusing_app() -> FastAPI:
    """A server answering every route with HTTP 200 and a non-zero code, in the envelope of the
    route's API version (as a FATE Flow or a proxy in front of one may)."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def refuse(path: str) -> dict[str, Any]:
        if path.startswith("v1/"):
            return {"retcode": 100, "retmsg": "the registry is read-only now", "data": None}
        return {"code": 100, "message": "the registry is read-only now", "data": None}

    return app


def test_client_raises_a_reply_of_http_200_with_a_non_zero_code() -> None:
    with serve_app(refusing_app()) as (host, port):
        url = f"http://{host}:{port}"
        calls = [
            ("/v2/server/query/all", lambda client: client.servers()),
            ("/v2/server/registry", lambda client: client.register_server("x", "10.0.0.1", 80)),
            ("/v1/service/registry", lambda client: client.register_many([SERVER], [])),
        ]
        for path, call in calls:
            with RegistryClient(url) as client, pytest.raises(RemoteError) as raised:
                call(client)
            assert str(raised.value) == f"{url}{path}: HTTP 200: the registry is read-only now"
            assert raised.value.status == 200
        result = invoke("--url", url, "server", "list")

    assert result.exit_code == EXIT_FAILED
    assert (
        result.stderr == f"error: {url}/v2/server/query/all: HTTP 200: the registry is "
        "read-only now\n"
    )


def test_an_unreachable_server_is_one_line_without_credentials() -> None:
    port = free_port()
    url = f"http://fate:s3cret@127.0.0.1:{port}/?token=abc"

    with pytest.raises(Unreachable) as raised:
        RegistryClient(url).servers()
    result = invoke("--url", url, "server", "list")

    for text in (str(raised.value), result.stderr):
        assert "s3cret" not in text and "abc" not in text and "fate:" not in text
    assert result.exit_code == EXIT_FAILED
    assert result.stderr.startswith(f"error: cannot reach http://127.0.0.1:{port}: ")
    assert len(result.stderr.splitlines()) == 1


def test_exit_codes_are_those_of_local_mode(server: Served, state: None) -> None:
    assert invoke("--url", server.url, "server", "show", "nope").exit_code == EXIT_NOT_FOUND
    assert invoke("--url", server.url, "server", "delete", "third").exit_code == EXIT_FAILED
