"""The rsa plugin signs and verifies FATE Flow 2.x's requests as the gateway's /v2/hook maps
them: the signer is this site, v1 signs the same bytes as for 1.x, and v2 binds the destination
2.x passes (1.x passes none)."""

from __future__ import annotations

from typing import Any

from test_rsa_plugin import BODY, LOCAL, PEER, FateSite, peer, site, v2_sites  # noqa: F401

from fate_registry.dispatch import Dispatcher
from fate_registry.fate2 import Signature2, SiteAuthentication2


def signature_asked_by_2x(src: str, dest: str) -> Any:
    return Signature2.model_validate(
        {"party_id": dest, "initiator_party_id": src, "body": BODY, "src_party_id": src}
    ).contract()


def verification_asked_by_2x(src: str, signature: str, body: Any = BODY) -> Any:
    headers = {"src-party-id": src, "site-signature": signature, "initiator-party-id": src}
    return SiteAuthentication2.model_validate(
        {
            "path": "/v2/partner/job/create",
            "method": "POST",
            "headers": headers,
            "json": body,
            "full_path": "/v2/partner/job/create?",
        }
    ).contract()


def test_a_2x_signature_is_fates_v1_signature_of_the_body(site: Any) -> None:  # noqa: F811
    registry, hooks = site
    signed = hooks.signature(signature_asked_by_2x(LOCAL, PEER))
    assert signed.allowed, signed.message
    assert FateSite.verify(registry.keys.public_pem(LOCAL), BODY, signed.signature)
    as_1x = hooks.signature({"party_id": LOCAL, "body": BODY}).signature
    assert signed.signature == as_1x  # PKCS#1 v1.5 is deterministic: the same bytes signed


def test_a_2x_request_signed_as_fate_signs_verifies(site: Any, peer: FateSite) -> None:  # noqa: F811
    outcome = site[1].site_authentication(verification_asked_by_2x(PEER, peer.sign(BODY)))
    assert (outcome.allowed, outcome.plugin) == (True, "rsa"), outcome.message
    tampered = verification_asked_by_2x(PEER, peer.sign(BODY), {**BODY, "role": "guest"})
    assert not site[1].site_authentication(tampered).allowed


def test_a_v2_signature_of_2x_is_for_its_destination(
    v2_sites: tuple[Dispatcher, Dispatcher],  # noqa: F811
) -> None:
    signer, verifier = v2_sites  # 10000 signs, 9999 verifies
    for_9999 = signer.signature(signature_asked_by_2x(PEER, LOCAL)).signature
    assert for_9999 is not None and f":{LOCAL}:" in for_9999
    assert verifier.site_authentication(verification_asked_by_2x(PEER, for_9999)).allowed
    for_10001 = signer.signature(signature_asked_by_2x(PEER, "10001")).signature
    refused = verifier.site_authentication(verification_asked_by_2x(PEER, for_10001 or ""))
    assert refused.message == "site signature is for party 10001, not this party"
