"""The hook gateway for FATE Flow 2.x (``POST /v2/hook/<capability>``): 2.x's requests, as
contrib/fate-flow-hooks sends them, reach the plugins as the contract's requests, a third party
gets 2.x's fields, and FATE Flow 2.x gets its own envelope and codes (docs/fate-flow.md)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi import FastAPI
from test_gateway import FATE_REQUESTS, TOKEN, callback, make_client, provider  # noqa: F401

from fate_registry import hookimpl
from fate_registry.capabilities import Decision, PermissionRequest

# What FATE Flow 2.x's dag looks like (fate_client 2.2's pipeline), trimmed to what matters here.
DAG_SCHEMA: dict[str, Any] = {
    "schema_version": "2.2.0",
    "kind": "fate",
    "dag": {
        "parties": [
            {"role": "guest", "party_id": ["9999"]},
            {"role": "host", "party_id": ["10000"]},
            {"role": "arbiter", "party_id": ["10000"]},
        ],
        "conf": {"initiator_party_id": "9999", "scheduler_party_id": "9999"},
        "stage": "train",
        "tasks": {
            "reader_0": {
                "component_ref": "reader",
                "parties": [
                    {"role": "guest", "party_id": ["9999"]},
                    {"role": "host", "party_id": ["10000"]},
                ],
            },
            "psi_0": {"component_ref": "psi", "inputs": {}},
        },
        "party_tasks": {
            "host_10000": {
                "parties": [{"role": "host", "party_id": ["10000"]}],
                "tasks": {"reader_0": {"parameters": {"namespace": "experiment", "name": "h"}}},
            }
        },
    },
}
# Bodies as contrib/fate-flow-hooks sends 2.x's hook parameters (plus what 2.x does not pass).
REQUESTS: dict[str, dict[str, Any]] = {
    "client_authentication": {
        "path": "/v2/job/submit",
        "method": "POST",
        "headers": {
            "Content-Type": "application/json",
            "Appid": "app",
            "Username": "",
            "Timestamp": "1700000000000",
            "Nonce": "1234",
            "Signature": "0123456789abcdef0123456789abcdef",
        },
        "form": {},
        "data": '{"dag_schema": {}}',
        "json": {"dag_schema": {}},
        "full_path": "/v2/job/submit?",
    },
    "signature": {
        "party_id": "10000",  # 2.x passes the destination
        "initiator_party_id": "9999",
        "body": {"job_id": "202401010000", "role": "host", "party_id": "10000"},
        "src_party_id": "9999",  # this site: added by the hook
    },
    "site_authentication": {
        "path": "/v2/partner/job/create",
        "method": "POST",
        "headers": {
            "Content-Type": "application/json",
            "Src-Party-Id": "9999",
            "Site-Signature": "sig-9999",
            "Initiator-Party-Id": "9999",
        },
        "form": {},
        "data": '{"job_id": "202401010000"}',
        "json": {"job_id": "202401010000"},
        "full_path": "/v2/partner/job/create?",
    },
    "permission": {
        "party_id": "9999",  # 2.x passes the initiator
        "roles": DAG_SCHEMA["dag"]["parties"],
        "component_list": ["psi", "reader"],
        "dataset_list": [{"namespace": "experiment", "name": "h"}],
        "dag_schema": DAG_SCHEMA,
        "component_parameters": {"reader": {"namespace": "experiment", "name": "h"}, "psi": {}},
        "dest_role": "host",  # this site: from the create request's body
        "dest_party_id": "10000",
        "job_id": "202401010000",
    },
}


def sent_to(callback: FastAPI) -> dict[str, Any]:  # noqa: F811
    body: dict[str, Any] = json.loads(callback.state.seen[-1]["body"])
    return body


@pytest.mark.parametrize(
    "capability", ["client_authentication", "site_authentication", "permission"]
)
@pytest.mark.parametrize(
    ("uri", "code", "message"),
    [
        ("/allow", 0, "welcome"),
        ("/deny", 5003, "who are you"),  # the service's 109: 2.x's "verify failed"
        ("/deny-message", 5005, "not this component"),  # 108: 2.x's "no permission"
    ],
)
def test_a_2x_request_gets_2x_codes_and_envelope(
    make_client: Any,  # noqa: F811
    capability: str,
    uri: str,
    code: int,
    message: str,
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", capability, uri)
    reply = client.post(f"/v2/hook/{capability}", json=REQUESTS[capability])
    assert reply.status_code == 200
    body = reply.json()
    assert (body["code"], body["message"]) == (code, message)
    assert body["decision_id"] and body["failed_open"] is False


def test_a_2x_signature_is_in_data_and_the_signer_is_this_site(
    make_client: Any,  # noqa: F811
    callback: FastAPI,  # noqa: F811
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "signature", "/sign")
    body = client.post("/v2/hook/signature", json=REQUESTS["signature"]).json()
    assert (body["code"], body["data"]) == (0, "sig-9999")
    assert sent_to(callback) == {
        "party_id": "9999",
        "body": REQUESTS["signature"]["body"],
        "dest_party_id": "10000",
        "initiator_party_id": "9999",
        "fate_flow_major": 2,
    }


def test_a_2x_signature_for_the_local_party_0_is_for_this_site(
    make_client: Any,  # noqa: F811
    callback: FastAPI,  # noqa: F811
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "signature", "/sign")
    request = {**REQUESTS["signature"], "party_id": "0"}
    assert client.post("/v2/hook/signature", json=request).json()["code"] == 0
    assert sent_to(callback)["dest_party_id"] == "9999"


def test_a_2x_permission_reaches_the_service_as_the_contract_with_2x_fields(
    make_client: Any,  # noqa: F811
    callback: FastAPI,  # noqa: F811
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "permission", "/allow")
    assert client.post("/v2/hook/permission", json=REQUESTS["permission"]).json()["code"] == 0
    sent = sent_to(callback)
    assert (sent["src_party_id"], sent["src_role"], sent["src_role_derived"]) == (
        "9999",
        "guest",
        True,
    )
    assert (sent["role"], sent["party_id"], sent["fate_flow_major"]) == ("host", "10000", 2)
    assert sent["roles"] == {"guest": ["9999"], "host": ["10000"], "arbiter": ["10000"]}
    assert sent["initiator"] == {"party_id": "9999", "role": "guest"}
    assert sent["component_list"] == ["psi", "reader"]
    assert sent["dataset_list"] == [{"namespace": "experiment", "name": "h"}]
    assert sent["dag_schema"] == DAG_SCHEMA
    assert sent["component_parameters"] == REQUESTS["permission"]["component_parameters"]
    assert (sent["dsl"], sent["run_time_conf"]) == (None, None)
    assert sent["job_id"] == "202401010000"  # what a grant's max_uses counts by


def test_a_1x_request_is_sent_on_without_the_2x_fields(
    make_client: Any,  # noqa: F811
    callback: FastAPI,  # noqa: F811
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "permission", "/allow")
    client.post("/v1/hook/permission", json=FATE_REQUESTS["permission"])
    sent = sent_to(callback)
    assert not {"fate_flow_major", "dag_schema", "job_id"} & set(sent)


def with_warehouse_input(channel: dict[str, Any], task_parties: Any = None) -> dict[str, Any]:
    request = copy.deepcopy(REQUESTS["permission"])
    psi = request["dag_schema"]["dag"]["tasks"]["psi_0"]
    psi["inputs"] = {"data": {"input_data": {"data_warehouse": channel}}}
    if task_parties is not None:
        psi["parties"] = task_parties
    return request


@pytest.mark.parametrize(
    ("channel", "task_parties", "added"),
    [
        ({"namespace": "private", "name": "salaries"}, None, True),
        ([{"namespace": "private", "name": "salaries"}], None, True),
        (
            {
                "namespace": "private",
                "name": "salaries",
                "parties": [{"role": "host", "party_id": ["10000"]}],
            },
            None,
            True,
        ),
        (
            {
                "namespace": "private",
                "name": "salaries",
                "parties": [{"role": "guest", "party_id": ["9999"]}],
            },
            None,
            False,
        ),
        (
            {"namespace": "private", "name": "salaries"},
            [{"role": "guest", "party_id": ["9999"]}],
            False,
        ),
        ({"dataset_id": "ds-1"}, None, False),
        ({"job_id": "202301010000", "producer_task": "psi_0"}, None, False),
        # this site however the DAG spells it: its canonical form
        (
            {
                "namespace": "private",
                "name": "salaries",
                "parties": [{"role": " Host", "party_id": ["010000"]}],
            },
            None,
            True,
        ),
        (
            {"namespace": "private", "name": "salaries"},
            [{"role": "HOST", "party_id": [10000]}],
            True,
        ),
        # a party the DAG does not spell as any party id: checked, never left out
        ({"namespace": "private", "name": "salaries"}, [{"role": "host", "party_id": ["x"]}], True),
    ],
    ids=[
        "one",
        "list",
        "for-this-party",
        "for-another",
        "task-elsewhere",
        "dataset-id",
        "job",
        "for-this-party-spelt-otherwise",
        "task-here-spelt-otherwise",
        "unreadable-party",
    ],
)
def test_a_table_read_as_a_data_warehouse_input_here_is_a_dataset(
    make_client: Any,  # noqa: F811
    callback: FastAPI,  # noqa: F811
    channel: Any,
    task_parties: Any,
    added: bool,
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "permission", "/allow")
    request = with_warehouse_input(channel, task_parties)
    assert client.post("/v2/hook/permission", json=request).json()["code"] == 0
    datasets = sent_to(callback)["dataset_list"]
    expected = [{"namespace": "experiment", "name": "h"}]
    if added:
        expected.append({"namespace": "private", "name": "salaries"})
    assert datasets == expected


def test_a_2x_site_request_maps_its_headers(
    make_client: Any,  # noqa: F811
    callback: FastAPI,  # noqa: F811
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "site_authentication", "/allow")
    reply = client.post("/v2/hook/site_authentication", json=REQUESTS["site_authentication"])
    assert reply.json()["code"] == 0
    assert sent_to(callback) == {
        "src_party_id": "9999",
        "site_signature": "sig-9999",
        "body": {"job_id": "202401010000"},
        "path": "/v2/partner/job/create",
        "method": "POST",
        "initiator_party_id": "9999",
        "fate_flow_major": 2,
    }


@pytest.mark.parametrize("spelling", ["site_signature", "SITE-SIGNATURE", "Site-Signature"])
def test_a_2x_site_request_finds_its_headers_in_any_spelling(
    make_client: Any,  # noqa: F811
    spelling: str,
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "site_authentication", "/allow")
    request = copy.deepcopy(REQUESTS["site_authentication"])
    request["headers"] = {"src_party_id": "9999", spelling: "sig-9999"}
    assert client.post("/v2/hook/site_authentication", json=request).json()["code"] == 0


def test_a_2x_site_request_without_a_signature_is_refused_before_any_plugin(
    make_client: Any,  # noqa: F811
    callback: FastAPI,  # noqa: F811
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "site_authentication", "/allow")
    calls = len(callback.state.seen)
    request = copy.deepcopy(REQUESTS["site_authentication"])
    request["headers"] = {"Content-Type": "application/json"}  # what 2.x's own scheme lacks
    body = client.post("/v2/hook/site_authentication", json=request).json()
    assert body["code"] == 5003 and "site_signature is missing" in body["message"]
    assert len(callback.state.seen) == calls


def test_a_2x_site_request_signed_without_its_source_party_is_an_invalid_parameter(
    make_client: Any,  # noqa: F811
) -> None:
    client, registry = make_client()
    registry.register_service("HOOK", "site_authentication", "/allow")
    request = copy.deepcopy(REQUESTS["site_authentication"])
    del request["headers"]["Src-Party-Id"]
    reply = client.post("/v2/hook/site_authentication", json=request)
    assert reply.status_code == 200
    assert reply.json()["code"] == 5001
    assert "src-party-id" in reply.json()["message"]


@pytest.mark.parametrize(
    ("capability", "body", "field"),
    [
        ("permission", {**REQUESTS["permission"], "party_id": None}, "party_id"),
        ("permission", {**REQUESTS["permission"], "roles": {"guest": ["9999"]}}, "roles"),
        ("signature", {"party_id": "10000", "body": {}}, "src_party_id"),
        ("client_authentication", {"path": "/v2/job/submit"}, "full_path"),
    ],
)
def test_a_2x_request_the_gateway_cannot_read_is_5001_naming_the_field(
    make_client: Any,  # noqa: F811
    capability: str,
    body: dict[str, Any],
    field: str,
) -> None:
    client, _ = make_client()
    reply = client.post(f"/v2/hook/{capability}", json=body)
    assert reply.status_code == 200
    assert reply.json()["code"] == 5001
    assert field in reply.json()["message"]
    broken = client.post(f"/v2/hook/{capability}", content=b"{oops")
    assert (broken.status_code, broken.json()["code"]) == (200, 5001)


def test_the_2x_gateway_is_protected_like_the_1x_one(make_client: Any) -> None:  # noqa: F811
    client, registry = make_client(admin_tokens=["gateway-test-token"])
    registry.register_service("HOOK", "permission", "/allow")
    refused = client.post("/v2/hook/permission", json=REQUESTS["permission"])
    assert (refused.status_code, refused.json()["code"]) == (200, 5003)
    assert "Bearer" in refused.json()["message"]
    allowed = client.post("/v2/hook/permission", json=REQUESTS["permission"], headers=TOKEN)
    assert allowed.json()["code"] == 0


def test_a_failed_2x_signature_is_refused_in_2x_codes(make_client: Any) -> None:  # noqa: F811
    client, registry = make_client(
        hooks={"signature": {"timeout": 0.5, "retries": 0, "failure_policy": "deny"}}
    )
    registry.register_service("HOOK", "signature", "/garbage")
    body = client.post("/v2/hook/signature", json=REQUESTS["signature"]).json()
    assert body["code"] == 5003  # the failure policy's refusal (109), as 2.x reads it
    assert body.get("data") is None


class _Answers:
    """A local plugin that refuses every permission with a given code."""

    def __init__(self, code: int) -> None:
        self.code = code

    @hookimpl
    def permission(self, request: PermissionRequest) -> Decision:
        return Decision.deny(f"code {self.code}", code=self.code)


@pytest.mark.parametrize(("code", "fate2"), [(100, 6000), (105, 6000), (101, 5001), (5004, 5004)])
def test_decision_codes_become_2x_codes_and_others_pass(
    make_client: Any,  # noqa: F811
    code: int,
    fate2: int,
) -> None:
    client, registry = make_client()
    registry.hooks.plugins.register(_Answers(code), "answers")
    body = client.post("/v2/hook/permission", json=REQUESTS["permission"]).json()
    assert (body["code"], body["message"]) == (fate2, f"code {code}")


def test_the_2x_gateway_is_in_the_openapi_document(make_client: Any) -> None:  # noqa: F811
    client, _ = make_client()
    paths = client.get("/openapi.json").json()["paths"]
    for capability in REQUESTS:
        assert f"/v2/hook/{capability}" in paths


READ_PROTECTION = {"admin_tokens": ["gateway-test-token"], "hooks": {"gateway_protection": "read"}}


@pytest.mark.parametrize(
    ("settings", "secured"),
    [
        ({}, False),
        ({"admin_tokens": ["gateway-test-token"]}, True),
        (READ_PROTECTION, False),
        ({**READ_PROTECTION, "protect_reads": True}, True),
    ],
    ids=["no tokens", "tokens", "protected like open reads", "protected like reads"],
)
def test_the_openapi_document_says_when_the_gateway_needs_a_token(
    make_client: Any,  # noqa: F811
    settings: dict[str, Any],
    secured: bool,
) -> None:
    client, _ = make_client(**settings)
    paths = client.get("/openapi.json").json()["paths"]
    for capability in REQUESTS:
        for version in ("v1", "v2"):
            operation = paths[f"/{version}/hook/{capability}"]["post"]
            assert ("security" in operation) == secured, (version, capability)


def test_every_reference_in_the_openapi_document_resolves(make_client: Any) -> None:  # noqa: F811
    """A reference to nothing (a nested model of a request) stops /redoc from rendering."""
    client, _ = make_client()
    document = client.get("/openapi.json").json()

    def references(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    for reference in set(references(document)):
        target: Any = document
        for part in reference.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, reference
            target = target[part]
