"""contrib/fate-flow-hooks loaded as FATE Flow 2.0 and 2.2 load it (our stand-ins of 2.x's hook
manager and request handling, contrib/fate-flow-hooks/tests/standins/fate_flow_2), against two
real `fate-registry serve`s, one per site, protected by an admin token: every decision of 2.x
goes through our local plugins (hmac, rsa, grants) and gets the answer 1.11 gets in the same
situation; a 1.11 site and a 2.x site sign and verify each other's requests with the rsa plugin.

Site 9999 (guest, the initiator) and site 10000 (host) each have their own registry, holding
their own key pair and the other's public key, as `fate-registry keys` would leave them.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from callback_service import free_port
from fate_client_support import fate_client_2, signed_by_fate_client
from serve_support import start_serve

from fate_registry import Registry, Settings

CONTRIB_TESTS = Path(__file__).resolve().parents[1] / "contrib" / "fate-flow-hooks" / "tests"
sys.path.append(str(CONTRIB_TESTS))
from fate2_jobs import GUEST, HOST, TABLES, create_body  # noqa: E402
from fate_flow_http import fate_flow_http  # noqa: E402
from fate_flow_standin import fate_flow_process, readme_service_conf  # noqa: E402

TOKEN = "fate-flow-hooks-2-test-token"
PASSPHRASE = "a-test-passphrase"
APP, APP_TOKEN = "fate-app", "the-apps-token"
HOST_TABLE = f"{TABLES[HOST][0]}:{TABLES[HOST][1]}"
# The same job as FATE Flow 1.11 sends it to the host: its DSL's modules, lower-cased.
JOB_1X_COMPONENTS = ["reader", "intersection", "heterolr", "evaluation"]
JOB_2X_COMPONENTS = ["reader", "psi", "coordinated_lr"]  # the tasks that run at the host
LINES = ["1.11", "2.0", "2.2"]


def site_settings(party: str) -> dict[str, str]:
    """A site's `serve`: the local plugins on, no decision cache, grants and keys read fresh."""
    return {
        "FATE_REGISTRY_LOAD_PLUGINS": "hmac,grants,rsa",
        "FATE_REGISTRY_ADMIN_TOKENS": TOKEN,
        "FATE_REGISTRY_CACHE_TTL": "0",
        "FATE_REGISTRY_HMAC__APP_KEYS": json.dumps({APP: APP_TOKEN}),
        "FATE_REGISTRY_GRANTS__ENABLED": "true",
        "FATE_REGISTRY_RSA__ENABLED": "true",
        "FATE_REGISTRY_RSA__PARTY_ID": party,
        "FATE_REGISTRY_RSA__KEY_PASSPHRASE": PASSPHRASE,
        **{
            f"FATE_REGISTRY_HOOKS__{capability}__CACHE": "false"
            for capability in (
                "CLIENT_AUTHENTICATION",
                "SIGNATURE",
                "SITE_AUTHENTICATION",
                "PERMISSION",
            )
        },
    }


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """{party: (the serve's URL, its Registry)} for sites 9999 and 10000."""
    registries: dict[str, Registry] = {}
    for party in (GUEST, HOST):
        db = f"sqlite:///{tmp_path_factory.mktemp(f'site-{party}') / 'registry.db'}"
        settings = Settings(db_url=db, rsa={"key_passphrase": PASSPHRASE}, cache_ttl=0)
        registries[party] = Registry(db, settings=settings, cache_ttl=0)
        registries[party].keys.generate(party)
    for party, peer in ((GUEST, HOST), (HOST, GUEST)):
        registries[party].keys.import_public(peer, registries[peer].keys.public_pem(peer))
    with ExitStack() as stack:
        urls = {
            party: stack.enter_context(
                start_serve(str(registry.engine.url), env=site_settings(party))
            )
            for party, registry in registries.items()
        }
        yield {party: (urls[party], registries[party]) for party in registries}
    for registry in registries.values():
        registry.close()


@pytest.fixture
def start(sites: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    """``start(line, party, **section)``: FATE Flow ``line`` (1.11, 2.0 or 2.2) of site ``party``
    with the README's lines for it, pointed at that site's registry with its token."""
    stack = ExitStack()

    def start(line: str, party: str, **section: Any) -> Any:
        stack.close()
        major = 1 if line == "1.11" else 2
        conf = copy.deepcopy(readme_service_conf(major))
        conf["party_id"] = int(party) if major == 1 else party
        conf["fate_registry"].update({"url": sites[party][0], "token": TOKEN, **section})
        base = tmp_path / f"fate-{party}-{line}"
        process = fate_flow_process(conf, base, major=major, conf_path=line != "2.0")
        return stack.enter_context(process)

    with stack:
        yield start


@pytest.fixture
def host_grants(sites: dict[str, Any]) -> Iterator[Any]:
    """The grants site 10000 holds for site 9999, emptied after the test."""
    grants = sites[HOST][1].grants
    yield grants
    grants.revoke(GUEST, everything=True)


# -- permission -------------------------------------------------------------------------------


def job_permission_1x(hooks: Any) -> Any:
    """What FATE Flow 1.11 does with a create request from 9999 at host 10000: its parameters
    (`src_role` from the misspelt header: None) through the permission hooks."""
    import flask
    from fate_flow.entity import DataSet
    from fate_flow.hook.common.parameters import PermissionCheckParameters

    peer = [("src_party_id", GUEST), ("src_role", "guest"), ("dest_party_id", HOST)]
    with flask.request_context(path=f"/v1/party/j/host/{HOST}/create", headers=peer):
        return hooks.permission_check(
            PermissionCheckParameters(
                src_role=flask.request.headers.get("scr_role"),
                src_party_id=GUEST,
                role="host",
                party_id=HOST,
                initiator={"role": "guest", "party_id": int(GUEST)},
                roles={"guest": [int(GUEST)], "host": [int(HOST)], "arbiter": [int(HOST)]},
                component_list=JOB_1X_COMPONENTS,
                dataset_list=[DataSet(*TABLES[HOST])],
                runtime_conf={},
                dsl={},
                component_parameters={},
            )
        )


@contextmanager
def site_request(headers: Any, body: dict[str, Any], path: str) -> Iterator[None]:
    import flask

    with flask.request_context(path=path, headers=list(headers), body=json.dumps(body).encode()):
        yield


def job_permission_2x(line: str, signed_by_guest: dict[str, str]) -> dict[str, Any]:
    """FATE Flow 2.x's reply to the scheduler's create request at host 10000 (site
    authentication, then the permission check)."""
    from fate_flow.apps import handle

    with site_request(signed_by_guest.items(), create_body(line, "host", HOST), CREATE):
        reply: dict[str, Any] = handle()
    return reply


CREATE = "/v2/partner/job/create"
BOTH_NAMES = JOB_1X_COMPONENTS + JOB_2X_COMPONENTS
SITUATIONS = {
    # name: (grants of 9999 at 10000, allowed)
    "every component and the dataset": (
        [{"components": BOTH_NAMES, "datasets": [HOST_TABLE]}],
        True,
    ),
    "any component and the dataset": ([{"components": ["*"], "datasets": [HOST_TABLE]}], True),
    "the dataset's namespace": ([{"components": ["*"], "datasets": ["experiment:*"]}], True),
    "not the dataset": ([{"components": BOTH_NAMES}], False),
    "only the reader": ([{"components": ["reader"], "datasets": [HOST_TABLE]}], False),
    "the dataset denied": (
        [{"components": ["*"], "datasets": ["*"]}, {"datasets": [HOST_TABLE], "deny": True}],
        False,
    ),
    "as host only": ([{"components": ["*"], "datasets": ["*"], "role": "host"}], False),
    "as guest": ([{"components": ["*"], "datasets": ["*"], "role": "guest"}], True),
    "nothing": ([], False),
}


def signed_create_headers(start: Any, line: str) -> dict[str, str]:
    """The headers site 9999's FATE Flow 2.x sends with the create request to 10000."""
    start(line, GUEST)
    from fate_flow.utils.api_utils import federated_headers

    return federated_headers(HOST, create_body(line, "host", HOST), initiator_party_id=GUEST)


@pytest.mark.parametrize("situation", SITUATIONS)
def test_a_job_gets_the_same_permission_from_1_11_and_2_x(
    start: Any, host_grants: Any, situation: str
) -> None:
    grants, allowed = SITUATIONS[situation]
    for grant in grants:
        host_grants.grant(GUEST, **grant)
    answers = {}
    for line in LINES:
        if line == "1.11":
            result = job_permission_1x(start(line, HOST))
            answers[line] = (result.code, result.message)
        else:
            headers = signed_create_headers(start, line)
            start(line, HOST)
            reply = job_permission_2x(line, headers)
            answers[line] = (reply["code"], reply["message"])
    expected = {"1.11": 0 if allowed else 108, "2.0": 0 if allowed else 5005}
    expected["2.2"] = expected["2.0"]
    assert {line: code for line, (code, _) in answers.items()} == expected, answers


def test_a_refusal_names_the_2x_components_and_datasets_refused(
    start: Any, host_grants: Any
) -> None:
    host_grants.grant(GUEST, components=["reader"])
    headers = signed_create_headers(start, "2.2")
    start("2.2", HOST)
    reply = job_permission_2x("2.2", headers)
    assert reply["code"] == 5005
    assert "coordinated_lr" in reply["message"] and "psi" in reply["message"]
    assert HOST_TABLE in reply["message"]


# -- client authentication --------------------------------------------------------------------


def client_authentication_1x(hooks: Any, secret: str) -> tuple[int, str]:
    """fate_client 1.11.3's signed request, as FATE Flow 1.11 hands it to its hook."""
    import flask
    from fate_flow.hook.common.parameters import ClientAuthenticationParameters

    prepared = signed_by_fate_client(APP, secret, "POST", "job/stop", json={"job_id": "j1"})
    path, _, query = prepared.path_url.partition("?")
    body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    with flask.request_context(path=path, query=query, headers=prepared.headers.items(), body=body):
        request = flask.request
        result = hooks.client_authentication(
            ClientAuthenticationParameters(
                request.full_path, request.headers, request.form, request.data, request.json
            )
        )
    return result.code, result.message


def client_authentication_2x(line: str, token: str) -> Any:
    """fate_client 2.2.0's request to FATE Flow 2.x's API: FATE Flow's reply."""
    flow_sdk = fate_client_2()
    with fate_flow_http() as (host, port):
        client = flow_sdk.FlowClient(host, port, app_id=APP, app_token=token)
        return client.job.submit(create_body(line, "guest", GUEST))


@pytest.mark.parametrize(("token", "allowed"), [(APP_TOKEN, True), ("a-wrong-token", False)])
def test_a_client_gets_the_same_answer_from_1_11_and_2_x(
    start: Any, token: str, allowed: bool
) -> None:
    code, message = client_authentication_1x(start("1.11", GUEST), token)
    assert code == (0 if allowed else 109), message
    for line in ("2.0", "2.2"):
        start(line, GUEST)
        reply = client_authentication_2x(line, token)
        assert reply["code"] == (0 if allowed else 5003), reply
        if not allowed:
            assert reply["message"].startswith("Signature does not match")


# -- signature and site authentication, across the lines --------------------------------------


BODY = {"job_id": "202401010000000000001", "role": "host", "party_id": HOST, "n": [1, 2.5]}
START = "/v2/partner/job/start"  # a partner route: site authentication only


def sign_at(start: Any, line: str, party: str, dest: str) -> dict[str, str]:
    """The headers site ``party`` on FATE Flow ``line`` sends with BODY to ``dest``."""
    hooks = start(line, party)
    if line == "1.11":
        from fate_flow.hook.common.parameters import SignatureParameters

        signature = hooks.site_signature(SignatureParameters(int(party), BODY)).site_signature
        return {"src_party_id": party, "site_signature": signature, "dest_party_id": dest}
    from fate_flow.utils.api_utils import federated_headers

    return federated_headers(dest, BODY, initiator_party_id=GUEST)


def verify_at(start: Any, line: str, party: str, headers: dict[str, str], body: Any) -> int:
    """The code site ``party`` on FATE Flow ``line`` answers a request with ``headers``."""
    hooks = start(line, party)
    if line == "1.11":  # as its before_request reads the request
        from fate_flow.hook.common.parameters import AuthenticationParameters

        with site_request(headers.items(), body, "/v1/party/j/host/10000/start"):
            import flask

            request = flask.request
            result = hooks.site_authentication(
                AuthenticationParameters(
                    request.headers.get("src_party_id"),
                    request.headers.get("site_signature"),
                    request.json,
                )
            )
        return int(result.code)
    from fate_flow.apps import handle

    with site_request(headers.items(), body, START):
        return int(handle()["code"])


@pytest.mark.parametrize(
    ("signer", "verifier"),
    [(a, b) for a in LINES for b in LINES if "1.11" in (a, b) or a == b],
)
def test_a_body_signed_by_a_1_x_site_verifies_at_a_2_x_site_and_back(
    start: Any, signer: str, verifier: str
) -> None:
    headers = sign_at(start, signer, GUEST, HOST)
    assert verify_at(start, verifier, HOST, headers, BODY) == 0
    tampered = {**BODY, "role": "guest"}
    assert verify_at(start, verifier, HOST, headers, tampered) == (
        109 if verifier == "1.11" else 5003
    )


def test_a_2x_signature_by_another_party_does_not_verify(start: Any) -> None:
    headers = sign_at(start, "2.2", GUEST, HOST)
    headers["src-party-id"] = HOST  # claims to be 10000, signed with 9999's key
    assert verify_at(start, "2.2", HOST, headers, BODY) == 5003


# -- what the registry being protected, down or unset does ------------------------------------


def test_without_the_token_the_protected_registry_refuses(start: Any) -> None:
    headers = signed_create_headers(start, "2.2")
    start("2.2", HOST, token="")
    reply = job_permission_2x("2.2", headers)
    assert reply["code"] == 5003 and "Bearer" in reply["message"]


def test_a_registry_that_is_down_is_a_refusal_not_an_allow(start: Any) -> None:
    start("2.2", GUEST, url=f"http://127.0.0.1:{free_port()}")
    from fate_flow.hook import HookManager
    from fate_flow.hook.common.parameters import SignatureParameters

    result = HookManager.site_signature(SignatureParameters(HOST, BODY, GUEST))
    assert (result.code, result.signature) == (6000, None)
    assert result.message == (
        "site signature failed: fate-registry could not be reached for signature "
        "(ConnectionError); refused"
    )


def test_the_lines_docs_fate_flow_md_gives_make_every_decision_ask_the_registry(
    sites: dict[str, Any], tmp_path: Path, host_grants: Any
) -> None:
    """docs/fate-flow.md's service_conf.yaml for 2.x, as written but for the URL and token."""
    import re

    import yaml

    docs = (Path(__file__).resolve().parents[1] / "docs" / "fate-flow.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", docs, re.S)]
    (conf,) = [b for b in blocks if "fate_registry" in b and b["authentication"]["client"] is True]
    conf["party_id"] = HOST
    conf["fate_registry"].update({"url": sites[HOST][0], "token": TOKEN})
    with fate_flow_process(conf, tmp_path / "fate", major=2) as hooks:
        assert [len(getattr(hooks, kind)) for kind in ("CLIENT_AUTHENTICATION", "SITE_SIGNATURE",
                "SITE_AUTHENTICATION", "PERMISSION_CHECK")] == [1, 1, 1, 1]  # fmt: skip
        from fate_flow.utils.permission_utils import create_job_request_check

        body = create_body("2.2", "host", HOST)
        with site_request({"initiator-party-id": GUEST}.items(), body, CREATE):
            refused = create_job_request_check()  # no grants: the grants plugin refuses
            host_grants.grant(GUEST, components=["*"], datasets=[HOST_TABLE])
            allowed = create_job_request_check()
        assert refused is not None and refused["code"] == 5005
        assert allowed is None  # FATE Flow goes on creating the job
