"""The modules loaded as FATE Flow 2.0 to 2.2 load them (``HookManager.init()`` importing the
README's ``hook_module`` names while a switch is on), called as 2.x's request handling calls
them, against a stand-in gateway: what reaches ``/v2/hook/<capability>``, and what 2.x reads
back. Each test runs for a 2.0-style and a 2.2-style FATE Flow (configuration, jobs)."""

import json
import logging

import pytest
from fate2_jobs import GUEST, HOST, JOB_ID, TABLES, create_body, dag_schema

CLIENT_HEADERS = [
    ("Content-Type", "application/json"),
    ("appId", "app"),
    ("userName", ""),
    ("Timestamp", "1700000000000"),
    ("Nonce", "1234"),
    ("Signature", "0123456789abcdef0123456789abcdef"),
]


def test_the_readme_lines_register_every_hook(start_fate_flow_2):
    hooks = start_fate_flow_2()
    registered = {
        name: [f"{hook.__module__}.{hook.__name__}" for hook in getattr(hooks, name)]
        for name in (
            "CLIENT_AUTHENTICATION",
            "SITE_SIGNATURE",
            "SITE_AUTHENTICATION",
            "PERMISSION_CHECK",
        )
    }
    assert registered == {
        "CLIENT_AUTHENTICATION": ["fate_registry_hooks.client_authentication.authenticate_client"],
        "SITE_SIGNATURE": ["fate_registry_hooks.site_authentication.sign"],
        "SITE_AUTHENTICATION": ["fate_registry_hooks.site_authentication.authenticate_site"],
        "PERMISSION_CHECK": ["fate_registry_hooks.permission.check_permission"],
    }


@pytest.mark.parametrize("major", [1, 2])
def test_the_same_lines_reach_the_route_of_the_fate_flow_that_loaded_them(
    start_fate_flow, gateway, major
):
    """No setting says which FATE Flow it is: the package sees what FATE Flow has."""
    hooks = start_fate_flow(major=major)
    import flask

    with flask.request_context(headers=CLIENT_HEADERS, body=b"{}"):
        if major == 2:
            from fate_flow.apps import handle

            handle()
        else:
            from fate_flow.hook.common.parameters import ClientAuthenticationParameters

            request = flask.request
            hooks.client_authentication(
                ClientAuthenticationParameters(
                    request.full_path, request.headers, request.form, request.data, request.json
                )
            )
    assert gateway.last()["path"] == f"/v{major}/hook/client_authentication"


def test_client_authentication_sends_the_request_as_json(start_fate_flow_2, gateway):
    start_fate_flow_2()
    import flask
    from fate_flow.apps import handle

    body = b'{"dag_schema": {}}'
    with flask.request_context(path="/v2/job/submit", headers=CLIENT_HEADERS, body=body):
        assert handle() == {"code": 0, "message": "success"}
    assert gateway.last()["json"] == {
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
    }


def test_a_refusal_reaches_the_client_with_its_code_and_message(start_fate_flow_2, gateway):
    start_fate_flow_2()
    gateway.answer("client_authentication", {"code": 5003, "message": "who are you"})
    import flask
    from fate_flow.apps import handle

    with flask.request_context(path="/v2/job/query", headers=CLIENT_HEADERS):
        assert handle() == {"code": 5003, "message": "who are you"}


def test_a_worker_request_is_not_authenticated(start_fate_flow_2, gateway):
    start_fate_flow_2()
    import flask
    from fate_flow.apps import handle

    with flask.request_context(path="/v2/worker/task/status", headers=CLIENT_HEADERS):
        assert handle()["code"] == 0
    assert gateway.seen == []


def signed_headers(dest=HOST, body=None):
    """The headers FATE Flow 2.x sends with ``body`` to ``dest``, through the signature hook."""
    from fate_flow.utils.api_utils import federated_headers

    return federated_headers(dest, body or {"job_id": JOB_ID}, initiator_party_id=GUEST)


def test_signature_answers_the_headers_2x_adds_to_the_request(start_fate_flow_2, gateway):
    start_fate_flow_2()
    gateway.answer("signature", {"code": 0, "message": "success", "data": "sig-9999"})
    body = {"job_id": JOB_ID, "role": "host", "party_id": HOST}
    assert signed_headers(HOST, body) == {
        "src-party-id": "9999",
        "site-signature": "sig-9999",
        "initiator-party-id": GUEST,
    }
    assert gateway.last()["path"] == "/v2/hook/signature"
    assert gateway.last()["json"] == {
        "party_id": HOST,  # 2.x passes the destination
        "initiator_party_id": GUEST,
        "body": body,
        "src_party_id": "9999",  # this site, which signs
    }


@pytest.mark.parametrize(
    ("reply", "code", "reason"),
    [
        ({"code": 5003, "message": "no key for party 9999"}, 5003, "no key for party 9999"),
        ({"code": 0, "message": "signed, honest"}, 6000, "answered code 0 but no signature"),
    ],
)
def test_a_signature_that_cannot_be_had_fails_the_command_with_the_reason(
    start_fate_flow_2, gateway, reply, code, reason
):
    hooks = start_fate_flow_2()
    gateway.answer("signature", reply)
    from fate_flow.hook.common.parameters import SignatureParameters
    from fate_flow.utils.api_utils import FederatedError

    result = hooks.site_signature(SignatureParameters(HOST, {}, GUEST))
    assert (result.code, result.signature) == (code, None)
    assert reason in result.message
    with pytest.raises(FederatedError) as failed:  # what 2.x then does with the command
        signed_headers()
    assert failed.value.code == 104 and reason in failed.value.message


def test_site_authentication_sends_the_request_with_its_headers(start_fate_flow_2, gateway):
    start_fate_flow_2()
    gateway.answer("signature", {"code": 0, "data": "sig-9999"})
    body = create_body("2.2", "host", HOST)
    headers = signed_headers(HOST, body)
    gateway.answer("site_authentication", {"code": 5003, "message": "does not verify"})
    import flask
    from fate_flow.apps import handle

    raw = json.dumps(body).encode()
    with flask.request_context(path="/v2/partner/job/create", headers=headers.items(), body=raw):
        assert handle() == {"code": 5003, "message": "does not verify"}
    sent = gateway.last()
    assert sent["path"] == "/v2/hook/site_authentication"
    assert {k.lower(): v for k, v in sent["json"]["headers"].items()} == {
        "src-party-id": "9999",
        "site-signature": "sig-9999",
        "initiator-party-id": GUEST,
    }
    assert (sent["json"]["json"], sent["json"]["path"], sent["json"]["method"]) == (
        body,
        "/v2/partner/job/create",
        "POST",
    )


def create_job(body, headers=()):
    """``/v2/partner/job/create`` as this site's FATE Flow 2.x handles it: FATE Flow's reply."""
    import flask
    from fate_flow.apps import handle

    headers = [("initiator-party-id", GUEST), *headers]
    raw = json.dumps(body).encode()
    with flask.request_context(path="/v2/partner/job/create", headers=headers, body=raw):
        return handle()


def test_permission_sends_2xs_parameters_and_this_sites_role(start_fate_flow_2, gateway, line):
    start_fate_flow_2()
    gateway.answer("site_authentication", {"code": 0})  # switched on by the README's lines
    assert create_job(create_body(line, "host", HOST)) == {"code": 0, "message": "success"}
    sent = gateway.last()
    assert sent["path"] == "/v2/hook/permission"
    assert sent["json"] == {
        "party_id": GUEST,  # the initiator
        "roles": dag_schema(line)["dag"]["parties"],
        "component_list": ["coordinated_lr", "psi", "reader"],  # not evaluation: guest only
        "dataset_list": [{"namespace": TABLES[HOST][0], "name": TABLES[HOST][1]}],
        "dag_schema": dag_schema(line),
        "component_parameters": {
            "reader": {"namespace": TABLES[HOST][0], "name": TABLES[HOST][1]},
            "psi": {},
            "coordinated_lr": {"epochs": 10},
        },
        "dest_role": "host",
        "dest_party_id": HOST,
        "job_id": JOB_ID,
    }


def test_a_refused_permission_is_2xs_refusal_of_the_job(start_fate_flow_2, gateway, line):
    start_fate_flow_2()
    gateway.answer("permission", {"code": 5005, "message": "not this dataset"})
    reply = create_job(create_body(line, "host", HOST))
    assert reply == {"code": 5005, "message": "not this dataset"}


def test_with_only_the_permission_switch_only_permission_is_asked(start_fate_flow_2, gateway):
    from fate_flow_standin import readme_service_conf

    conf = readme_service_conf(2)
    conf["authentication"] = {"client": False, "site": False, "permission": True}
    conf["fate_registry"]["url"] = gateway.url
    hooks = start_fate_flow_2(conf=conf)
    assert hooks.SITE_SIGNATURE == []  # 2.x registers a signature hook only with site on
    create_job(create_body("2.2", "host", HOST))
    assert [seen["path"] for seen in gateway.seen] == ["/v2/hook/permission"]


def test_with_every_switch_off_nothing_is_loaded(start_fate_flow_2, gateway):
    from fate_flow_standin import readme_service_conf

    conf = readme_service_conf(2)
    conf["authentication"] = {"client": False, "site": False, "permission": False}
    hooks = start_fate_flow_2(conf=conf)
    assert hooks.PERMISSION_CHECK == hooks.CLIENT_AUTHENTICATION == []


def test_failures_are_logged_in_fate_flows_stat_log(start_fate_flow_2, caplog):
    start_fate_flow_2(url="http://127.0.0.1:9")  # nothing listens on the discard port
    with caplog.at_level(logging.ERROR, logger="fate_flow_stat"):
        reply = create_job(create_body("2.2", "host", HOST))
    assert reply["code"] == 6000 and "could not be reached" in reply["message"]
    assert [record.name for record in caplog.records] == ["fate_flow_stat"]
    assert "127.0.0.1:9" in caplog.records[0].getMessage()  # the log may name it; replies not
    assert "127.0.0.1" not in reply["message"]
