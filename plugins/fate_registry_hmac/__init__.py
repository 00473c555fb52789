"""The ``hmac`` plugin: client_authentication with FATE's HMAC-SHA1 request signature, and FATE
Flow 2.x's MD5 one (``fate2``), chosen by the headers a request carries.

Requests signed by fate_client's ``FlowClient`` and ``flow`` CLI (1.x and 2.x) are accepted
unchanged, and FATE Flow's gaps are closed: several app keys, several secrets per key
(rotation), a nonce accepted once within the window (shared through the registry database),
constant-time comparison, and refusals that tell the client what to fix without revealing any
secret.

Not ``@nonblocking``: with the ``database`` nonce store every accepted request writes one row,
which can wait on the database (docs/plugins.md has the measurement). With the ``memory`` store
the check does no I/O; ``hooks.client_authentication.inline = ["hmac"]`` then runs it inline.
"""

from __future__ import annotations

import hmac
import json
import time

from fate_registry import hookimpl
from fate_registry.capabilities import ClientAuthenticationRequest, Decision
from fate_registry.context import HookContext
from fate_registry.logsafe import printable
from fate_registry.nonces import MAX_NONCE, valid_nonce
from fate_registry.settings import HmacSettings

from . import fate2
from .auth import HmacAuth
from .scheme import form_text, sign, signed_bytes
from .verified import Verified, header

HEADERS = ("TIMESTAMP", "NONCE", "APP_KEY", "SIGNATURE")


def body_bytes(request: ClientAuthenticationRequest) -> bytes:
    """The signed body: the raw body when the request's JSON is non-empty, as FATE signs it."""
    if not request.json_body:
        return b""
    data = request.data
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    return json.dumps(request.json_body).encode("utf-8")  # what requests sends for json=


def verify(
    request: ClientAuthenticationRequest, settings: HmacSettings, now: float
) -> Verified | Decision:
    """Check headers, clock and signature: a Verified request, or a refusal saying why."""
    values = {name: header(request.headers, name) for name in HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        return Decision.deny(
            f"missing header(s) {', '.join(missing)}: a signed request carries TIMESTAMP, "
            "NONCE, APP_KEY and SIGNATURE (a FATE Flow 2.x client: appId, userName, Timestamp, "
            "Nonce and Signature)"
        )
    timestamp, nonce, app_key, given = (str(values[name]) for name in HEADERS)
    try:
        sent_at = int(timestamp) / 1000
    except ValueError:
        return Decision.deny("TIMESTAMP must be an integer: milliseconds since the epoch")
    drift = sent_at - now
    if abs(drift) >= settings.window:
        side = "ahead of" if drift > 0 else "behind"
        return Decision.deny(
            f"TIMESTAMP is {abs(drift):.0f} s {side} this server's clock (at most "
            f"{settings.window:g} s allowed): check the client's clock, and that TIMESTAMP is "
            "in milliseconds"
        )
    if not valid_nonce(nonce):
        return Decision.deny(f"NONCE must be 1 to {MAX_NONCE} printable ASCII characters")
    secrets = settings.app_keys.get(app_key)
    if secrets is None:
        return Decision.deny("APP_KEY is not known here")
    body = body_bytes(request)
    form = form_text(request.form)
    message = signed_bytes(timestamp, nonce, app_key, request.full_path, body, form)
    given_bytes = given.encode("utf-8")
    matched = False
    for secret in secrets:  # every secret, no early exit: timing tells nothing
        expected = sign(secret.get_secret_value(), message).encode("ascii")
        matched |= hmac.compare_digest(expected, given_bytes)
    if not matched:
        path = printable(request.full_path.rstrip("?")[:200])
        return Decision.deny(
            "SIGNATURE does not match the request: sign, with the APP_KEY's secret "
            f"(base64 HMAC-SHA1), TIMESTAMP, NONCE, APP_KEY, the path with its query ('{path}'), "
            f"the JSON body ({len(body)} bytes) and the sorted form "
            f"({len(request.form or {})} fields), joined by newlines"
        )
    return Verified(app_key=app_key, nonce=nonce, timestamp=sent_at)


@hookimpl
def client_authentication(
    context: HookContext, request: ClientAuthenticationRequest
) -> Decision | None:
    registry = context.registry
    if registry is None or not registry.settings.hmac.app_keys:
        return None  # not configured here: no opinion
    settings = registry.settings.hmac
    # (how to verify, the replay memory's scope, the nonce header's name, who signed)
    if fate2.signed(request):
        check, scope, nonce, signer = (
            fate2.verify,
            "hmac-fate2",
            "Nonce",
            "appId {} (FATE Flow 2.x)",
        )
    else:
        check, scope, nonce, signer = verify, "hmac", "NONCE", "APP_KEY {}"
    result = check(request, settings, time.time())
    if isinstance(result, Decision):
        return result
    first = registry.nonces.first_use(
        f"{scope}:{result.app_key}",
        result.nonce,
        result.timestamp + settings.window,
        shared=settings.nonce_store == "database",
    )
    if not first:
        return Decision.deny(
            f"{nonce} was already used: a replayed request is refused; send a new {nonce} with "
            "every request"
        )
    return Decision.allow(
        "signed with " + signer.format(printable(result.app_key)), principal=result.app_key
    )


__all__ = ["HmacAuth", "client_authentication", "verify"]
