"""FATE's HMAC request signature, computed the same way on the client and the server side.

SIGNATURE = base64(HMAC-SHA1(secret, TIMESTAMP \\n NONCE \\n APP_KEY \\n path-with-query (no
trailing ``?``) \\n JSON body (empty unless the request has a non-empty JSON body) \\n the form
sorted and URL-encoded with ``quote``, safe ``-._~`` (empty without a form))), as FATE Flow 1.11
checks it and fate_client 1.11 signs. The standard library's ``hmac`` does it; no library
implements this FATE-specific layout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode


def form_text(form: Mapping[str, Any] | None) -> bytes:
    """The signed form line: one value per field (the first, as werkzeug's ``items()`` gives)."""
    if not form:
        return b""
    items = sorted((k, v[0] if isinstance(v, list) and v else v) for k, v in form.items())
    return urlencode(items, quote_via=quote, safe="-._~").encode("utf-8")


def signed_bytes(
    timestamp: str, nonce: str, app_key: str, path: str, body: bytes, form: bytes
) -> bytes:
    return b"\n".join(
        [
            timestamp.encode("utf-8"),
            nonce.encode("utf-8"),
            app_key.encode("utf-8"),
            path.rstrip("?").encode("utf-8"),
            body,
            form,
        ]
    )


def sign(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
