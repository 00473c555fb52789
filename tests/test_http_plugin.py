"""The http plugin against a real callback service on loopback: shapes, timeouts, retries."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from callback_service import SLEEP_SECONDS, TRICKLE_SECONDS, callback_app, serve
from fastapi import FastAPI
from http_support import http_dispatcher
from waiting import wait_until

import fate_registry_http
from fate_registry import Registry
from fate_registry.dispatch import Dispatcher, HookFailed
from fate_registry.settings import HooksSettings
from fate_registry_http import async_client

CLIENT = {
    "full_path": "/v1/job/submit?x=1",
    "headers": {"TIMESTAMP": "1", "NONCE": "n", "APP_KEY": "k", "SIGNATURE": "s"},
    "form": {},
    "data": "",
    "json": {"job": 1},
}
SIGN = {"party_id": "9999", "body": {"job_id": "j1"}}
SITE = {"src_party_id": "10000", "site_signature": "sig-10000", "body": {"job_id": "j1"}}
PERMISSION = {
    "src_role": "guest",
    "src_party_id": "9999",
    "role": "host",
    "party_id": "10000",
    "initiator": {"role": "guest", "party_id": 9999},
    "roles": {"guest": [9999], "host": [10000]},
    "component_list": ["reader_0", "hetero_lr_0"],
    "dataset_list": [{"namespace": "experiment", "name": "breast_hetero_host"}],
    "run_time_conf": {},
    "dsl": {},
    "component_parameters": {},
}
# A call cut at its deadline must return near it, not at the service's pace: the checks give a
# loaded machine (load 4 on 2 cores) seconds of slack, and the slow services take far longer.
SLACK = 2.5
HANG = 30.0  # seconds a held database takes unless released
REQUESTS = {
    "client_authentication": CLIENT,
    "signature": SIGN,
    "site_authentication": SITE,
    "permission": PERMISSION,
}


@pytest.fixture(scope="module")
def callback() -> Iterator[tuple[FastAPI, str, int]]:
    app = callback_app()
    with serve(app) as (host, port):
        yield app, host, port


@pytest.fixture
def registry(sqlite_url: str, callback: tuple[FastAPI, str, int]) -> Iterator[Registry]:
    _, host, port = callback
    with Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server("HOOK", host, port)
        yield reg


def dispatcher(registry: Registry, **capabilities: Any) -> Dispatcher:
    return http_dispatcher(registry, HooksSettings(**capabilities))


def no_cache(**extra: Any) -> dict[str, Any]:
    return {cap: {"cache": False, **extra} for cap in REQUESTS}


# -- both reply shapes of every decision ----------------------------------------------------


@pytest.mark.parametrize(
    "capability", ["client_authentication", "site_authentication", "permission"]
)
@pytest.mark.parametrize("uri", ["/allow", "/allow-message"])
def test_allow_in_either_reply_shape(registry: Registry, capability: str, uri: str) -> None:
    registry.register_service("HOOK", capability, uri)
    outcome = dispatcher(registry).decide(capability, REQUESTS[capability])
    assert (outcome.allowed, outcome.code, outcome.message, outcome.plugin) == (
        True,
        0,
        "welcome",
        "http",
    )


@pytest.mark.parametrize(
    "capability", ["client_authentication", "site_authentication", "permission"]
)
@pytest.mark.parametrize(
    ("uri", "code", "message"),
    [("/deny", 109, "who are you"), ("/deny-message", 108, "not this component")],
)
def test_deny_in_either_reply_shape(
    registry: Registry, capability: str, uri: str, code: int, message: str
) -> None:
    registry.register_service("HOOK", capability, uri)
    outcome = dispatcher(registry).decide(capability, REQUESTS[capability])
    assert (outcome.allowed, outcome.code, outcome.message, outcome.failed) == (
        False,
        code,
        message,
        False,
    )


@pytest.mark.parametrize("uri", ["/sign", "/sign-data"])
def test_signature_in_either_reply_shape(registry: Registry, uri: str) -> None:
    registry.register_service("HOOK", "signature", uri)
    outcome = dispatcher(registry).signature(SIGN)
    assert (outcome.allowed, outcome.signature) == (True, "sig-9999")


def test_signature_reply_without_a_signature_is_an_error(registry: Registry) -> None:
    registry.register_service("HOOK", "signature", "/sign-missing")
    outcome = dispatcher(registry).signature(SIGN)
    assert not outcome.allowed and outcome.failed
    assert "no signature" in (outcome.error or "")


def test_http_403_with_a_code_is_a_deny_not_a_failure(registry: Registry) -> None:
    registry.register_service("HOOK", "permission", "/forbidden")
    outcome = dispatcher(registry, permission={"failure_policy": "allow"}).permission(PERMISSION)
    assert (outcome.allowed, outcome.failed, outcome.code) == (False, False, 109)


# -- what is sent ---------------------------------------------------------------------------


def test_request_is_sent_as_fate_flow_sends_it_with_stored_extras(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    app = callback[0]
    registry.register_service(
        "HOOK",
        "signature",
        "/sign",
        params={"tenant": "a"},
        data={"key_id": "k1"},
        headers={"X-Api-Key": "abc"},
    )
    dispatcher(registry).signature(SIGN)
    seen = app.state.seen[-1]
    assert json.loads(seen["body"]) == {"key_id": "k1", **SIGN}
    assert seen["params"] == {"tenant": "a"}
    assert seen["headers"]["x-api-key"] == "abc"
    assert "webhook-signature" not in seen["headers"]


def test_every_header_value_registration_accepts_is_sent_as_stored(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    headers = {"Authorization": "Bearer a b\tc", "X-Empty": "", "X-Marks": '!"#~'}
    registry.register_service("HOOK", "permission", "/allow", headers=headers)
    assert dispatcher(registry).permission(PERMISSION).allowed
    seen = callback[0].state.seen[-1]["headers"]
    assert {name: seen[name.lower()] for name in headers} == headers


def test_every_call_carries_the_hop_header_with_the_decision_id(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    # A stored header of that name cannot take it off: a fate-registry refuses such calls.
    registry.register_service("HOOK", "permission", "/allow", headers={"x-fate-registry-hop": ""})
    outcome = dispatcher(registry).permission(PERMISSION)
    assert callback[0].state.seen[-1]["headers"]["x-fate-registry-hop"] == outcome.decision_id


def test_client_authentication_sends_the_json_key_and_lower_cased_headers(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    registry.register_service("HOOK", "client_authentication", "/allow")
    dispatcher(registry).client_authentication(CLIENT)
    headers = {name.lower(): value for name, value in CLIENT["headers"].items()}
    assert json.loads(callback[0].state.seen[-1]["body"]) == {**CLIENT, "headers": headers}


KEY = b"0123456789abcdef"
SECRETS = {"HOOK": "whsec_" + base64.b64encode(KEY).decode()}


def provider_verifies(seen: dict[str, Any], key: bytes = KEY) -> bool:
    """A provider's check of the signature, exactly as docs/plugins.md tells it."""
    headers = seen["headers"]
    query = urlencode(sorted(parse_qsl(seen["query"], keep_blank_values=True)))
    body = b"" if headers.get("webhook-body") == "unsigned" else seen["body"]
    signed = (
        f"{headers['webhook-id']}.{headers['webhook-timestamp']}."
        f"{seen['method']}\n{seen['raw_path']}\n{query}\n".encode()
    ) + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(headers["webhook-signature"], "v1," + expected)


def test_outbound_calls_sign_method_path_query_and_body(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    registry.register_service("HOOK", "permission", "/echo", params={"b": "2", "a": "x y"})
    dispatcher(registry, signing_secrets=SECRETS).permission(PERMISSION)
    seen = callback[0].state.seen[-1]
    assert provider_verifies(seen)
    assert abs(int(seen["headers"]["webhook-timestamp"]) - time.time()) < 5
    assert "webhook-body" not in seen["headers"]
    assert not provider_verifies({**seen, "body": seen["body"].replace(b"9999", b"6666")})
    assert not provider_verifies({**seen, "query": "a=x+y&b=3"})
    assert not provider_verifies({**seen, "raw_path": "/allow"})
    assert not provider_verifies({**seen, "method": "PUT"})


def test_download_signs_its_request_body_parameter(
    registry: Registry, callback: tuple[FastAPI, str, int], tmp_path: Path
) -> None:
    registry.register_service("HOOK", "download", "/download")
    d = dispatcher(registry, signing_secrets=SECRETS)
    d.download({"job_id": "job-42", "destination": tmp_path / "f.csv"})
    seen = callback[0].state.seen[-1]
    assert json.loads(seen["params"]["requestBody"])["jobId"] == "job-42"
    assert provider_verifies(seen)
    replayed = seen["query"].replace("job-42", "job-43")
    assert not provider_verifies({**seen, "query": replayed})


def test_upload_signs_its_target_and_says_the_streamed_body_is_not_signed(
    registry: Registry, callback: tuple[FastAPI, str, int], tmp_path: Path
) -> None:
    registry.register_service("HOOK", "upload", "/upload")
    ids = tmp_path / "ids"
    ids.write_text("id\n1\n")
    dispatcher(registry, signing_secrets=SECRETS).upload({"ids_path": ids, "job_id": "j1"})
    seen = callback[0].state.seen[-1]
    assert seen["headers"]["webhook-body"] == "unsigned"
    assert provider_verifies(seen)
    assert not provider_verifies({**seen, "query": seen["query"].replace("j1", "j2")})


def test_the_webhook_id_is_the_decision_id(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    registry.register_service("HOOK", "permission", "/echo")
    outcome = dispatcher(registry, signing_secrets=SECRETS).permission(PERMISSION)
    assert callback[0].state.seen[-1]["headers"]["webhook-id"] == outcome.decision_id


def test_a_plain_secret_is_used_as_its_utf8_bytes(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    secret = "plain, not base64: süß €"
    registry.register_service("HOOK", "permission", "/echo")
    dispatcher(registry, signing_secrets={"HOOK": secret}).permission(PERMISSION)
    assert provider_verifies(callback[0].state.seen[-1], key=secret.encode("utf-8"))


class TickingClock:
    """The ``time`` module as the http plugin sees it, but a wall clock one second later at
    each reading: a call signed again for its retry would carry another timestamp."""

    def __init__(self) -> None:
        self.readings = 0

    def time(self) -> float:
        self.readings += 1
        return time.time() + self.readings

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def test_a_retry_is_the_same_call_same_id_timestamp_and_signature(
    registry: Registry, callback: tuple[FastAPI, str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fate_registry_http.client, "time", TickingClock())
    registry.register_service("HOOK", "permission", "/fail-first/503/signed-retry")
    outcome = dispatcher(registry, signing_secrets=SECRETS).permission(PERMISSION)
    assert (outcome.allowed, outcome.message) == (True, "second time lucky")
    first, second = (
        seen["headers"]
        for seen in callback[0].state.seen
        if seen["path"] == "/fail-first/503/signed-retry"
    )
    signed = ("webhook-id", "webhook-timestamp", "webhook-signature")
    assert [first[name] for name in signed] == [second[name] for name in signed]
    assert first["webhook-id"] == outcome.decision_id


def test_service_follows_its_server_when_it_moves(sqlite_url: str) -> None:
    with Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server("HOOK", "127.0.0.1", 9)  # discard port: nothing listens
        reg.register_service("HOOK", "permission", "/allow")
        d = dispatcher(reg, permission={"cache": False, "timeout": 0.5, "retries": 0})
        assert d.permission(PERMISSION).failed
        app = callback_app()
        with serve(app) as (host, port):
            reg.register_server("HOOK", host, port)
            assert d.permission(PERMISSION).allowed


def test_per_capability_server_name(registry: Registry, callback: tuple[FastAPI, str, int]) -> None:
    _, host, port = callback
    registry.register_server("AUTH", host, port)
    registry.register_service("AUTH", "client_authentication", "/allow")
    d = dispatcher(registry, client_authentication={"server_name": "AUTH"})
    assert d.client_authentication(CLIENT).allowed


def test_no_registered_service_is_no_opinion(registry: Registry) -> None:
    outcome = dispatcher(registry).permission(PERMISSION)
    assert (outcome.allowed, outcome.failed) == (False, False)
    assert "no plugin had an opinion" in outcome.message


# -- timeouts, retries, garbage -------------------------------------------------------------


def test_a_sleeping_service_is_cut_at_the_timeout_with_the_policy_applied(
    registry: Registry,
) -> None:
    registry.register_service("HOOK", "client_authentication", "/sleep")
    d = dispatcher(registry, client_authentication={"timeout": 0.5})
    started = time.monotonic()
    outcome = d.client_authentication(CLIENT)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + SLACK < SLEEP_SECONDS, f"took {elapsed:.3f} s"
    assert (outcome.allowed, outcome.failed, outcome.code) == (False, True, 109)
    assert "timed out" in (outcome.error or "")


def test_a_sleeping_service_fails_open_under_the_allow_policy(registry: Registry) -> None:
    registry.register_service("HOOK", "permission", "/sleep")
    d = dispatcher(registry, permission={"timeout": 0.5, "failure_policy": "allow"})
    started = time.monotonic()
    outcome = d.permission(PERMISSION)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + SLACK < SLEEP_SECONDS, f"took {elapsed:.3f} s"
    assert (outcome.allowed, outcome.failed_open) == (True, True)


def test_503_then_200_is_retried_and_succeeds(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    registry.register_service("HOOK", "permission", "/flaky/permission")
    outcome = dispatcher(registry).permission(PERMISSION)
    assert (outcome.allowed, outcome.failed, outcome.message) == (True, False, "second time lucky")
    assert callback[0].state.calls["/flaky/permission"] == 2


def test_503_every_time_is_an_error_after_the_retries(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    registry.register_service("HOOK", "permission", "/always-503")
    before = callback[0].state.calls["/always-503"]
    outcome = dispatcher(registry, permission={"retries": 2}).permission(PERMISSION)
    assert (outcome.allowed, outcome.failed) == (False, True)
    assert callback[0].state.calls["/always-503"] - before == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_502_503_and_504_are_retried(
    registry: Registry, callback: tuple[FastAPI, str, int], status: int
) -> None:
    uri = f"/fail-first/{status}/permission"
    registry.register_service("HOOK", "permission", uri)
    outcome = dispatcher(registry, permission={"retries": 2}).permission(PERMISSION)
    assert (outcome.allowed, outcome.failed, outcome.message) == (True, False, "second time lucky")
    assert callback[0].state.calls[uri] == 2


@pytest.mark.parametrize("status", [500, 501, 429])
def test_other_error_statuses_are_not_retried(
    registry: Registry, callback: tuple[FastAPI, str, int], status: int
) -> None:
    uri = f"/fail-first/{status}/permission"
    registry.register_service("HOOK", "permission", uri)
    outcome = dispatcher(registry, permission={"retries": 2}).permission(PERMISSION)
    assert (outcome.allowed, outcome.code) == (False, status)  # the service's own deny
    assert callback[0].state.calls[uri] == 1


def test_upload_is_never_retried_even_with_retries_set(
    registry: Registry, callback: tuple[FastAPI, str, int], tmp_path: Path
) -> None:
    """Upload is not idempotent (each call may start a job) and its body is a stream sent
    once: a 503 is its answer, whatever ``retries`` says."""
    uri = "/fail-first/503/job-1"
    registry.register_service("HOOK", "upload", uri)
    ids = tmp_path / "ids"
    ids.write_text("id\n1\n")
    d = dispatcher(registry, upload={"retries": 2, "timeout": 5, "budget": 5})
    with pytest.raises(HookFailed, match="upload answered HTTP 503"):
        d.upload({"ids_path": ids, "job_id": "j1"})
    assert callback[0].state.calls[uri] == 1


def test_a_read_timeout_is_not_retried_even_with_budget_left(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    registry.register_service("HOOK", "permission", "/sleep")
    before = callback[0].state.calls["/sleep"]
    d = dispatcher(registry, permission={"timeout": 0.3, "budget": 2, "retries": 2})
    outcome = d.permission(PERMISSION)
    assert outcome.failed and "timed out after 0.30 s" in (outcome.error or "")
    assert callback[0].state.calls["/sleep"] - before == 1


def test_connection_refused_is_retried_then_an_error(sqlite_url: str) -> None:
    with Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server("HOOK", "127.0.0.1", 9)
        reg.register_service("HOOK", "site_authentication", "/allow")
        outcome = dispatcher(reg).site_authentication(SITE)
        assert (outcome.allowed, outcome.failed) == (False, True)
        assert "connection failed" in (outcome.error or "")


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("/garbage", "reply is not JSON"),
        ("/wrong-types", "no integer 'code'"),
        ("/not-an-object", "not an object"),
    ],
)
@pytest.mark.parametrize("capability", list(REQUESTS))
def test_garbage_is_an_error_naming_the_service_never_an_allow(
    registry: Registry, capability: str, uri: str, problem: str
) -> None:
    registry.register_service("HOOK", capability, uri)
    outcome = dispatcher(registry).decide(capability, REQUESTS[capability])
    assert (outcome.allowed, outcome.failed) == (False, True)
    assert f"service '{capability}' of server 'HOOK'" in (outcome.error or "")
    assert problem in (outcome.error or "")


# -- redirects are never followed --------------------------------------------------------------


@pytest.fixture
def elsewhere(callback: tuple[FastAPI, str, int]) -> Iterator[FastAPI]:
    """A second real service, where the first one's /redirect/<status> points: it records
    whether anything reached it."""
    app = callback_app()
    with serve(app) as (host, port):
        callback[0].state.redirect_to = f"http://{host}:{port}/allow?token=l34k"
        yield app


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_under_the_policy_and_nothing_reaches_its_target(
    registry: Registry, callback: tuple[FastAPI, str, int], elsewhere: FastAPI, status: int
) -> None:
    registry.register_service(
        "HOOK", "permission", f"/redirect/{status}", headers={"X-Api-Key": "k3y"}
    )
    for policy, allowed in (("deny", False), ("allow", True)):
        d = dispatcher(registry, permission={"failure_policy": policy, "cache": False})
        outcome = d.permission(PERMISSION)
        assert (outcome.allowed, outcome.failed) == (allowed, True)
        assert f"HTTP {status}" in (outcome.error or "") and "redirect" in (outcome.error or "")
        assert "l34k" not in f"{outcome.error} {outcome.message}"
    assert callback[0].state.seen[-1]["headers"]["x-api-key"] == "k3y"
    assert elsewhere.state.seen == []  # neither the decision nor the stored key went there


def test_apireader_calls_do_not_follow_redirects_either(
    registry: Registry, elsewhere: FastAPI, tmp_path: Path
) -> None:
    ids = tmp_path / "ids"
    ids.write_text("id\n1\n")
    calls = {
        "upload": {"ids_path": ids, "job_id": "j1"},
        "query": {"job_id": "j1"},
        "download": {"job_id": "j1", "destination": tmp_path / "features.csv"},
    }
    for capability, request in calls.items():
        registry.register_service("HOOK", capability, "/redirect/307")
        with pytest.raises(HookFailed, match="HTTP 307"):
            getattr(dispatcher(registry), capability)(request)
    assert elsewhere.state.seen == []
    assert not (tmp_path / "features.csv").exists()


# -- ApiReader ------------------------------------------------------------------------------


def test_upload_streams_ids_as_multipart_and_answers_the_job_id(
    registry: Registry, callback: tuple[FastAPI, str, int], tmp_path: Path
) -> None:
    registry.register_service("HOOK", "upload", "/upload")
    ids = tmp_path / "ids"
    ids.write_text("id\n1\n2\n3\n")
    answer = dispatcher(registry).upload(
        {"ids_path": ids, "parameters": {"stat_month": "202201"}, "job_id": "j1"}
    )
    assert answer.job_id == "job-42"
    seen = callback[0].state.seen[-1]
    assert seen["headers"]["content-type"].startswith("multipart/form-data")
    assert b'filename="id"' in seen["body"] and b"id\n1\n2\n3\n" in seen["body"]
    body = json.loads(seen["params"]["requestBody"])
    assert body == {"stat_month": "202201", "job_id": "j1", "sign": hashlib.md5(b"j1").hexdigest()}


def test_upload_refused_is_an_error_not_ignored(registry: Registry, tmp_path: Path) -> None:
    registry.register_service("HOOK", "upload", "/upload-refused")
    ids = tmp_path / "ids"
    ids.write_text("id\n1\n")
    with pytest.raises(HookFailed, match="code 102: bad ids"):
        dispatcher(registry).upload({"ids_path": ids, "job_id": "j1"})


@pytest.mark.parametrize(("uri", "status"), [("/query-data", "success"), ("/query-top", "running")])
def test_query_reads_the_status_in_either_place(registry: Registry, uri: str, status: str) -> None:
    registry.register_service("HOOK", "query", uri)
    assert dispatcher(registry).query({"job_id": "job-42"}).status == status


def test_download_streams_to_the_destination_atomically(registry: Registry, tmp_path: Path) -> None:
    registry.register_service("HOOK", "download", "/download")
    (tmp_path / "out").mkdir()
    destination = tmp_path / "out" / "features.csv"
    answer = dispatcher(registry).download({"job_id": "job-42", "destination": destination})
    assert (answer.rows, answer.bytes) == (1000, destination.stat().st_size)
    assert destination.read_text().startswith("id,x0,x1\n")
    assert [p.name for p in destination.parent.iterdir()] == ["features.csv"]


def test_no_apireader_service_is_an_error_saying_so(registry: Registry) -> None:
    with pytest.raises(HookFailed, match="no plugin answered query"):
        dispatcher(registry).query({"job_id": "x"})


# -- https ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_callback(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Path], int]]:
    import ssl

    from tls_files import make_tls_files

    files = make_tls_files(tmp_path_factory.mktemp("tls"))
    options = {
        "ssl_certfile": str(files["server_cert"]),
        "ssl_keyfile": str(files["server_key"]),
        "ssl_ca_certs": str(files["ca"]),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,  # the client must present a certificate
    }
    with serve(callback_app(), **options) as (_, port):
        yield files, port


def test_https_with_the_servers_ca_bundle_and_client_certificate(
    sqlite_url: str, tls_callback: tuple[dict[str, Path], int]
) -> None:
    files, port = tls_callback
    with Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server(
            "HOOK",
            "127.0.0.1",
            port,
            "https",
            ca_bundle=str(files["ca"]),
            client_cert=str(files["client"]),
        )
        reg.register_service("HOOK", "permission", "/allow")
        outcome = dispatcher(reg).permission(PERMISSION)
        assert (outcome.allowed, outcome.message) == (True, "welcome")


@pytest.mark.parametrize("missing", ["ca_bundle", "client_cert"])
def test_https_without_the_ca_or_the_client_certificate_fails_closed(
    sqlite_url: str, tls_callback: tuple[dict[str, Path], int], missing: str
) -> None:
    files, port = tls_callback
    tls = {"ca_bundle": str(files["ca"]), "client_cert": str(files["client"])}
    del tls[missing]
    with Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server("HOOK", "127.0.0.1", port, "https", **tls)
        reg.register_service("HOOK", "permission", "/allow")
        outcome = dispatcher(reg, permission={"retries": 0}).permission(PERMISSION)
        assert (outcome.allowed, outcome.failed) == (False, True)
        assert "connection failed" in (outcome.error or ""), outcome.error


@pytest.mark.parametrize(
    ("unusable", "named"), [("ca_bundle", "CA bundle"), ("client_cert", "client certificate")]
)
def test_a_tls_file_that_is_no_pem_is_named_not_shown(
    sqlite_url: str,
    tls_callback: tuple[dict[str, Path], int],
    tmp_path: Path,
    unusable: str,
    named: str,
) -> None:
    files, port = tls_callback
    garbage = tmp_path / "s3cret-name.pem"
    garbage.write_text("not a certificate")
    tls = {
        "ca_bundle": str(files["ca"]),
        "client_cert": str(files["client"]),
        unusable: str(garbage),
    }
    with Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server("HOOK", "127.0.0.1", port, "https", **tls)
        reg.register_service("HOOK", "permission", "/allow")
        outcome = dispatcher(reg, permission={"retries": 0}).permission(PERMISSION)
    assert (outcome.allowed, outcome.failed) == (False, True)
    assert f"its {named} is not usable: SSLError" in (outcome.error or ""), outcome.error
    assert "s3cret" not in (outcome.error or "")


# -- secrets, slow and oversized replies -----------------------------------------------------


def test_stored_params_never_reach_outcomes_or_logs(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with Registry(sqlite_url, cache_ttl=0) as reg:
        reg.register_server("HOOK", "127.0.0.1", 9)  # discard port: nothing listens
        reg.register_service("HOOK", "permission", "/allow?key=s3cret", params={"token": "s3cret"})
        for policy in ("deny", "allow"):
            d = dispatcher(reg, permission={"failure_policy": policy, "retries": 1})
            outcome = d.permission(PERMISSION)
            assert outcome.failed
            assert "s3cret" not in f"{outcome.message} {outcome.error}"
            assert "connection failed: ConnectionError: Connection refused" in (outcome.error or "")
            assert "(POST http://127.0.0.1:9/allow)" in (outcome.error or "")
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_a_trickling_reply_is_cut_at_the_deadline_and_frees_its_worker(
    registry: Registry, framing: str
) -> None:
    query = "?length=1" if framing == "length" else ""
    registry.register_service("HOOK", "permission", f"/trickle{query}")
    d = dispatcher(
        registry, max_workers=1, permission={"timeout": 0.5, "retries": 0, "cache": False}
    )
    started = time.monotonic()
    outcome = d.permission(PERMISSION)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + SLACK < TRICKLE_SECONDS, f"took {elapsed:.3f} s"
    assert (outcome.allowed, outcome.failed) == (False, True)
    registry.register_service("HOOK", "permission", "/allow")
    workers = d._workers["permission"]
    # the worker gives up at the deadline too, not when the trickle ends
    wait_until(lambda: workers.in_flight == 0, "the worker is free", within=SLACK)
    later = d.permission(PERMISSION)
    assert (later.allowed, later.failed) == (True, False), later.error
    d.close()


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_a_reply_over_the_size_cap_is_an_error_naming_the_cap(
    registry: Registry, framing: str
) -> None:
    query = "?length=1" if framing == "length" else ""
    registry.register_service("HOOK", "site_authentication", f"/oversized{query}")
    outcome = dispatcher(registry).site_authentication(SITE)
    assert (outcome.allowed, outcome.failed) == (False, True)
    assert "1048576-byte cap" in (outcome.error or "")


def test_replies_read_to_the_end_leave_the_connection_pooled(
    registry: Registry, callback: tuple[FastAPI, str, int]
) -> None:
    registry.register_service("HOOK", "permission", "/allow")
    d = dispatcher(registry, permission={"cache": False})
    d.permission(PERMISSION)
    d.permission(PERMISSION)
    first, second = callback[0].state.seen[-2:]
    assert first["client_port"] == second["client_port"]


# -- on the event loop ---------------------------------------------------------------------


def test_a_decision_on_an_event_loop_holds_no_worker_thread(registry: Registry) -> None:
    registry.register_service("HOOK", "permission", "/allow")
    d = dispatcher(registry, permission={"cache": False})
    outcome = asyncio.run(d.decide_async("permission", PERMISSION))
    assert (outcome.allowed, outcome.message) == (True, "welcome")
    assert d._workers["permission"]._threads == 0


def test_a_slow_database_does_not_hold_the_event_loop(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service is looked up in a thread when the registry's cache cannot answer (here
    never: cache_ttl=0), so a database that takes seconds to answer delays this decision,
    not everything else on the loop (the gateway's other requests, /healthz)."""
    registry.register_service("HOOK", "permission", "/allow")
    database = threading.Event()  # set: the database answers
    resolve = registry.resolve

    def slow_resolve(server_name: str, service_name: str) -> Any:
        database.wait(HANG)
        return resolve(server_name, service_name)

    monkeypatch.setattr(registry, "resolve", slow_resolve)
    d = dispatcher(registry, permission={"cache": False, "timeout": HANG})

    async def meanwhile() -> tuple[float, Any]:
        decision = asyncio.create_task(d.decide_async("permission", PERMISSION))
        await asyncio.sleep(0)  # the decision starts and waits on the database
        started = time.monotonic()
        await asyncio.sleep(0.05)  # any other work of the loop
        lag = time.monotonic() - started
        database.set()
        return lag, await decision

    lag, outcome = asyncio.run(meanwhile())
    assert outcome.allowed, outcome.error
    assert lag < SLACK, f"the loop was held {lag:.2f} s"


def test_a_loops_connections_are_closed_with_it(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.register_service("HOOK", "permission", "/allow")
    d = dispatcher(registry, permission={"cache": False})
    assert asyncio.run(d.decide_async("permission", PERMISSION)).allowed  # asyncio.run's loop
    assert d.permission(PERMISSION).allowed  # the dispatcher's loop thread
    loop = d._loop._loop
    assert loop is not None and loop in async_client._sessions
    d.close()
    assert loop not in async_client._sessions
    gc.collect()
    assert "Unclosed" not in caplog.text


def _established_to(port: int) -> bool:
    """Whether a TCP connection to local ``port`` is open on this host (Linux's table)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                if int(local.rsplit(":", 1)[1], 16) == port and state == "01":
                    return True
    return False


def test_a_pooled_connection_the_service_closed_is_not_used_again(sqlite_url: str) -> None:
    """uvicorn closes a kept-alive connection after 1 s idle here (5 s by default): the next
    decision connects anew, with no retry to spend on it."""
    app = callback_app()
    with serve(app, timeout_keep_alive=1) as (host, port), Registry(sqlite_url) as reg:
        reg.register_server("HOOK", host, port)
        reg.register_service("HOOK", "permission", "/allow")
        d = dispatcher(reg, permission={"cache": False, "retries": 0})
        assert d.permission(PERMISSION).allowed
        wait_until(lambda: not _established_to(port), "the service closed the idle connection")
        outcome = d.permission(PERMISSION)
        d.close()
    assert (outcome.allowed, outcome.failed) == (True, False), outcome.error
    first, second = app.state.seen[-2:]
    assert first["client_port"] != second["client_port"]
