"""Stored secrets never reach a reader who should not see them: HTTP replies (every stored value
hidden from a reader without a token once tokens are set), the command line's listings, the
dispatcher's debug log. One masking module does it; ``export`` still writes the real values."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from http_support import client_for
from typer.testing import CliRunner

from fate_registry import Registry
from fate_registry.cli import app
from fate_registry.masking import MASK, mask_secrets

TOKEN = "masking-test-token-long-enough"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Secrets under names the first keyword list missed, and values under innocent names.
SERVICE: dict[str, Any] = {
    "server_name": "s",
    "service_name": "permission",
    "uri": "/p?tenant=t-plain&token=tok-in-uri",
    "params": {"passphrase": "pp-s3cret", "region": "r-plain"},
    "data": {"db_pass": "db-s3cret", "jwt": "jwt-s3cret", "nested": {"party": "n-plain"}},
    "headers": {"X-Bearer": "bearer-s3cret", "X-Api-Key": "key-s3cret", "X-Trace": "h-plain"},
}
SECRETS = ("tok-in-uri", "pp-s3cret", "db-s3cret", "jwt-s3cret", "bearer-s3cret", "key-s3cret")
PLAIN = ("t-plain", "r-plain", "n-plain", "h-plain")


def _registered(registry: Registry) -> None:
    registry.register_server("s", "10.0.0.5", 8080)
    fields = {k: v for k, v in SERVICE.items() if k not in ("server_name", "service_name")}
    registry.register_service("s", "permission", **fields)


def _reads(client: Any, headers: dict[str, str]) -> list[Any]:
    return [
        client.get(
            "/v2/server/service/query",
            params={"server_name": "s", "service_name": "permission"},
            headers=headers,
        ),
        client.post("/v1/service/query", json={"service_name": "permission"}, headers=headers),
    ]


def test_with_tokens_a_reader_without_one_sees_no_stored_value(sqlite_url):
    with client_for(sqlite_url, admin_tokens=[TOKEN]) as (client, registry):
        _registered(registry)
        v2, v1 = _reads(client, {})
        for reply in (v2, v1):
            assert reply.status_code == 200
            for value in (*SECRETS, *PLAIN):
                assert value not in reply.text
        shown = v2.json()["data"]
        assert shown["params"] == {"passphrase": MASK, "region": MASK}
        assert shown["data"] == {"db_pass": MASK, "jwt": MASK, "nested": MASK}
        assert set(shown["headers"].values()) == {MASK}
        assert shown["uri"] == f"/p?tenant={MASK}&token={MASK}"
        assert shown["url"] == f"http://10.0.0.5:8080/p?tenant={MASK}&token={MASK}"
        row = v1.json()["data"]["service_info"][0]
        assert row["f_params"] == row["params"] and row["f_url"] == row["url"]


def test_with_tokens_a_reader_with_one_sees_all_but_secret_looking_values(sqlite_url):
    with client_for(sqlite_url, admin_tokens=[TOKEN]) as (client, registry):
        _registered(registry)
        for reply in _reads(client, AUTH):
            for value in SECRETS:
                assert value not in reply.text
            for value in PLAIN:
                assert value in reply.text


def test_without_tokens_the_wider_keyword_list_is_masked(sqlite_url):
    with client_for(sqlite_url) as (client, registry):
        _registered(registry)
        v2, v1 = _reads(client, {})
        for reply in (v2, v1):
            for value in SECRETS:
                assert value not in reply.text
            for value in PLAIN:
                assert value in reply.text
        shown = v2.json()["data"]
        assert shown["params"] == {"passphrase": MASK, "region": "r-plain"}
        assert shown["headers"]["X-Bearer"] == MASK
        assert shown["uri"] == f"/p?tenant=t-plain&token={MASK}"


def test_a_registration_reply_is_masked_like_a_read(sqlite_url):
    with client_for(sqlite_url, admin_tokens=[TOKEN]) as (client, registry):
        registry.register_server("s", "10.0.0.5", 8080)
        for path in ("/v1/service/registry", "/v2/server/service/registry"):
            reply = client.post(path, json=SERVICE, headers=AUTH)
            assert reply.status_code == 200, reply.text
            for value in SECRETS:
                assert value not in reply.text
        assert registry.resolve("s", "permission").headers["X-Api-Key"] == "key-s3cret"


def test_the_dispatchers_debug_log_masks_the_same_names(caplog: pytest.LogCaptureFixture):
    from fate_registry.dispatch import Dispatcher
    from fate_registry.plugins import build_plugin_manager

    caplog.set_level(logging.DEBUG, logger="fate_registry.decisions")
    d = Dispatcher(plugins=build_plugin_manager(load=set(), entry_points=[]))
    headers = {"X-Passphrase": "pp-s3cret", "JWT": "jwt-s3cret", "TRACE": "h-plain"}
    d.client_authentication({"full_path": "/x", "headers": headers})
    assert "h-plain" in caplog.text
    assert "pp-s3cret" not in caplog.text and "jwt-s3cret" not in caplog.text


def test_mask_secrets_hides_secret_looking_names_at_any_depth() -> None:
    masked = mask_secrets(
        {"body": {"site_signature": "x", "token": "t", "name": "n"}, "list": [{"Key": 1}]}
    )
    assert masked == {
        "body": {"site_signature": MASK, "token": MASK, "name": "n"},
        "list": [{"Key": MASK}],
    }


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("passphrase", True),
        ("DB_PASS", True),
        ("jwt", True),
        ("X-Bearer", True),
        ("X-Sig", True),
        ("sig", True),
        ("webhook-signature", True),
        ("private_key", True),
        ("signers", False),
        ("party_id", False),
        ("tenant", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert (mask_secrets({name: "v"}) == {name: MASK}) is secret


# -- the command line ------------------------------------------------------------------------


def test_the_command_line_masks_listings_but_export_keeps_the_values(sqlite_url):
    with Registry(sqlite_url) as registry:
        _registered(registry)

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["--db", sqlite_url, *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    listings = {
        " ".join(args): run(*args)
        for args in (
            ("service", "list"),
            ("service", "list", "--json"),
            ("service", "show", "s", "permission"),
            ("service", "show", "s", "permission", "--json"),
            ("server", "show", "s"),
            ("server", "show", "s", "--json"),
        )
    }
    fields = ["--uri", SERVICE["uri"], "--headers", json.dumps(SERVICE["headers"])]
    listings["service register"] = run("service", "register", "s", "permission", *fields)
    for command, output in listings.items():
        for value in SECRETS:
            assert value not in output, f"{command} printed {value}"
    shown = json.loads(listings["service show s permission --json"])
    assert shown["headers"]["X-Trace"] == "h-plain"
    assert shown["url"] == f"http://10.0.0.5:8080/p?tenant=t-plain&token={MASK}"
    exported = run("export", "--format", "json")
    assert "tok-in-uri" in exported and "key-s3cret" in exported
