"""The ``rsa`` plugin: site signatures with this party's private key, verified with the other
parties' public keys (``fate-registry keys ...``), compatible with FATE Flow 1.11 (scheme v1)
and with an opt-in stronger scheme v2 (see ``schemes``). ``src_party_id`` ``"0"`` means the local
party (``rsa.party_id``), as in FATE Flow.

``signature`` is ``@nonblocking``: it signs with a key held in a per-process snapshot and does
no I/O. ``site_authentication`` is not: a v2 signature's nonce is written to the registry
database (docs/plugins.md says how to run a v1-only verifier inline).
"""

from __future__ import annotations

import time

from fate_registry import hookimpl, nonblocking
from fate_registry.capabilities import (
    AUTHENTICATION_ERROR,
    Decision,
    Signature,
    SignatureRequest,
    SiteAuthenticationRequest,
)
from fate_registry.context import HookContext
from fate_registry.keys import KeyNotFound, KeyStorageError, fingerprint
from fate_registry.logsafe import printable
from fate_registry.nonces import valid_nonce

from .schemes import (
    ANY_DESTINATION,
    V2_PREFIX,
    parse_v2,
    sign_v1,
    sign_v2,
    verify_v1,
    verify_v2,
)


def _refusal(message: str) -> Signature:
    return Signature(allowed=False, code=AUTHENTICATION_ERROR, message=message)


@hookimpl
@nonblocking
def signature(context: HookContext, request: SignatureRequest) -> Signature | None:
    registry = context.registry
    if registry is None or not registry.settings.rsa.enabled:
        return None
    settings = registry.settings.rsa
    party = request.party_id
    try:
        key = registry.keys.private_key(party)
    except KeyNotFound:
        return _refusal(
            f"party {printable(party)} has no private key here: generate one "
            f"(reg.keys.generate({printable(party)!r}))"
        )
    except KeyStorageError as exc:
        return _refusal(str(exc))
    if settings.scheme == "v2":
        extra = request.model_extra or {}
        dest = str(extra.get("dest_party_id") or ANY_DESTINATION)
        return Signature.signed(sign_v2(key, party, dest, request.body, time.time()))
    return Signature.signed(sign_v1(key, request.body))


@hookimpl
def site_authentication(
    context: HookContext, request: SiteAuthenticationRequest
) -> Decision | None:
    registry = context.registry
    if registry is None or not registry.settings.rsa.enabled:
        return None
    settings = registry.settings.rsa
    party = request.src_party_id
    if not party or party == "0":
        if settings.party_id is None:
            return Decision.deny("src_party_id 0 means this party, but rsa.party_id is not set")
        party = settings.party_id
    shown = printable(party)
    key = registry.keys.public_key(party)
    if key is None:
        return Decision.deny(
            f"party {shown} has no public key here: save it (`flow key save`, or POST "
            "/v1/key/public/save)"
        )
    signed = request.site_signature or ""
    if not signed.startswith(V2_PREFIX):
        if "v1" not in settings.accept:
            return Decision.deny("v1 (FATE) site signatures are not accepted here: sign with v2")
        if verify_v1(key, request.body, signed):
            return Decision.allow(f"signed by party {shown}")
        return Decision.deny(
            f"site signature does not verify with the public key of party {shown} "
            f"(SHA-256 {fingerprint(key)[:16]}...): the body changed, or another key signed it"
        )
    if "v2" not in settings.accept:
        return Decision.deny("v2 site signatures are not accepted here (rsa.accept)")
    token = parse_v2(signed)
    if token is None or not valid_nonce(token.nonce):
        return Decision.deny(
            "malformed v2 site signature: v2:<timestamp ms>:<nonce>:<party>:<base64>"
        )
    if token.dest not in (ANY_DESTINATION, settings.party_id):
        return Decision.deny(f"site signature is for party {printable(token.dest)}, not this party")
    now = time.time()
    drift = token.sent_at - now
    if abs(drift) >= settings.tolerance:
        side = "ahead of" if drift > 0 else "behind"
        return Decision.deny(
            f"v2 site signature timestamp is {abs(drift):.0f} s {side} this server's clock "
            f"(at most {settings.tolerance:g} s allowed)"
        )
    if not verify_v2(key, token, party, request.body):
        return Decision.deny(
            f"v2 site signature does not verify with the public key of party {shown} "
            f"(SHA-256 {fingerprint(key)[:16]}...)"
        )
    if not registry.nonces.first_use(
        f"rsa:{party}", token.nonce, token.sent_at + settings.tolerance
    ):
        return Decision.deny("v2 site signature was already used: a replay is refused")
    return Decision.allow(f"signed by party {shown} (v2)")


__all__ = ["signature", "site_authentication"]
