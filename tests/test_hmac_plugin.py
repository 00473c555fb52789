"""The hmac plugin: FATE's HMAC-SHA1 client signature, checked against fate_client 1.11.3's own
signing code; tampering, clocks, replays (across processes too), rotation, the auth class."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fate_client_support import (
    as_fate_flow_forwards,
    flow_sdk_base,
    signed_by_fate_client,
)

from fate_registry import Registry, Settings
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import build_plugin_manager
from fate_registry_hmac import HmacAuth

APP_KEY, SECRET = "fate-flow-client", "a-secret-of-the-client"
KEYS = {APP_KEY: [SECRET], "other-app": ["old-secret", "new-secret"]}


def hooks_for(db_url: str, **hmac: Any) -> tuple[Registry, Dispatcher]:
    settings = Settings(db_url=db_url, hmac={"app_keys": KEYS, **hmac})
    registry = Registry(db_url, settings=settings, cache_ttl=0)
    plugins = build_plugin_manager(load={"hmac"})
    return registry, Dispatcher(registry, plugins=plugins)


@pytest.fixture
def hooks(sqlite_url: str) -> Iterator[Dispatcher]:
    registry, dispatcher = hooks_for(sqlite_url)
    yield dispatcher
    dispatcher.close()
    registry.close()


def fate_request(
    app_key: str = APP_KEY, secret: str = SECRET, method: str = "POST", **kwargs: Any
) -> dict[str, Any]:
    url = kwargs.pop("url", "job/submit")
    return as_fate_flow_forwards(signed_by_fate_client(app_key, secret, method, url, **kwargs))


def test_fate_clients_json_request_is_allowed(hooks: Dispatcher) -> None:
    outcome = hooks.client_authentication(fate_request(json={"job_id": "202401011200", "n": 1}))
    assert (outcome.allowed, outcome.plugin) == (True, "hmac"), outcome.message


def test_fate_clients_form_and_query_request_is_allowed(hooks: Dispatcher) -> None:
    request = fate_request(url="data/upload?drop=1&x=a b", data={"b": "2 3", "a": "é~"})
    assert request["form"] and "?" in request["full_path"]
    assert hooks.client_authentication(request).allowed


def test_fate_clients_get_without_query_or_body_is_allowed(hooks: Dispatcher) -> None:
    request = fate_request(method="GET", url="version/get")
    assert request["full_path"].endswith("?")  # flask's full_path: the bare '?' is not signed
    assert hooks.client_authentication(request).allowed


def test_an_empty_json_body_is_not_signed_as_fate_does(hooks: Dispatcher) -> None:
    assert hooks.client_authentication(fate_request(json={})).allowed


def test_each_secret_of_a_rotating_app_key_is_accepted(hooks: Dispatcher) -> None:
    for secret in ("old-secret", "new-secret"):
        request = fate_request("other-app", secret, json={"a": 1})
        assert hooks.client_authentication(request).allowed


def _tampered(part: str) -> dict[str, Any]:
    request = fate_request(url="job/submit?role=guest", json={"job": "j1"}, data=None)
    if part == "path":
        request["full_path"] = request["full_path"].replace("submit", "stop")
    elif part == "query":
        request["full_path"] = request["full_path"].replace("guest", "host")
    elif part == "body":
        request["data"], request["json"] = '{"job": "j2"}', {"job": "j2"}
    elif part == "form":
        request["form"] = {"extra": "1"}
    elif part == "timestamp":
        request["headers"]["TIMESTAMP"] = str(int(request["headers"]["TIMESTAMP"]) + 1)
    elif part == "nonce":
        request["headers"]["NONCE"] += "x"
    elif part == "signature":
        request["headers"]["SIGNATURE"] = "A" + request["headers"]["SIGNATURE"][1:]
    elif part == "app key":
        request["headers"]["APP_KEY"] = "other-app"
    return request


@pytest.mark.parametrize(
    "part", ["path", "query", "body", "form", "timestamp", "nonce", "signature", "app key"]
)
def test_changing_any_part_is_refused_saying_what_to_sign(hooks: Dispatcher, part: str) -> None:
    outcome = hooks.client_authentication(_tampered(part))
    assert (outcome.allowed, outcome.code, outcome.plugin) == (False, 109, "hmac")
    assert outcome.message.startswith("SIGNATURE does not match the request")
    assert SECRET not in outcome.message


def test_the_message_shows_the_path_and_sizes_that_were_signed(hooks: Dispatcher) -> None:
    outcome = hooks.client_authentication(_tampered("path"))
    assert "the path with its query ('/v1/job/stop?role=guest')" in outcome.message
    assert "the JSON body (13 bytes)" in outcome.message  # {"job": "j1"}


def test_an_unknown_app_key_is_refused_without_listing_the_known_ones(hooks: Dispatcher) -> None:
    request = fate_request("intruder", "guess", json={"a": 1})
    outcome = hooks.client_authentication(request)
    assert (outcome.allowed, outcome.message) == (False, "APP_KEY is not known here")


@pytest.mark.parametrize("missing", ["TIMESTAMP", "NONCE", "APP_KEY", "SIGNATURE"])
def test_a_missing_header_is_named(hooks: Dispatcher, missing: str) -> None:
    request = fate_request(json={"a": 1})
    del request["headers"][missing]
    outcome = hooks.client_authentication(request)
    assert not outcome.allowed
    assert outcome.message.startswith(f"missing header(s) {missing}:")


def test_headers_are_found_whatever_their_case(hooks: Dispatcher) -> None:
    request = fate_request(json={"a": 1})
    request["headers"] = {k.lower(): v for k, v in request["headers"].items()}
    assert hooks.client_authentication(request).allowed


@pytest.mark.parametrize(("offset", "side"), [(-61, "behind"), (+61, "ahead of")])
def test_stale_and_future_timestamps_are_refused(
    hooks: Dispatcher, monkeypatch: pytest.MonkeyPatch, offset: int, side: str
) -> None:
    base = flow_sdk_base()  # fate_client reads its clock as `base.time()`
    monkeypatch.setattr(base, "time", lambda: time.time() + offset)  # the client's clock is off
    request = fate_request(json={"a": 1})
    outcome = hooks.client_authentication(request)
    assert not outcome.allowed
    assert f"s {side} this server's clock (at most 60 s allowed)" in outcome.message


def test_a_timestamp_that_is_not_an_integer_is_refused(hooks: Dispatcher) -> None:
    request = fate_request(json={"a": 1})
    request["headers"]["TIMESTAMP"] = "yesterday"
    assert "milliseconds since the epoch" in hooks.client_authentication(request).message


def test_a_replay_is_refused(hooks: Dispatcher) -> None:
    request = fate_request(json={"a": 1})
    assert hooks.client_authentication(request).allowed
    outcome = hooks.client_authentication(request)
    assert (outcome.allowed, outcome.code) == (False, 109)
    assert outcome.message.startswith("NONCE was already used")


def test_a_refused_request_does_not_burn_its_nonce(hooks: Dispatcher) -> None:
    request = fate_request(json={"a": 1})
    forged = {**request, "headers": {**request["headers"], "SIGNATURE": "forged"}}
    assert not hooks.client_authentication(forged).allowed
    assert hooks.client_authentication(request).allowed


def test_the_memory_store_refuses_replays_in_this_process(sqlite_url: str) -> None:
    registry, hooks = hooks_for(sqlite_url, nonce_store="memory")
    with registry:
        request = fate_request(json={"a": 1})
        assert hooks.client_authentication(request).allowed
        assert not hooks.client_authentication(request).allowed
        assert registry.nonces.store.purge(2**62) == 0  # nothing was written
        hooks.close()


def test_without_app_keys_the_plugin_has_no_opinion(sqlite_url: str) -> None:
    with Registry(sqlite_url, cache_ttl=0) as registry:
        hooks = Dispatcher(registry, plugins=build_plugin_manager(load={"hmac"}))
        outcome = hooks.client_authentication(fate_request(json={"a": 1}))
        assert (outcome.plugin, outcome.allowed) == (None, False)
        assert "no plugin had an opinion" in outcome.message
        hooks.close()


def _replay_elsewhere(db_url: str, request: dict[str, Any]) -> tuple[bool, str]:
    registry, hooks = hooks_for(db_url)
    with registry:
        outcome = hooks.client_authentication(request)
        hooks.close()
        return outcome.allowed, outcome.message


@pytest.mark.db
def test_a_replay_to_another_process_sharing_the_database_is_refused(db_url: str) -> None:
    registry, hooks = hooks_for(db_url)
    with registry:
        request = fate_request(json={"job": "j1"})
        assert hooks.client_authentication(request).allowed
        hooks.close()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        allowed, message = pool.apply(_replay_elsewhere, (db_url, request))
    assert not allowed
    assert message.startswith("NONCE was already used")


def test_hmac_auth_signs_as_fate_client_does(hooks: Dispatcher) -> None:
    for kwargs in ({"json": {"a": [1, 2]}}, {"data": {"k": "v w", "a": "1"}}, {}):
        prepared = requests.Request(
            "POST", "http://127.0.0.1/v1/job/submit?x=1", auth=HmacAuth(APP_KEY, SECRET), **kwargs
        ).prepare()
        assert hooks.client_authentication(as_fate_flow_forwards(prepared)).allowed, kwargs


def test_hmac_auth_keeps_its_secret_out_of_its_repr() -> None:
    assert SECRET not in repr(HmacAuth(APP_KEY, SECRET))
