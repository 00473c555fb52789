"""Who may change keys and grants: an admin token or an app key listed in hmac.admin_app_keys,
never just any client the hmac plugin authenticates; this site's own public key changes only
with its private key; refusals say which credential is needed, or why a signature failed."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from http_support import BASE_URL, client_for
from test_rsa_plugin import FateSite

import fate_registry_grants
import fate_registry_hmac
import fate_registry_rsa
from fate_registry import Registry, Settings
from fate_registry.dispatch import Dispatcher
from fate_registry.errors import OwnKeyProtected
from fate_registry.http import create_app
from fate_registry.metrics import HookMetrics
from fate_registry.plugins import build_plugin_manager
from fate_registry_hmac import HmacAuth

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LOCAL, PEER = "9999", "10000"
USER, USER_SECRET = "fate-user", "fate-user-secret"
OPS, OPS_SECRET = "fate-ops", "fate-ops-secret"
TOKEN = "admin-access-test-token"
BODY = {"job_id": "202401011200000000", "role": "host", "party_id": 10000}
JOB = {
    "src_party_id": PEER,
    "role": "host",
    "party_id": LOCAL,
    "roles": {"guest": [10000], "host": [9999]},
    "component_list": ["reader"],
}


def site_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db_url": db_url,
        "admin_tokens": [TOKEN],
        "hmac": {"app_keys": {USER: USER_SECRET, OPS: OPS_SECRET}, "admin_app_keys": [OPS]},
        "rsa": {"enabled": True, "party_id": LOCAL, "key_passphrase": "a-test-passphrase"},
        "grants": {"enabled": True},
        "hooks": {
            "site_authentication": {"cache": False},
            "permission": {"cache": False},
            "gateway_protection": "read",
        },
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def site(sqlite_url: str) -> Iterator[tuple[TestClient, Registry]]:
    settings = site_settings(sqlite_url)
    with Registry(settings=settings) as registry:
        pm = build_plugin_manager(load=set(), entry_points=[])
        for plugin, name in (
            (fate_registry_hmac, "hmac"),
            (fate_registry_grants, "grants"),
            (fate_registry_rsa, "rsa"),
        ):
            pm.register(plugin, name)
        registry.__dict__["hooks"] = Dispatcher(
            registry, settings=settings.hooks, plugins=pm, metrics=HookMetrics()
        )
        registry.keys.generate(LOCAL)
        app = create_app(registry, settings)
        with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
            yield client, registry


def signed(client: TestClient, path: str, body: Any, app_key: str, secret: str) -> Any:
    """POST ``body`` signed as fate_client signs (the hmac plugin's HmacAuth)."""
    prepared = requests.Request(
        "POST", BASE_URL + path, json=body, auth=HmacAuth(app_key, secret)
    ).prepare()
    return client.post(path, content=prepared.body, headers=dict(prepared.headers))


def writes(peer: FateSite) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/v1/key/public/save", {"party_id": PEER, "key": peer.public_pem}),
        ("/v1/key/public/delete", {"party_id": PEER}),
        ("/v1/permission/grant", {"party_id": PEER, "component": "reader"}),
        ("/v1/permission/delete", {"party_id": PEER, "component": "*"}),
    ]


def state(registry: Registry) -> tuple[list[Any], list[Any]]:
    return (
        [(k.party_id, k.kind, k.fingerprint) for k in registry.keys.list()],
        registry.grants.entries(),
    )


@pytest.mark.parametrize("index", range(4), ids=["key-save", "key-delete", "grant", "revoke"])
def test_an_ordinary_signed_client_cannot_change_keys_or_grants(site: Any, index: int) -> None:
    client, registry = site
    registry.keys.import_public(PEER, FateSite().public_pem)
    registry.grants.grant(PEER, components=["dataio"])
    before = state(registry)
    path, body = writes(FateSite())[index]
    reply = signed(client, path, body, USER, USER_SECRET)
    assert (reply.status_code, reply.json()["retcode"]) == (403, 108), reply.text
    message = reply.json()["retmsg"]
    assert "admin token" in message and "hmac.admin_app_keys" in message
    assert f"APP_KEY '{USER}'" in message
    assert state(registry) == before


def test_an_ordinary_signed_client_may_still_register_and_query(site: Any) -> None:
    client, registry = site
    registry.keys.import_public(PEER, FateSite().public_pem)
    register = signed(
        client, "/v1/server/third/register", {"host": "10.0.0.5", "port": 8080}, USER, USER_SECRET
    )
    assert register.json()["retcode"] == 0, register.text
    for path in ("/v1/key/query", "/v1/permission/query"):
        reply = signed(client, path, {"party_id": PEER}, USER, USER_SECRET)
        assert reply.json()["retcode"] == 0, reply.text


@pytest.mark.parametrize("credential", ["admin-app-key", "admin-token"])
def test_an_administrator_may_change_keys_and_grants(site: Any, credential: str) -> None:
    client, registry = site
    for path, body in writes(FateSite()):
        if credential == "admin-token":
            reply = client.post(path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        else:
            reply = signed(client, path, body, OPS, OPS_SECRET)
        assert reply.json()["retcode"] == 0, (path, reply.text)
    assert state(registry)[1] == []  # granted, then revoked


def test_a_signed_client_cannot_make_forged_site_signatures_pass(site: Any) -> None:
    client, registry = site
    partner, forger = FateSite(), FateSite()
    registry.keys.import_public(PEER, partner.public_pem)
    site_request = {"src_party_id": PEER, "site_signature": forger.sign(BODY), "body": BODY}
    hook = "/v1/hook/site_authentication"
    assert client.post(hook, json=site_request).json()["code"] == 109
    body = {"party_id": PEER, "key": forger.public_pem}
    assert signed(client, "/v1/key/public/save", body, USER, USER_SECRET).status_code == 403
    assert client.post(hook, json=site_request).json()["code"] == 109
    genuine = {"src_party_id": PEER, "site_signature": partner.sign(BODY), "body": BODY}
    assert client.post(hook, json=genuine).json()["code"] == 0


def test_a_signed_client_cannot_grant_itself_permission(site: Any) -> None:
    client, _ = site
    assert client.post("/v1/hook/permission", json=JOB).json()["code"] == 108
    grant = {"party_id": PEER, "component": "*", "dataset": "*"}
    assert signed(client, "/v1/permission/grant", grant, USER, USER_SECRET).status_code == 403
    assert client.post("/v1/hook/permission", json=JOB).json()["code"] == 108


def test_this_sites_public_key_is_never_imported(site: Any) -> None:
    client, registry = site
    own = registry.keys.info(LOCAL, "public").fingerprint
    forger = FateSite()
    reply = client.post(
        "/v1/key/public/save",
        json={"party_id": int(LOCAL), "key": forger.public_pem},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert (reply.status_code, reply.json()["retcode"]) == (409, 103), reply.text
    assert "this site" in reply.json()["retmsg"] and "keys generate" in reply.json()["retmsg"]
    with pytest.raises(OwnKeyProtected, match="keys generate"):
        registry.keys.import_public(LOCAL, forger.public_pem)
    with pytest.raises(OwnKeyProtected):
        registry.keys.delete(LOCAL, "public")
    assert registry.keys.info(LOCAL, "public").fingerprint == own
    # its own site signature still verifies; rotation is how the key changes
    signature = client.post("/v1/hook/signature", json={"party_id": LOCAL, "body": BODY}).json()
    verified = {"src_party_id": LOCAL, "site_signature": signature["data"], "body": BODY}
    assert client.post("/v1/hook/site_authentication", json=verified).json()["code"] == 0
    registry.keys.generate(LOCAL)
    assert registry.keys.info(LOCAL, "public").fingerprint != own
    assert registry.keys.delete(LOCAL, "both") == 2


def test_the_configured_party_is_protected_before_its_key_is_generated(sqlite_url: str) -> None:
    with Registry(settings=site_settings(sqlite_url)) as registry:
        with pytest.raises(OwnKeyProtected, match=f"party {LOCAL} is this site"):
            registry.keys.import_public(LOCAL, FateSite().public_pem)
        assert registry.keys.list() == []


def test_a_party_holding_a_private_key_here_is_this_site(sqlite_url: str) -> None:
    settings = site_settings(sqlite_url, rsa={"enabled": True, "key_passphrase": "a-passphrase"})
    with Registry(settings=settings) as registry:
        registry.keys.generate("8888")
        with pytest.raises(OwnKeyProtected, match="party 8888 is this site"):
            registry.keys.import_public("8888", FateSite().public_pem)


def refusal(client: TestClient, headers: dict[str, str], body: bytes) -> str:
    reply = client.post("/v1/permission/grant", content=body, headers=headers)
    assert (reply.status_code, reply.json()["retcode"]) == (401, 109), reply.text
    message: str = reply.json()["retmsg"]
    return message


def signed_headers(app_key: str, secret: str, body: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    prepared = requests.Request(
        "POST", BASE_URL + "/v1/permission/grant", json=body, auth=HmacAuth(app_key, secret)
    ).prepare()
    assert isinstance(prepared.body, bytes)
    return dict(prepared.headers), prepared.body


def test_an_hmac_refusal_answers_with_the_hmac_reason(site: Any) -> None:
    client, _ = site
    grant = {"party_id": PEER, "component": "reader"}
    headers, body = signed_headers(OPS, "not-the-secret", grant)
    assert refusal(client, headers, body).startswith("SIGNATURE does not match the request")
    headers, body = signed_headers("nobody", OPS_SECRET, grant)
    assert refusal(client, headers, body).startswith("APP_KEY is not known here")
    headers, body = signed_headers(OPS, OPS_SECRET, grant)
    headers["TIMESTAMP"] = str(round((time.time() - 3600) * 1000))
    assert "behind this server's clock" in refusal(client, headers, body)
    headers, body = signed_headers(OPS, OPS_SECRET, grant)
    assert client.post("/v1/permission/grant", content=body, headers=headers).is_success
    assert refusal(client, headers, body).startswith("NONCE was already used")
    unsigned = refusal(client, {}, b"")
    assert "Authorization: Bearer" in unsigned and "hmac.admin_app_keys" in unsigned


def test_a_refused_read_never_says_write(site: Any) -> None:
    client, _ = site
    for path in ("/v1/key/query", "/v1/permission/query"):
        message = client.post(path, json={"party_id": PEER}).json()["retmsg"]
        assert "write" not in message, message


def test_a_refused_protected_read_says_reading_needs_authentication(sqlite_url: str) -> None:
    with client_for(sqlite_url, admin_tokens=[TOKEN], protect_reads=True) as (client, _):
        message = client.post("/v1/server/get", json={}).json()["retmsg"]
    assert message.startswith("authentication is required to read here"), message
    assert "write" not in message


def test_admin_app_keys_must_be_app_keys() -> None:
    with pytest.raises(ValueError, match=r"hmac\.admin_app_keys: 'ops' is not one of"):
        Settings(hmac={"app_keys": {USER: USER_SECRET}, "admin_app_keys": ["ops"]})


def test_admin_app_keys_come_from_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FATE_REGISTRY_HMAC__APP_KEYS", f'{{"{USER}": "s", "{OPS}": "t"}}')
    monkeypatch.setenv("FATE_REGISTRY_HMAC__ADMIN_APP_KEYS", f"{OPS}, {USER}")
    assert Settings().hmac.admin_app_keys == [OPS, USER]


def test_openapi_marks_key_and_grant_writes_as_needing_a_token(site: Any) -> None:
    client, _ = site
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/key/public/save", "/v1/permission/grant"):
        assert paths[path]["post"]["security"] == [{"bearer": []}]
        assert paths[path]["post"]["x-access"] == "admin"
