"""The Host header check: only the server's own names are answered (loopback names, the bind
address, ``trusted_hosts``), and no route answers with a redirect."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from callback_service import serve
from http_support import SPEC_SERVER, client_for, snapshot
from pydantic import ValidationError

from fate_registry import Registry, Settings
from fate_registry.http import create_app
from fate_registry.http.serve import ServeError, check_trusted_hosts

TOKEN = "host-check-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVER = {"server_name": "third", **SPEC_SERVER}


def refused(reply: Any) -> None:
    assert reply.status_code == 400, reply.text
    assert "location" not in reply.headers
    assert "trusted_hosts" in reply.json()["message"]
    assert "FATE_REGISTRY_TRUSTED_HOSTS" in reply.json()["message"]


@pytest.mark.parametrize("path", ["/v2/server/registry", "/v2/server/registry/"])
@pytest.mark.parametrize("auth", [{}, AUTH], ids=["no token", "token"])
def test_a_foreign_host_gets_no_redirect_and_writes_nothing(sqlite_url, path, auth):
    with client_for(sqlite_url, admin_tokens=[TOKEN]) as (client, registry):
        before = snapshot(registry)
        reply = client.post(path, json=SERVER, headers={"Host": "evil.example", **auth})
        refused(reply)
        assert snapshot(registry) == before


def test_no_route_redirects_a_trailing_slash(sqlite_url):
    with client_for(sqlite_url) as (client, registry):
        reply = client.post("/v2/server/registry/", json=SERVER, follow_redirects=False)
        assert reply.status_code == 404
        assert "location" not in reply.headers
        assert registry.servers() == []


@pytest.fixture
def served(sqlite_url: str) -> Iterator[tuple[str, int, Registry]]:
    """The app as ``serve`` runs it by default (loopback, no token), over real HTTP."""
    with Registry(sqlite_url, cache_ttl=0) as registry:
        app = create_app(registry, Settings(db_url=sqlite_url))
        with serve(app) as (host, port):
            yield host, port, registry


def test_dns_rebinding_cannot_register_on_the_tokenless_loopback_default(served):
    # A page at rebind.attacker.example whose name now resolves to 127.0.0.1: the browser
    # connects to us, but still names the attacker's host.
    host, port, registry = served
    reply = requests.post(
        f"http://{host}:{port}/v2/server/registry",
        json=SERVER,
        headers={"Host": f"rebind.attacker.example:{port}"},
        timeout=5,
    )
    refused(reply)
    assert registry.servers() == []
    # The same request naming the server as the machine itself does is let through.
    reply = requests.post(f"http://{host}:{port}/v2/server/registry", json=SERVER, timeout=5)
    assert reply.json()["code"] == 0


def test_a_request_without_a_host_header_is_refused(served):
    host, port, _ = served
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"GET /v2/server/query/all HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert b"trusted_hosts" in answer


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST:9390",
        "localhost.",
        "127.0.0.1",
        "127.0.0.1:9390",
        "127.1.2.3",
        "[::1]",
        "[::1]:9390",
    ],
)
def test_loopback_names_are_trusted_by_default(sqlite_url, host):
    with client_for(sqlite_url) as (client, _):
        assert client.get("/v2/server/query/all", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "10.0.0.5",
        "[::2]",
        "",
        "a b",
        "localhost:notaport",
        "[::1",
    ],
)
def test_other_hosts_are_refused_by_default(sqlite_url, host):
    with client_for(sqlite_url) as (client, _):
        refused(client.get("/v2/server/query/all", headers={"Host": host}))


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("registry.example.org", True),
        ("Registry.Example.Org:9390", True),
        ("a.svc.example", True),
        ("svc.example", False),
        ("10.1.2.3:9390", True),
        ("11.1.2.3", False),
        ("[fd00::5]:9390", True),
        ("localhost", True),  # loopback stays trusted
        ("evil.example", False),
    ],
)
def test_trusted_hosts_add_names_patterns_and_networks(sqlite_url, host, trusted):
    settings = {"trusted_hosts": "registry.example.org,*.svc.example,10.0.0.0/8,fd00::/8"}
    with client_for(sqlite_url, **settings) as (client, _):
        reply = client.get("/v2/server/query/all", headers={"Host": host})
        if trusted:
            assert reply.status_code == 200
        else:
            refused(reply)


def test_a_star_trusts_any_host(sqlite_url):
    with client_for(sqlite_url, trusted_hosts=["*"]) as (client, _):
        assert client.get("/v2/server/query/all", headers={"Host": "x.example"}).status_code == 200


def test_the_bind_address_is_trusted(sqlite_url):
    with client_for(sqlite_url, host="10.1.2.3", admin_tokens=[TOKEN]) as (client, _):
        headers = {"Host": "10.1.2.3:9390"}
        assert client.get("/v2/server/query/all", headers=headers).status_code == 200
        refused(client.get("/v2/server/query/all", headers={"Host": "10.1.2.4"}))


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_answers_whatever_the_host(sqlite_url, path):
    # Orchestrators probe a pod by its address, which nobody can list ahead; health carries
    # no registration data.
    with client_for(sqlite_url) as (client, _):
        assert client.get(path, headers={"Host": "10.244.1.7:9390"}).status_code == 200


@pytest.mark.parametrize("entry", ["http://x.example", "x.example/path", "a b", "x.example:80"])
def test_a_malformed_trusted_host_is_a_settings_error(entry):
    with pytest.raises(ValidationError, match="trusted_hosts"):
        Settings(trusted_hosts=[entry])


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_serve_on_every_address_needs_trusted_hosts(host):
    with pytest.raises(ServeError, match="FATE_REGISTRY_TRUSTED_HOSTS"):
        check_trusted_hosts(Settings(host=host, admin_tokens=[TOKEN]))
    check_trusted_hosts(Settings(host=host, admin_tokens=[TOKEN], trusted_hosts=["r.example"]))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "10.1.2.3", "r.example"])
def test_serve_on_one_address_needs_no_trusted_hosts(host):
    check_trusted_hosts(Settings(host=host, admin_tokens=[TOKEN]))
