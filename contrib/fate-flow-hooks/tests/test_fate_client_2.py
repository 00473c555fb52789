"""fate_client 2.x (from the package index: its own request signing) as the client of a FATE
Flow 2.0 or 2.2 that loaded the hooks, over HTTP: its signed request reaches the gateway as it
signed it, and the gateway's answer reaches it as FATE Flow's reply. A site's request signed
through the hooks is authenticated and its job's permission checked the same way.

tox installs fate-client (``--no-deps``: its flow_sdk needs only requests); without it these
tests skip, naming the command, and fail under CI=true."""

import json
import os

import pytest
import requests
from fate2_jobs import GUEST, HOST, create_body, dag_schema
from fate_flow_http import fate_flow_http

INSTALL = "pip install --no-deps fate-client==2.2.0"


@pytest.fixture
def flow_client():
    try:
        from fate_client.flow_sdk import FlowClient
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"fate_client 2.x is not installed: {INSTALL}")
        pytest.skip(f"fate_client 2.x is not installed: {INSTALL}")
    return FlowClient


@pytest.fixture
def fate_flow(start_fate_flow_2):
    """FATE Flow 2.x with the README's lines, its API on loopback: (host, port)."""
    start_fate_flow_2()
    with fate_flow_http() as address:
        yield address


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ({"code": 0, "message": "success"}, {"code": 0, "message": "success"}),
        ({"code": 5003, "message": "who are you"}, {"code": 5003, "message": "who are you"}),
    ],
    ids=["allowed", "refused"],
)
def test_fate_clients_signed_request_is_decided_by_the_gateway(
    flow_client, fate_flow, gateway, line, reply, answer
):
    gateway.answer("client_authentication", reply)
    host, port = fate_flow
    client = flow_client(host, port, app_id="app", app_token="token", user_name="alice")
    assert client.job.submit(dag_schema(line)) == answer
    sent = gateway.last()
    assert sent["path"] == "/v2/hook/client_authentication"
    headers = {name.lower(): value for name, value in sent["json"]["headers"].items()}
    assert (headers["appid"], headers["username"]) == ("app", "alice")
    assert len(headers["nonce"]) == 4 and len(headers["signature"]) == 32
    assert headers["timestamp"].isdigit()
    assert sent["json"]["path"] == "/v2/job/submit" and sent["json"]["method"] == "POST"
    assert sent["json"]["json"] == {"dag_schema": dag_schema(line)}


def test_a_site_request_signed_through_the_hooks_is_authenticated_and_checked(
    fate_flow, gateway, line
):
    gateway.answer("signature", {"code": 0, "data": "sig-9999"})
    from fate_flow.utils.api_utils import federated_headers

    body = create_body(line, "host", HOST)
    headers = federated_headers(HOST, body, initiator_party_id=GUEST)
    headers.update({"dest-party-id": HOST, "service": "fateflow"})  # what 2.x adds over HTTP
    host, port = fate_flow
    reply = requests.post(f"http://{host}:{port}/v2/partner/job/create", json=body, headers=headers)
    assert reply.json() == {"code": 0, "message": "success"}
    site, permission = gateway.seen[-2:]
    assert site["path"] == "/v2/hook/site_authentication"
    assert {k.lower(): v for k, v in site["json"]["headers"].items()}["site-signature"] == (
        "sig-9999"
    )
    assert site["json"]["json"] == json.loads(json.dumps(body))
    assert permission["path"] == "/v2/hook/permission"
    assert (permission["json"]["party_id"], permission["json"]["dest_party_id"]) == (GUEST, HOST)
