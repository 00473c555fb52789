"""FATE Flow 1.11's key and permission routes on `serve`: FATE's body forms, protection like
writes, and fate_client's own `flow key` and `flow privilege` commands against a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fate_client_support import flow_sdk_base
from http_support import client_for
from serve_support import start_serve

TOKEN = "management-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def public_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture
def client(sqlite_url: str) -> Any:
    with client_for(sqlite_url, admin_tokens=[TOKEN]) as (client, registry):
        yield client, registry


def post(client: Any, path: str, body: Any, headers: dict[str, str] = AUTH) -> dict[str, Any]:
    reply: dict[str, Any] = client.post(path, json=body, headers=headers).json()
    return reply


def test_a_public_key_is_saved_queried_and_deleted(client: Any) -> None:
    client, _ = client
    pem = public_pem()
    # fate_client sends the conf file's fields and its own (conf_path, local): ignored
    body = {"party_id": 10000, "key": pem, "conf_path": "/tmp/x.json", "local": {}}
    assert post(client, "/v1/key/public/save", body) == {
        "retcode": 0,
        "retmsg": "success",
        "data": "save success",
    }
    assert post(client, "/v1/key/public/save", body)["data"] == "update success"
    assert post(client, "/v1/key/query", {"party_id": "10000"})["data"] == pem
    assert post(client, "/v1/key/public/delete", {"party_id": 10000}) == {
        "retcode": 0,
        "retmsg": "success",
    }
    missing = client.post("/v1/key/query", json={"party_id": 10000}, headers=AUTH)
    assert (missing.status_code, missing.json()["retcode"]) == (404, 102)
    assert missing.json()["retmsg"] == "party '10000' has no public key"


def test_a_private_key_is_never_returned(client: Any) -> None:
    client, _ = client
    reply = client.post(
        "/v1/key/query", json={"party_id": 9999, "key_name": "private"}, headers=AUTH
    )
    assert (reply.status_code, reply.json()["retcode"]) == (400, 101)
    assert "private keys never leave" in reply.json()["retmsg"]


def test_a_key_that_is_not_pem_is_refused_naming_the_field(client: Any) -> None:
    client, registry = client
    reply = client.post("/v1/key/public/save", json={"party_id": 9999, "key": "xxx"}, headers=AUTH)
    assert (reply.status_code, reply.json()["retmsg"]) == (400, "key: is not a PEM public key")
    assert registry.keys.list() == []


def test_fates_permission_body_forms(client: Any) -> None:
    client, _ = client
    grant = {  # FATE Flow's examples/permission/grant.json
        "party_id": 10000,
        "component": "reader,dataio",
        "dataset": [
            {"namespace": "experiment", "name": "breast_hetero_guest"},
            {"namespace": "experiment", "name": "breast_hetero_host"},
        ],
    }
    assert post(client, "/v1/permission/grant", grant)["retcode"] == 0
    assert (
        post(client, "/v1/permission/grant", {"party_id": 10001, "component": "*"})["retcode"] == 0
    )
    one = {"party_id": 10000, "dataset": {"namespace": "n", "name": "x"}, "component": ["HeteroLR"]}
    assert post(client, "/v1/permission/grant", one)["retcode"] == 0
    data = post(client, "/v1/permission/query", {"party_id": 10000})["data"]
    assert sorted(data["component"]) == ["dataio", "heterolr", "reader"]
    assert {"namespace": "experiment", "name": "breast_hetero_host"} in data["dataset"]
    delete = {  # examples/permission/delete.json
        "party_id": 10000,
        "component": "reader,dataio",
        "dataset": [{"namespace": "experiment", "name": "breast_hetero_guest"}],
    }
    assert post(client, "/v1/permission/delete", delete)["retcode"] == 0
    data = post(client, "/v1/permission/query", {"party_id": 10000})["data"]
    assert data["component"] == ["heterolr"]
    everything = {"party_id": 10000, "component": "*", "dataset": "*"}  # delete_all.json
    assert post(client, "/v1/permission/delete", everything)["retcode"] == 0
    data = post(client, "/v1/permission/query", {"party_id": 10000})["data"]
    assert data == {"component": [], "dataset": [], "entries": []}


def test_query_lists_only_unconditional_allows_as_fates_fields(client: Any) -> None:
    """FATE's `component` and `dataset` fields mean "allowed": a deny or an allow in one role
    only is in `entries`, never there."""
    client, registry = client
    grants = registry.grants
    grants.grant(10000, components=["reader"], datasets=["a:b"])
    grants.grant(10000, components=["homo_nn"], datasets=["c:d"], deny=True)
    grants.grant(10000, components=["heterolr"], datasets=["e:f"], role="guest")
    grants.grant(10000, components=["writer"], datasets=["g:h"], role="host", deny=True)

    data = post(client, "/v1/permission/query", {"party_id": 10000})["data"]

    assert (data["component"], data["dataset"]) == (["reader"], [{"namespace": "a", "name": "b"}])
    assert len(data["entries"]) == 8


def test_a_grant_carries_limits_and_the_query_lists_them(client: Any) -> None:
    client, _ = client
    body = {"party_id": 10000, "component": "reader", "max_uses": 3, "valid_for": "30d"}
    assert post(client, "/v1/permission/grant", body)["retcode"] == 0
    post(client, "/v1/permission/grant", {"party_id": 10000, "component": "dataio",
         "not_before": "2999-01-01T00:00:00Z", "expires_at": "2999-02-01"})  # fmt: skip

    data = post(client, "/v1/permission/query", {"party_id": 10000})["data"]

    later, limited = data["entries"]
    assert (limited["value"], limited["max_uses"], limited["uses"]) == ("reader", 3, 0)
    assert limited["expires_at"] > limited["created_at"]
    assert (later["not_before"], later["expires_at"]) == (
        "2999-01-01T00:00:00+00:00",
        "2999-02-01T00:00:00+00:00",
    )
    assert sorted(data["component"]) == ["dataio", "reader"]  # FATE's field: allowed entries


def test_a_bad_permission_body_is_refused_and_changes_nothing(client: Any) -> None:
    client, registry = client
    for body, message in [
        ({"component": "reader"}, "party_id: is required"),
        ({"party_id": 10000, "dataset": {"namespace": "x"}}, "dataset[0]: name must be"),
        ({"party_id": 10000, "component": "rea der"}, "component[0]: 'rea der' is not"),
        ({"party_id": 10000, "component": "r\u0435ader"}, "component[0]: 'r\u0435ader' is not"),
        ({"party_id": "010000x", "component": "reader"}, "party_id: '010000x' is not a party id"),
        ({"party_id": -1, "component": "reader"}, "party_id: '-1' is not a party id"),
        ({"party_id": 1, "component": "reader", "role": "gust"}, "role: 'gust' is not a role"),
        (
            {"party_id": 1, "dataset": {"namespace": "a:b", "name": "c"}},
            "dataset[0]: namespace must not hold ':'",
        ),
        ({"party_id": 10000}, "component: give a component or a dataset to grant"),
        ({"party_id": 1, "component": "reader", "max_uses": 0}, "max_uses: Input should be"),
        ({"party_id": 1, "component": "reader", "valid_for": "soon"}, "valid_for: must be"),
        ({"party_id": 1, "component": "r", "expires_at": "2001-01-01"}, "expires_at: is not in"),
    ]:
        reply = client.post("/v1/permission/grant", json=body, headers=AUTH)
        assert reply.status_code == 400
        assert reply.json()["retmsg"].startswith(message), reply.json()
    assert registry.grants.entries() == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/key/public/save",
        "/v1/key/query",
        "/v1/key/public/delete",
        "/v1/permission/grant",
        "/v1/permission/delete",
        "/v1/permission/query",
    ],
)
def test_every_management_route_is_protected_like_writes(client: Any, path: str) -> None:
    client, registry = client
    body = {"party_id": 10000, "component": "reader", "key": public_pem()}
    reply = client.post(path, json=body)
    assert (reply.status_code, reply.json()["retcode"]) == (401, 109)
    assert registry.grants.entries() == [] and registry.keys.list() == []


# -- fate_client's flow CLI against a real serve ---------------------------------------------

APP_KEY, SECRET = "flow-cli", "flow-cli-secret"  # the operator's: in hmac.admin_app_keys
USER_KEY, USER_SECRET = "fate-user", "fate-user-secret"  # a FATE user's: authenticates only


def flow(
    base: str, group: str, command: str, *args: str, secret: str = SECRET, app_key: str = APP_KEY
) -> dict[str, Any]:
    """Run fate_client 1.11.3's own `flow <group> <command>` against ``base``."""
    flow_sdk_base()  # skips (or fails under CI) when fate_client is not installed
    from flow_client.flow_cli.commands import key, privilege

    groups = {"key": key.key, "privilege": privilege.privilege}
    obj = {"initialized": True, "server_url": f"{base}/v1", "app_key": app_key,
           "secret_key": secret}  # fmt: skip
    result = CliRunner().invoke(groups[group], [command, *args], obj=obj, catch_exceptions=False)
    reply: dict[str, Any] = json.loads(result.output)
    return reply


def register_as_fate_client(base: str) -> None:
    """A registration write signed by fate_client's FlowClient with a FATE user's app key is
    admitted; unsigned, not."""

    class FlowClient(flow_sdk_base().BaseFlowClient):  # type: ignore[misc,name-defined]
        API_BASE_URL = f"{base}/v1/"

    client = FlowClient("127.0.0.1", 0, "v1", app_key=USER_KEY, secret_key=USER_SECRET)
    body = {"host": "10.0.0.5", "port": 8080}
    reply = client._request("post", "server/third/register", json=body)
    assert reply.json()["retcode"] == 0, reply.text
    unsigned = requests.post(f"{base}/v1/server/other/register", json=body, timeout=10)
    assert unsigned.status_code == 401


def test_fate_clients_flow_commands_change_what_the_plugins_decide(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'registry.db'}"
    env = {
        "FATE_REGISTRY_HMAC__APP_KEYS": json.dumps({APP_KEY: SECRET, USER_KEY: USER_SECRET}),
        "FATE_REGISTRY_HMAC__ADMIN_APP_KEYS": APP_KEY,
        "FATE_REGISTRY_HOOKS__API_AUTHENTICATION": "true",
        "FATE_REGISTRY_GRANTS__ENABLED": "true",
        "FATE_REGISTRY_RSA__ENABLED": "true",
        "FATE_REGISTRY_LOAD_PLUGINS": "hmac,grants,rsa",
    }
    from test_rsa_plugin import BODY, FateSite

    peer = FateSite()
    grant_conf = tmp_path / "grant.json"
    grant_conf.write_text(json.dumps({"party_id": 10000, "component": "reader,dataio"}))
    key_conf = tmp_path / "save_public_key.json"
    key_conf.write_text(json.dumps({"party_id": 10000, "key": peer.public_pem}))
    job = {"src_role": "guest", "src_party_id": "10000", "role": "host", "party_id": "9999",
           "component_list": ["reader"]}  # fmt: skip
    site = {"src_party_id": "10000", "site_signature": peer.sign(BODY), "body": BODY}
    with start_serve(db_url, env=env) as base:
        hook = f"{base}/v1/hook"
        assert requests.post(f"{hook}/permission", json=job, timeout=10).json()["code"] == 108
        assert (
            requests.post(f"{hook}/site_authentication", json=site, timeout=10).json()["code"]
            == 109
        )

        refused = flow(base, "privilege", "grant", "-c", str(grant_conf), secret="wrong")
        assert refused["retcode"] == 109  # signed with a wrong secret: not written
        assert refused["retmsg"].startswith("SIGNATURE does not match the request")
        for group, command, conf in (("privilege", "grant", grant_conf), ("key", "save", key_conf)):
            user = flow(base, group, command, "-c", str(conf), app_key=USER_KEY, secret=USER_SECRET)
            assert user["retcode"] == 108, user  # a FATE user's key: authenticated, not admin
            assert "hmac.admin_app_keys" in user["retmsg"]

        assert flow(base, "privilege", "grant", "-c", str(grant_conf))["retcode"] == 0
        register_as_fate_client(base)
        assert flow(base, "key", "save", "-c", str(key_conf))["data"] == "save success"
        queried = flow(base, "privilege", "query", "-p", "10000")
        assert sorted(queried["data"]["component"]) == ["dataio", "reader"]
        assert flow(base, "key", "query", "-p", "10000")["data"].strip() == peer.public_pem

        allowed = requests.post(f"{hook}/permission", json=job, timeout=10).json()
        assert (allowed["code"], allowed["msg"]) == (0, "granted to party 10000")
        verified = requests.post(f"{hook}/site_authentication", json=site, timeout=10).json()
        assert verified["code"] == 0, verified

        assert flow(base, "key", "delete", "-p", "10000")["retcode"] == 0
        assert (
            requests.post(f"{hook}/site_authentication", json=site, timeout=10).json()["code"]
            == 109
        )
