"""The hmac plugin and FATE Flow 2.x's client signature (appId, userName, Timestamp, Nonce,
Signature: MD5 over them and the app's token), checked against fate_client 2.2.0's own signing
code, with the app keys, clock window and replay memory of FATE 1.x's HMAC scheme."""

from __future__ import annotations

import time
import types
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from fate_client_support import fate_client_2
from test_hmac_plugin import APP_KEY, SECRET, fate_request, hooks_for

from fate_registry.dispatch import Dispatcher
from fate_registry.fate2 import ClientAuthentication2
from fate_registry_hmac.fate2 import sign


@pytest.fixture
def hooks(sqlite_url: str) -> Iterator[Dispatcher]:
    registry, dispatcher = hooks_for(sqlite_url)
    yield dispatcher
    dispatcher.close()
    registry.close()


def signed_by_fate_client_2(
    app_id: str = APP_KEY, token: str = SECRET, user_name: str = "", **kwargs: Any
) -> requests.PreparedRequest:
    """The request fate_client 2.2.0's ``FlowClient`` signs and would send (captured)."""
    client = fate_client_2().FlowClient(
        "127.0.0.1", 9380, "v2", app_id=app_id, app_token=token, user_name=user_name
    )
    sent: list[requests.PreparedRequest] = []
    client._http.send = lambda prepared, **_: sent.append(prepared) or {}
    client.job.submit(kwargs.get("dag_schema", {"dag": {}, "schema_version": "2.2.0"}))
    return sent[0]


def as_fate_flow_2_forwards(prepared: requests.PreparedRequest) -> dict[str, Any]:
    """The client_authentication request plugins get from FATE Flow 2.x, through
    contrib/fate-flow-hooks and the gateway's /v2/hook mapping."""
    parts = urlsplit(prepared.url or "")
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    sent = {
        "path": parts.path,
        "method": prepared.method,
        "headers": dict(prepared.headers),
        "form": {},
        "data": body.decode(),
        "json": requests.models.complexjson.loads(body) if body else None,
        "full_path": f"{parts.path}?{parts.query}",
    }
    return ClientAuthentication2.model_validate(sent).contract().model_dump(by_alias=True)


def fate2_request(**kwargs: Any) -> dict[str, Any]:
    return as_fate_flow_2_forwards(signed_by_fate_client_2(**kwargs))


def test_fate_client_2s_signed_request_is_allowed(hooks: Dispatcher) -> None:
    request = fate2_request()
    assert {"appid", "nonce", "timestamp", "signature"} <= set(request["headers"])  # as sent on
    outcome = hooks.client_authentication(request)
    assert (outcome.allowed, outcome.plugin) == (True, "hmac"), outcome.message
    assert outcome.message == f"signed with appId {APP_KEY} (FATE Flow 2.x)"


def test_a_user_name_is_signed_too(hooks: Dispatcher) -> None:
    request = fate2_request(user_name="alice")
    assert hooks.client_authentication(request).allowed
    request["headers"]["username"] = "mallory"
    outcome = hooks.client_authentication(request)
    assert not outcome.allowed and outcome.message.startswith("Signature does not match")


def test_each_token_of_a_rotating_app_is_accepted(hooks: Dispatcher) -> None:
    for token in ("old-secret", "new-secret"):
        assert hooks.client_authentication(fate2_request(app_id="other-app", token=token)).allowed


@pytest.mark.parametrize("part", ["appId", "Timestamp", "Nonce", "Signature"])
def test_changing_a_signed_header_is_refused_without_telling_the_token(
    hooks: Dispatcher, part: str
) -> None:
    request = fate2_request()
    headers, name = request["headers"], part.lower()  # the gateway sends names lower-cased
    if part == "appId":
        headers[name] = "other-app"
    elif part == "Timestamp":
        headers[name] = str(int(headers[name]) + 1)
    else:  # another digit first
        headers[name] = str((int(headers[name][0], 16) + 1) % 10) + headers[name][1:]
    outcome = hooks.client_authentication(request)
    assert (outcome.allowed, outcome.code) == (False, 109)
    assert outcome.message.startswith("Signature does not match")
    assert SECRET not in outcome.message


def test_an_unknown_app_is_refused(hooks: Dispatcher) -> None:
    outcome = hooks.client_authentication(fate2_request(app_id="intruder", token="guess"))
    assert (outcome.allowed, outcome.message) == (False, "appId is not known here")


@pytest.mark.parametrize("missing", ["Timestamp", "Nonce", "Signature"])
def test_a_missing_header_is_named(hooks: Dispatcher, missing: str) -> None:
    request = fate2_request()
    del request["headers"][missing.lower()]
    outcome = hooks.client_authentication(request)
    assert not outcome.allowed
    assert outcome.message.startswith(f"missing header(s) {missing}:")


@pytest.mark.parametrize(("offset", "side"), [(-61, "behind"), (+61, "ahead of")])
def test_stale_and_future_timestamps_are_refused(
    hooks: Dispatcher, monkeypatch: pytest.MonkeyPatch, offset: int, side: str
) -> None:
    from fate_client.flow_sdk.utils import base_utils

    # fate_client reads its clock as `time.time()` of its module: only its clock is off
    skewed = types.SimpleNamespace(time=lambda: time.time() + offset)
    fate_client_2()
    monkeypatch.setattr(base_utils, "time", skewed)
    outcome = hooks.client_authentication(fate2_request())
    assert not outcome.allowed
    assert "Timestamp is 6" in outcome.message and side in outcome.message


def test_a_replay_is_refused(hooks: Dispatcher) -> None:
    request = fate2_request()
    assert hooks.client_authentication(request).allowed
    again = hooks.client_authentication(request)
    assert (again.allowed, again.code) == (False, 109)
    assert "already used" in again.message


def test_the_same_nonce_at_another_timestamp_is_no_replay(hooks: Dispatcher) -> None:
    """fate_client 2.x's nonce has 4 digits: it is remembered with its timestamp."""
    now = str(int(time.time()) * 1000)
    later = str(int(now) + 1000)
    for timestamp in (now, later):
        headers = {
            "appId": APP_KEY,
            "userName": "",
            "Timestamp": timestamp,
            "Nonce": "4242",
            "Signature": sign(APP_KEY, "", "4242", timestamp, SECRET),
        }
        request = {**fate2_request(), "headers": headers}
        assert hooks.client_authentication(request).allowed, timestamp


def test_a_request_with_the_1x_headers_is_checked_as_1x(hooks: Dispatcher) -> None:
    request = fate_request(json={"a": 1})
    request["headers"]["appId"] = APP_KEY  # 2.x's header beside 1.x's: APP_KEY decides
    assert hooks.client_authentication(request).message == f"signed with APP_KEY {APP_KEY}"


def test_a_request_with_neither_schemes_headers_names_both(hooks: Dispatcher) -> None:
    request = {**fate2_request(), "headers": {"Content-Type": "application/json"}}
    outcome = hooks.client_authentication(request)
    assert not outcome.allowed
    assert "APP_KEY" in outcome.message and "appId" in outcome.message
