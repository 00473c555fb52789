"""The four decisions, per the published contract: each takes the JSON FATE Flow (or
fate-registry) posts and answers ``{code, msg}`` (``site_signature`` too for ``signature``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from .config import Config

OK = 0
PERMISSION_ERROR = 108
AUTHENTICATION_ERROR = 109
MAX_CLOCK_SKEW = 60.0  # seconds, as FATE Flow's own HMAC check


def _allow(message: str = "success") -> dict[str, Any]:
    return {"code": OK, "msg": message}


def _deny(message: str, code: int = AUTHENTICATION_ERROR) -> dict[str, Any]:
    return {"code": code, "msg": message}


def _header(headers: Mapping[str, Any], name: str) -> str:
    """A header in any spelling: FATE sends ``APP_KEY``, fate-registry ``app_key``."""
    wanted = name.lower().replace("-", "_")
    for key, value in headers.items():
        if str(key).lower().replace("-", "_") == wanted:
            return str(value)
    return ""


def client_signature(
    secret: str,
    timestamp: str,
    nonce: str,
    app_key: str,
    full_path: str,
    json_body: str | None = None,
    form: Mapping[str, Any] | None = None,
) -> str:
    """FATE's HMAC client signature: base64 HMAC-SHA1 over the timestamp, nonce, app key,
    path with query, raw JSON body and sorted form, one per line. Clients sign with it too."""
    lines = [
        timestamp.encode(),
        nonce.encode(),
        app_key.encode(),
        full_path.rstrip("?").encode(),
        json_body.encode() if json_body else b"",
        urlencode(sorted(form.items()), quote_via=quote, safe="-._~").encode() if form else b"",
    ]
    digest = hmac.new(secret.encode(), b"\n".join(lines), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def client_authentication(request: Mapping[str, Any], config: Config) -> dict[str, Any]:
    headers = request.get("headers") or {}
    if not isinstance(headers, Mapping):
        return _deny("headers must be an object")
    values = {n: _header(headers, n) for n in ("TIMESTAMP", "NONCE", "APP_KEY", "SIGNATURE")}
    missing = [name for name, value in values.items() if not value]
    if missing:
        return _deny(f"missing headers: {', '.join(missing)}")
    secret = config.app_keys.get(values["APP_KEY"])
    if secret is None:
        return _deny("unknown APP_KEY")
    try:
        timestamp = int(values["TIMESTAMP"]) / 1000
    except ValueError:
        return _deny("TIMESTAMP must be milliseconds since the epoch")
    if abs(time.time() - timestamp) > MAX_CLOCK_SKEW:
        return _deny(f"TIMESTAMP is more than {MAX_CLOCK_SKEW:.0f} s away from this server's time")
    raw_json = request.get("data") if request.get("json") is not None else None
    expected = client_signature(
        secret,
        values["TIMESTAMP"],
        values["NONCE"],
        values["APP_KEY"],
        str(request.get("full_path") or ""),
        raw_json if isinstance(raw_json, str) else None,
        request.get("form") or None,
    )
    if not hmac.compare_digest(expected, values["SIGNATURE"]):
        return _deny("signature does not match")
    return _allow(f"client {values['APP_KEY']} authenticated")


def site_signature(site_key: str, party_id: str, body: Any) -> str:
    """The signature a site puts on what it sends: base64 HMAC-SHA256 of its party id and the
    body as canonical JSON, with the key the federation's sites share."""
    message = f"{party_id}\n{json.dumps(body, sort_keys=True, separators=(',', ':'))}".encode()
    return base64.b64encode(hmac.new(site_key.encode(), message, hashlib.sha256).digest()).decode()


def signature(request: Mapping[str, Any], config: Config) -> dict[str, Any]:
    if config.site_key is None:
        return _deny("this service has no site key: start it with --site-key")
    party_id = request.get("party_id")
    if party_id in (None, ""):
        return _deny("party_id is missing")
    signed = site_signature(config.site_key, str(party_id), request.get("body") or {})
    # Both readings: the published contract's site_signature, FATE Flow 1.11's data.
    return {"code": OK, "msg": "success", "site_signature": signed, "data": signed}


def site_authentication(request: Mapping[str, Any], config: Config) -> dict[str, Any]:
    if config.site_key is None:
        return _deny("this service has no site key: start it with --site-key")
    given = request.get("site_signature")
    if not isinstance(given, str) or not given:
        return _deny("the request carries no site_signature")
    party_id = str(request.get("src_party_id") or "")
    expected = site_signature(config.site_key, party_id, request.get("body") or {})
    if not hmac.compare_digest(expected, given):
        return _deny(f"site signature of party {party_id} does not match")
    return _allow(f"site {party_id} authenticated")


def permission(request: Mapping[str, Any], config: Config) -> dict[str, Any]:
    party_id = str(request.get("src_party_id") or "")
    if party_id in config.allowed_parties:
        return _allow(f"party {party_id} may run jobs here")
    return _deny(f"party {party_id or '(none)'} may not run jobs here", PERMISSION_ERROR)
