"""FATE Flow 2.x's client signature, as fate_client 2.x signs it and FATE Flow 2.x checks it.

The client sends ``appId``, ``userName`` (may be empty), ``Timestamp`` (ms), ``Nonce`` and
``Signature`` = hex MD5 of (hex MD5 of appId + userName + Nonce + Timestamp) + the app's token.
It binds neither the path nor the body: the plugin's replay memory is what keeps a captured set
of headers from being used again. MD5 because that is the scheme; nothing here relies on it
resisting collisions.
"""

from __future__ import annotations

import hashlib
import hmac

from fate_registry.capabilities import ClientAuthenticationRequest, Decision
from fate_registry.nonces import MAX_NONCE, valid_nonce
from fate_registry.settings import HmacSettings

from .verified import Verified, header

HEADERS = ("appId", "Timestamp", "Nonce", "Signature")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def sign(app_id: str, user_name: str, nonce: str, timestamp: str, token: str) -> str:
    return _md5(_md5(app_id + user_name + nonce + timestamp) + token)


def signed(request: ClientAuthenticationRequest) -> bool:
    """Whether ``request`` carries this scheme's headers rather than 1.x's (no ``APP_KEY``)."""
    return header(request.headers, "appId") is not None and not header(request.headers, "APP_KEY")


def verify(
    request: ClientAuthenticationRequest, settings: HmacSettings, now: float
) -> Verified | Decision:
    """Check headers, clock and signature: a Verified request, or a refusal saying why."""
    values = {name: header(request.headers, name) for name in HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        return Decision.deny(
            f"missing header(s) {', '.join(missing)}: a FATE Flow 2.x client signs with appId, "
            "userName, Timestamp, Nonce and Signature"
        )
    app_id, timestamp, nonce, given = (str(values[name]) for name in HEADERS)
    user_name = header(request.headers, "userName") or ""
    try:
        sent_at = int(timestamp) / 1000
    except ValueError:
        return Decision.deny("Timestamp must be an integer: milliseconds since the epoch")
    drift = sent_at - now
    if abs(drift) >= settings.window:
        side = "ahead of" if drift > 0 else "behind"
        return Decision.deny(
            f"Timestamp is {abs(drift):.0f} s {side} this server's clock (at most "
            f"{settings.window:g} s allowed): check the client's clock"
        )
    if not valid_nonce(nonce) or len(timestamp) + 1 + len(nonce) > MAX_NONCE:
        return Decision.deny(f"Nonce must be 1 to {MAX_NONCE - 20} printable ASCII characters")
    tokens = settings.app_keys.get(app_id)
    if tokens is None:
        return Decision.deny("appId is not known here")
    given_bytes = given.encode("utf-8")
    matched = False
    for token in tokens:  # every token, no early exit: timing tells nothing
        expected = sign(app_id, user_name, nonce, timestamp, token.get_secret_value())
        matched |= hmac.compare_digest(expected.encode("ascii"), given_bytes)
    if not matched:
        return Decision.deny(
            "Signature does not match: sign as FATE Flow 2.x's clients do, the hex MD5 of (the "
            "hex MD5 of appId, userName, Nonce and Timestamp) followed by the app's token"
        )
    # A 2.x nonce has 4 digits: it is unique only together with its timestamp.
    return Verified(app_key=app_id, nonce=f"{timestamp}:{nonce}", timestamp=sent_at)
