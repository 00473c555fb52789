"""Access control, the registration guard, the bind check, request ids, and no secret in replies."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from http_support import SPEC_SERVER, SPEC_SERVICE, client_for, register_spec_example, snapshot

from fate_registry import Registry, Settings
from fate_registry.http.errors import APIError
from fate_registry.http.guard import check_reachable
from fate_registry.http.security import ClientVerdict
from fate_registry.http.serve import UnsafeBind, check_bind

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def protected(sqlite_url: str) -> Iterator[tuple[object, Registry]]:
    with client_for(sqlite_url, admin_tokens=[TOKEN, "another-token-for-tests"]) as pair:
        yield pair


# -- writes and reads with tokens ------------------------------------------------------------

WRITES = [
    ("/v1/server/a/register", SPEC_SERVER),
    ("/v1/service/registry", SPEC_SERVICE),
    ("/v1/server/fate_test/delete", {"cascade": True}),
    ("/v1/service/delete", {"server_name": "fate_test", "service_name": "upload"}),
    ("/v2/server/registry", {"server_name": "a", **SPEC_SERVER}),
    ("/v2/server/delete", {"server_name": "fate_test", "cascade": True}),
    ("/v2/server/service/registry", SPEC_SERVICE),
    ("/v2/server/service/delete", {"server_name": "fate_test", "service_name": "upload"}),
]


@pytest.mark.parametrize(("path", "body"), WRITES, ids=[w[0] for w in WRITES])
def test_unauthenticated_write_is_401_and_stores_nothing(protected, path, body):
    client, registry = protected
    register_spec_example(client, AUTH)
    before = snapshot(registry)
    reply = client.post(path, json=body)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    code, message = ("retcode", "retmsg") if path.startswith("/v1/") else ("code", "message")
    assert reply.json()[code] == 109
    assert reply.json()[message] == (
        "authentication is required here: send 'Authorization: Bearer <token>'"
    )
    assert snapshot(registry) == before


def test_wrong_token_is_401_and_stores_nothing(protected):
    client, registry = protected
    before = snapshot(registry)
    reply = client.post(
        "/v1/server/a/register", json=SPEC_SERVER, headers={"Authorization": "Bearer nope"}
    )
    assert reply.status_code == 401
    assert reply.json()["retmsg"] == "the bearer token is not valid here"
    assert snapshot(registry) == before


def test_basic_auth_is_not_a_token(protected):
    client, _ = protected
    reply = client.post(
        "/v1/server/a/register", json=SPEC_SERVER, headers={"Authorization": f"Basic {TOKEN}"}
    )
    assert reply.status_code == 401


@pytest.mark.parametrize("token", [TOKEN, "another-token-for-tests"])
def test_any_configured_token_may_write(protected, token):
    client, registry = protected
    reply = client.post(
        "/v2/server/registry",
        json={"server_name": "a", **SPEC_SERVER},
        headers={"Authorization": f"bearer {token}"},
    )
    assert reply.status_code == 200
    assert registry.server("A").port == 8888


def test_reads_are_open_by_default_even_with_tokens(protected):
    client, _ = protected
    register_spec_example(client, AUTH)
    assert client.post("/v1/server/get").status_code == 200
    assert client.get("/v2/server/query", params={"server_name": "fate_test"}).status_code == 200


READS = [
    ("POST", "/v1/server/fate_test/get", None),
    ("POST", "/v1/server/get", None),
    ("POST", "/v1/service/query", {"service_name": "upload"}),
    ("GET", "/v2/server/query?server_name=fate_test", None),
    ("GET", "/v2/server/query/all", None),
    ("GET", "/v2/server/service/query?server_name=fate_test&service_name=upload", None),
]


@pytest.mark.parametrize(("method", "path", "body"), READS, ids=[r[1] for r in READS])
def test_protected_reads_need_a_token(sqlite_url, method, path, body):
    with client_for(sqlite_url, admin_tokens=[TOKEN], protect_reads=True) as (client, _):
        register_spec_example(client, AUTH)
        refused = client.request(method, path, json=body)
        assert refused.status_code == 401
        assert "to read here" in refused.text
        assert client.request(method, path, json=body, headers=AUTH).status_code == 200


def test_health_stays_open_when_reads_are_protected(sqlite_url):
    with client_for(sqlite_url, admin_tokens=[TOKEN], protect_reads=True) as (client, _):
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json()["status"] == "ready"


def test_with_nothing_configured_writes_are_open(sqlite_url):
    with client_for(sqlite_url) as (client, _):
        register_spec_example(client)


def test_client_authenticator_seam_is_tried_after_tokens(sqlite_url):
    seen = []

    async def authenticator(request, action):
        seen.append((request.headers.get("app_key"), action, await request.body()))
        good = request.headers.get("app_key") == "good"
        return ClientVerdict(good, "" if good else "app_key is not good")

    with client_for(sqlite_url) as (client, registry):
        client.app.state.client_authenticator = authenticator
        refused = client.post("/v1/server/a/register", json=SPEC_SERVER, headers={"APP_KEY": "bad"})
        assert refused.status_code == 401
        assert refused.json()["retmsg"] == "app_key is not good"
        assert registry.servers() == []
        allowed = client.post(
            "/v1/server/a/register", json=SPEC_SERVER, headers={"APP_KEY": "good"}
        )
        assert allowed.status_code == 200
        assert seen[-1][1] == "write"
        assert b'"port":8888' in seen[-1][2].replace(b" ", b"")


def test_a_failing_client_authenticator_denies(sqlite_url):
    async def authenticator(request, action):
        raise RuntimeError("down")

    with client_for(sqlite_url) as (client, registry):
        client.app.state.client_authenticator = authenticator
        assert client.post("/v1/server/a/register", json=SPEC_SERVER).status_code == 401
        assert registry.servers() == []


# -- serve's bind check ----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_binds_without_tokens(host):
    check_bind(Settings(host=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "registry.example"])
def test_non_loopback_bind_without_tokens_is_refused(host):
    with pytest.raises(UnsafeBind, match="FATE_REGISTRY_ADMIN_TOKENS"):
        check_bind(Settings(host=host))


@pytest.mark.parametrize("tokens", ["a", "short-token", f"{TOKEN},fifteen-chars-x"])
def test_admin_tokens_under_16_characters_are_refused(tokens):
    with pytest.raises(ValueError, match="FATE_REGISTRY_ADMIN_TOKENS") as refused:
        Settings(admin_tokens=tokens)
    assert "at least 16 characters" in str(refused.value)
    assert "short-token" not in str(refused.value) and TOKEN not in str(refused.value)


def test_non_loopback_bind_with_tokens_or_insecure_is_allowed():
    check_bind(Settings(host="0.0.0.0", admin_tokens=[TOKEN]))
    check_bind(
        Settings(
            host="0.0.0.0",
            admin_tokens=[TOKEN],
            protect_reads=True,
            hooks={"gateway_protection": "read"},
        )
    )
    check_bind(Settings(host="0.0.0.0"), insecure=True)
    check_bind(Settings(host="0.0.0.0", hooks={"api_authentication": True}), insecure=True)


@pytest.mark.parametrize(
    "settings",
    [
        {"hooks": {"api_authentication": True}},  # writes protected, the gateway is not
        {"admin_tokens": [TOKEN], "hooks": {"gateway_protection": "read"}},  # reads are open
    ],
    ids=["chain-without-tokens", "gateway-like-open-reads"],
)
def test_non_loopback_bind_with_an_open_hook_gateway_is_refused(settings):
    with pytest.raises(UnsafeBind, match="/v1/hook/signature would sign") as refused:
        check_bind(Settings(host="0.0.0.0", **settings))
    assert "FATE_REGISTRY_HOOKS__GATEWAY_PROTECTION=write" in str(refused.value)
    assert "FATE_REGISTRY_PROTECT_READS=true" in str(refused.value)
    check_bind(Settings(host="127.0.0.1", **settings))


@pytest.mark.parametrize("policy", [{"default": "allow"}, {"failure_policy": "allow"}])
def test_a_chain_that_may_allow_without_a_plugin_is_no_protection(policy):
    hooks = {"api_authentication": True, "client_authentication": policy}
    with pytest.raises(UnsafeBind, match="default and failure_policy deny"):
        check_bind(Settings(host="0.0.0.0", hooks=hooks))


# -- allowed_hosts ---------------------------------------------------------------------------

ALLOWED = ["10.0.0.0/8", "*.svc.example", "fd00::/8"]


@pytest.mark.parametrize("host", ["10.1.2.3", "a.svc.example", "B.SVC.EXAMPLE", "fd00::1"])
def test_allowed_hosts_admit_matching_addresses(sqlite_url, host):
    with client_for(sqlite_url, allowed_hosts=ALLOWED) as (client, _):
        reply = client.post("/v1/server/a/register", json={"host": host, "port": 80})
        assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("host", ["11.0.0.1", "svc.example", "evil.example", "fe80::1"])
def test_allowed_hosts_refuse_others_with_403_and_store_nothing(sqlite_url, host):
    with client_for(sqlite_url, allowed_hosts=ALLOWED) as (client, registry):
        before = snapshot(registry)
        reply = client.post(
            "/v2/server/registry", json={"server_name": "a", "host": host, "port": 80}
        )
        assert reply.status_code == 403
        assert reply.json()["code"] == 108
        assert reply.json()["message"] == (
            f"host: {host.lower()!r} is not allowed here (setting allowed_hosts); "
            "nothing was stored"
        )
        assert snapshot(registry) == before


def test_allowed_hosts_apply_to_the_legacy_body(sqlite_url):
    with client_for(sqlite_url, allowed_hosts=ALLOWED) as (client, registry):
        body = {"OK": {"host": "10.0.0.1", "port": 1}, "BAD": {"host": "8.8.8.8", "port": 1}}
        reply = client.post("/v1/service/registry", json=body)
        assert reply.status_code == 403
        assert registry.servers() == []


# -- connectivity check ----------------------------------------------------------------------


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_check_true_refuses_an_unreachable_server(sqlite_url, closed_port):
    with client_for(sqlite_url) as (client, registry):
        reply = client.post(
            "/v1/server/a/register?check=true", json={"host": "127.0.0.1", "port": closed_port}
        )
        assert reply.status_code == 422
        assert reply.json()["retcode"] == 105
        assert reply.json()["retmsg"].startswith(
            f"connectivity check: cannot connect to 127.0.0.1:{closed_port} ("
        )
        assert registry.servers() == []


def test_check_true_admits_a_listening_server(sqlite_url, listening_port):
    with client_for(sqlite_url) as (client, registry):
        reply = client.post(
            "/v2/server/registry?check=true",
            json={"server_name": "a", "host": "127.0.0.1", "port": listening_port},
        )
        assert reply.status_code == 200
        assert registry.server("a").port == listening_port


def test_connectivity_setting_checks_and_check_false_overrides_it(sqlite_url, closed_port):
    body = {"host": "127.0.0.1", "port": closed_port}
    with client_for(sqlite_url, check_connectivity=True) as (client, _):
        assert client.post("/v1/server/a/register", json=body).status_code == 422
        assert client.post("/v1/server/a/register?check=false", json=body).status_code == 200


def test_check_true_resolves_a_name(sqlite_url, listening_port, closed_port):
    with client_for(sqlite_url) as (client, registry):
        body = {"server_name": "a", "host": "localhost", "port": closed_port}
        assert client.post("/v2/server/registry?check=true", json=body).status_code == 422
        body["port"] = listening_port
        assert client.post("/v2/server/registry?check=true", json=body).status_code == 200
        assert registry.server("a").host == "localhost"


@pytest.fixture
def stuck_resolver(monkeypatch) -> Iterator[None]:
    released = threading.Event()

    def getaddrinfo(*args, **kwargs):
        released.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    released.set()


def test_the_connectivity_timeout_covers_name_resolution(stuck_resolver):
    started = time.monotonic()
    with pytest.raises(APIError) as refused:
        check_reachable("slow.example", 80, timeout=0.3)
    elapsed = time.monotonic() - started
    # the 0.3 s timeout with slack for a loaded machine, not the resolver's 10 s
    assert elapsed < 3, f"took {elapsed:.2f} s"
    assert refused.value.status == 422
    assert "(name not resolved within 0.3 s)" in refused.value.message


# -- request ids, access log, secrets ---------------------------------------------------------


def test_request_id_is_echoed_or_made(sqlite_url):
    with client_for(sqlite_url) as (client, _):
        assert (
            client.get("/healthz", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"]
            == "abc-1"
        )
        made = client.get("/healthz", headers={"X-Request-ID": "bad id\x7f"}).headers
        assert len(made["x-request-id"]) == 32


def test_one_access_log_line_per_request_with_its_id(sqlite_url, caplog):
    with client_for(sqlite_url) as (client, _):
        with caplog.at_level(logging.INFO, logger="fate_registry.access"):
            client.post("/v1/server/nope/get", headers={"X-Request-ID": "rid-42"})
        lines = [r.getMessage() for r in caplog.records if r.name == "fate_registry.access"]
        assert len(lines) == 1
        assert lines[0].startswith("rid-42 ")
        assert '"POST /v1/server/nope/get" 404' in lines[0]


def test_the_access_log_escapes_control_characters_in_the_path(sqlite_url, caplog):
    with client_for(sqlite_url) as (client, _):
        with caplog.at_level(logging.INFO, logger="fate_registry.access"):
            client.get("/v1/x%0aINFO:%20forged%20200%0d%1b[2K%E2%80%A8%22%5c")
        (line,) = [r.getMessage() for r in caplog.records if r.name == "fate_registry.access"]
        assert line.isprintable()
        assert '"GET /v1/x\\nINFO: forged 200\\r\\x1b[2K\\u2028\\"\\\\" 404' in line


def test_no_reply_carries_a_token_tls_path_or_secret_value(sqlite_url):
    with client_for(sqlite_url, admin_tokens=[TOKEN]) as (client, registry):
        registry.register_server(
            "tls",
            "h",
            443,
            "https",
            ca_bundle="/etc/ca-secret.pem",
            client_cert="/etc/client-secret.pem",
        )
        client.post(
            "/v1/service/registry",
            headers=AUTH,
            json={
                "server_name": "tls",
                "service_name": "signature",
                "uri": "/s",
                "headers": {"Authorization": "Bearer downstream-secret"},
                "data": {"private_key": "pk-secret", "party_id": "9999"},
            },
        )
        replies = [
            client.post("/v1/server/get"),
            client.get("/v2/server/query/all"),
            client.post("/v1/service/query", json={"service_name": "signature"}),
            client.get(
                "/v2/server/service/query",
                params={"server_name": "tls", "service_name": "signature"},
            ),
            client.post("/v1/server/a/register", json=SPEC_SERVER),
            client.get("/openapi.json"),
        ]
        for reply in replies:
            for secret in (TOKEN, "ca-secret", "client-secret", "downstream-secret", "pk-secret"):
                assert secret not in reply.text
        # Without a token, where tokens are set, no stored value shows; with one, the
        # secret-looking ones stay hidden.
        service = replies[3].json()["data"]
        assert service["data"] == {"private_key": "********", "party_id": "********"}
        query = {"server_name": "tls", "service_name": "signature"}
        service = client.get("/v2/server/service/query", params=query, headers=AUTH).json()
        assert service["data"]["data"] == {"private_key": "********", "party_id": "9999"}
        assert replies[0].json()["data"]["TLS"]["tls_ca_bundle_set"] is True


def test_replies_mask_secrets_in_lists_and_in_uri_and_url_queries(sqlite_url):
    with client_for(sqlite_url) as (client, registry):
        registry.register_server("s", "10.0.0.5", 8080)
        body = {
            "server_name": "s",
            "service_name": "upload",
            "uri": "/up?x=1&access_token=tok-in-uri&b",
            "params": {"signers": [{"api_key": "key-in-list"}, "plain"]},
            "data": {"parties": [[{"password": "pw-in-list"}]], "party_id": "9999"},
        }
        replies = [
            client.post("/v1/service/registry", json=body),
            client.post("/v1/service/query", json={"service_name": "upload"}),
            client.get(
                "/v2/server/service/query", params={"server_name": "s", "service_name": "upload"}
            ),
        ]
        for reply in replies:
            assert reply.status_code == 200
            for secret in ("tok-in-uri", "key-in-list", "pw-in-list"):
                assert secret not in reply.text
        service = replies[2].json()["data"]
        assert service["uri"] == "/up?x=1&access_token=********&b"
        assert service["url"] == "http://10.0.0.5:8080/up?x=1&access_token=********&b"
        assert service["params"] == {"signers": [{"api_key": "********"}, "plain"]}
        assert service["data"] == {"parties": [[{"password": "********"}]], "party_id": "9999"}
        assert registry.resolve("s", "upload").url.endswith("access_token=tok-in-uri&b")


# -- health and the OpenAPI document ----------------------------------------------------------


def test_readyz_is_503_with_a_reason_and_no_connection_detail_when_the_database_fails(
    sqlite_url,
):
    from conftest import reset_database

    with client_for(sqlite_url) as (client, _):
        assert client.get("/readyz").json() == {"status": "ready", "revision": 0}
        reset_database(sqlite_url)  # the tables are gone
        reply = client.get("/readyz")
        assert reply.status_code == 503
        assert reply.json() == {
            "status": "unavailable",
            "reason": "the registry database is unavailable: its tables are missing (was it "
            "dropped? `fate-registry db upgrade` creates them)",
        }
        assert client.get("/healthz").status_code == 200


def _secured(client) -> dict[str, bool]:
    paths = client.get("/openapi.json").json()["paths"]
    return {
        f"{method.upper()} {path}": "security" in operation
        for path, operations in paths.items()
        for method, operation in operations.items()
        if path.startswith(("/v1/server", "/v1/service", "/v2/"))
    }


def test_openapi_shows_no_security_when_nothing_is_configured(sqlite_url):
    with client_for(sqlite_url) as (client, _):
        assert not any(_secured(client).values())
        assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_openapi_marks_writes_as_needing_a_token(sqlite_url):
    with client_for(sqlite_url, admin_tokens=[TOKEN]) as (client, _):
        secured = _secured(client)
    assert secured["POST /v1/server/{server_name}/register"]
    assert secured["POST /v2/server/service/delete"]
    assert not secured["GET /v2/server/query"]
    assert not secured["POST /v1/server/get"]


def test_openapi_marks_reads_too_when_they_are_protected(sqlite_url):
    with client_for(sqlite_url, admin_tokens=[TOKEN], protect_reads=True) as (client, _):
        assert all(_secured(client).values())
