"""The rsa plugin against FATE Flow 1.11's way of signing (PKCS#1 v1.5 over SHA-256 of
``json.dumps(body)``, here a signer we wrote with pycryptodome as FATE Flow uses it), both ways,
and the opt-in v2 scheme: tampering, wrong parties and keys, clocks, replays, destinations."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import PKCS1_v1_5

from fate_registry import InvalidRegistration, Registry, Settings
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import build_plugin_manager
from fate_registry_rsa.schemes import sign_v2

LOCAL, PEER = "9999", "10000"
BODY = {"job_id": "202401011200000000", "role": "host", "party_id": 10000, "conf": {"a": [1, 2]}}


class FateSite:
    """Another site, signing and verifying as FATE Flow 1.11 does (pycryptodome)."""

    def __init__(self) -> None:
        self.key = RSA.generate(2048)

    @property
    def public_pem(self) -> str:
        return self.key.public_key().export_key().decode()

    def sign(self, body: dict[str, Any]) -> str:
        digest = SHA256.new(json.dumps(body).encode())
        return base64.b64encode(PKCS1_v1_5.new(self.key).sign(digest)).decode()

    @staticmethod
    def verify(public_pem: str, body: dict[str, Any], signature: str) -> bool:
        verifier = PKCS1_v1_5.new(RSA.import_key(public_pem))
        return bool(
            verifier.verify(SHA256.new(json.dumps(body).encode()), base64.b64decode(signature))
        )


@pytest.fixture(scope="module")
def peer() -> FateSite:
    return FateSite()


def make_hooks(db_url: str, **rsa: Any) -> tuple[Registry, Dispatcher]:
    settings = Settings(
        db_url=db_url,
        rsa={"enabled": True, "party_id": LOCAL, "key_passphrase": "a-test-passphrase", **rsa},
        hooks={"site_authentication": {"cache": False}},
    )
    registry = Registry(db_url, settings=settings, cache_ttl=0)
    return registry, Dispatcher(registry, plugins=build_plugin_manager(load={"rsa"}))


@pytest.fixture
def site(sqlite_url: str, peer: FateSite) -> Iterator[tuple[Registry, Dispatcher]]:
    registry, hooks = make_hooks(sqlite_url)
    registry.keys.generate(LOCAL)
    registry.keys.import_public(PEER, peer.public_pem)
    yield registry, hooks
    hooks.close()
    registry.close()


def verify(hooks: Dispatcher, src: str, signature: str | None, body: dict[str, Any] = BODY) -> Any:
    return hooks.site_authentication(
        {"src_party_id": src, "site_signature": signature, "body": body}
    )


# -- v1: FATE Flow's scheme ---------------------------------------------------------------------


def test_a_signature_made_as_fate_flow_makes_it_verifies_here(site: Any, peer: FateSite) -> None:
    outcome = verify(site[1], PEER, peer.sign(BODY))
    assert (outcome.allowed, outcome.plugin) == (True, "rsa"), outcome.message


def test_our_signature_verifies_as_fate_flow_verifies(site: Any) -> None:
    registry, hooks = site
    outcome = hooks.signature({"party_id": LOCAL, "body": BODY})
    assert outcome.allowed and outcome.signature
    assert FateSite.verify(registry.keys.public_pem(LOCAL), BODY, outcome.signature)


def test_party_id_0_means_this_party(site: Any) -> None:
    _, hooks = site
    signed = hooks.signature({"party_id": LOCAL, "body": BODY}).signature
    assert verify(hooks, "0", signed).allowed


def test_a_party_id_is_one_party_however_it_is_written(sqlite_url: str, peer: FateSite) -> None:
    """Stored and looked up in the canonical form: 010000 and 10000 are one party's key."""
    registry, hooks = make_hooks(sqlite_url)
    with registry:
        registry.keys.import_public(" 010000", peer.public_pem)
        assert [(key.party_id, key.kind) for key in registry.keys.list()] == [("10000", "public")]
        for src in ("10000", "010000", 10000):
            assert verify(hooks, src, peer.sign(BODY)).allowed, src
        refused = verify(hooks, "\uff11\uff10\uff10\uff10\uff10", peer.sign(BODY))
        assert (refused.allowed, refused.code) == (False, 109)
        with pytest.raises(InvalidRegistration, match="party_id: 'alice' is not a party id"):
            registry.keys.import_public("alice", peer.public_pem)
        hooks.close()


def test_a_tampered_body_is_refused(site: Any, peer: FateSite) -> None:
    outcome = verify(site[1], PEER, peer.sign(BODY), {**BODY, "role": "guest"})
    assert (outcome.allowed, outcome.code) == (False, 109)
    assert "does not verify with the public key of party 10000" in outcome.message


def test_another_partys_signature_is_refused(site: Any) -> None:
    _, hooks = site
    ours = hooks.signature({"party_id": LOCAL, "body": BODY}).signature
    assert not verify(hooks, PEER, ours).allowed  # signed by 9999, claimed as 10000


def test_a_signature_by_an_unknown_key_is_refused(site: Any) -> None:
    outcome = verify(site[1], PEER, FateSite().sign(BODY))
    assert not outcome.allowed


def test_a_party_without_a_public_key_is_refused_naming_the_command(site: Any) -> None:
    outcome = verify(site[1], "10001", FateSite().sign(BODY))
    assert not outcome.allowed
    assert outcome.message == (
        "party 10001 has no public key here: save it (`flow key save`, or POST /v1/key/public/save)"
    )


def test_a_signature_that_is_not_base64_is_refused(site: Any) -> None:
    assert not verify(site[1], PEER, "not base64!").allowed


def test_signing_for_a_party_without_a_private_key_is_refused(site: Any) -> None:
    outcome = site[1].signature({"party_id": PEER, "body": BODY})
    assert (outcome.allowed, outcome.signature) == (False, None)
    assert "has no private key here: generate one (reg.keys.generate('10000'))" in outcome.message


def test_the_private_key_never_reaches_replies_or_logs(
    site: Any, caplog: pytest.LogCaptureFixture
) -> None:
    registry, hooks = site
    with caplog.at_level(logging.DEBUG):
        outcome = hooks.signature({"party_id": LOCAL, "body": BODY})
        listing = [info.as_dict() for info in registry.keys.list()]
    text = caplog.text + repr(outcome) + repr(listing)
    assert "PRIVATE KEY" not in text
    assert (
        registry.keys.private_key(LOCAL).private_numbers().d.to_bytes(256, "big").hex()[:32]
        not in text
    )


def test_when_disabled_the_plugin_has_no_opinion(sqlite_url: str, peer: FateSite) -> None:
    registry, hooks = make_hooks(sqlite_url, enabled=False)
    with registry:
        outcome = verify(hooks, PEER, peer.sign(BODY))
        assert (outcome.plugin, outcome.allowed) == (None, False)
        hooks.close()


# -- v2: the stronger scheme -------------------------------------------------------------------


@pytest.fixture
def v2_sites(sqlite_url: str, tmp_path: Any) -> Iterator[tuple[Dispatcher, Dispatcher]]:
    """Two sites on their own databases: 10000 signs with v2, 9999 verifies."""
    signer_reg, signer = make_hooks(f"sqlite:///{tmp_path / 'peer.db'}", party_id=PEER, scheme="v2")
    verifier_reg, verifier = make_hooks(sqlite_url)
    signer_reg.keys.generate(PEER)
    verifier_reg.keys.import_public(PEER, signer_reg.keys.public_pem(PEER))
    yield signer, verifier
    for hooks, registry in ((signer, signer_reg), (verifier, verifier_reg)):
        hooks.close()
        registry.close()


def test_a_v2_signature_verifies_once(v2_sites: tuple[Dispatcher, Dispatcher]) -> None:
    signer, verifier = v2_sites
    signed = signer.signature({"party_id": PEER, "body": BODY}).signature
    assert signed is not None and signed.startswith("v2:")
    assert verify(verifier, PEER, signed).allowed
    replay = verify(verifier, PEER, signed)
    assert not replay.allowed
    assert "already used" in replay.message


def test_a_v2_signature_covers_the_body_in_any_key_order(
    v2_sites: tuple[Dispatcher, Dispatcher],
) -> None:
    signer, verifier = v2_sites
    signed = signer.signature({"party_id": PEER, "body": BODY}).signature
    reordered = dict(reversed(list(BODY.items())))
    assert verify(verifier, PEER, signed, reordered).allowed
    signed = signer.signature({"party_id": PEER, "body": BODY}).signature
    assert not verify(verifier, PEER, signed, {**BODY, "role": "guest"}).allowed


def test_a_v2_signature_of_another_party_is_refused(
    v2_sites: tuple[Dispatcher, Dispatcher],
) -> None:
    signer, verifier = v2_sites
    signed = signer.signature({"party_id": PEER, "body": BODY}).signature
    assert not verify(verifier, "10001", signed).allowed


def test_a_stale_v2_signature_is_refused(site: Any) -> None:
    registry, hooks = site
    old = sign_v2(registry.keys.private_key(LOCAL), LOCAL, "*", BODY, time.time() - 120)
    outcome = verify(hooks, LOCAL, old)
    assert "s behind this server's clock (at most 60 s allowed)" in outcome.message


def test_a_v2_signature_for_another_destination_is_refused(site: Any) -> None:
    registry, hooks = site
    token = sign_v2(registry.keys.private_key(LOCAL), LOCAL, "10001", BODY, time.time())
    outcome = verify(hooks, LOCAL, token)
    assert outcome.message == "site signature is for party 10001, not this party"
    token = sign_v2(registry.keys.private_key(LOCAL), LOCAL, LOCAL, BODY, time.time())
    assert verify(hooks, LOCAL, token).allowed


def test_the_destination_comes_from_the_request(sqlite_url: str) -> None:
    registry, hooks = make_hooks(sqlite_url, scheme="v2")
    with registry:
        registry.keys.generate(LOCAL)
        signed = hooks.signature({"party_id": LOCAL, "body": BODY, "dest_party_id": PEER})
        assert signed.signature is not None
        hooks.close()


def test_accepted_schemes_are_configurable(sqlite_url: str, peer: FateSite) -> None:
    registry, hooks = make_hooks(sqlite_url, accept=["v2"])
    with registry:
        registry.keys.import_public(PEER, peer.public_pem)
        outcome = verify(hooks, PEER, peer.sign(BODY))
        assert outcome.message == "v1 (FATE) site signatures are not accepted here: sign with v2"
        hooks.close()
    registry, hooks = make_hooks(sqlite_url, accept=["v1"])
    with registry:
        registry.keys.generate(LOCAL)
        token = sign_v2(registry.keys.private_key(LOCAL), LOCAL, "*", BODY, time.time())
        assert "v2 site signatures are not accepted here" in verify(hooks, LOCAL, token).message
        hooks.close()


@pytest.mark.parametrize("token", ["v2:", "v2:1:n:*:", "v2:x:n:*:AAAA", "v2:1::*:AAAA"])
def test_a_malformed_v2_signature_is_refused(site: Any, token: str) -> None:
    assert verify(site[1], LOCAL, token).message.startswith("malformed v2 site signature")
