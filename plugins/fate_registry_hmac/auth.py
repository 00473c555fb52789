"""A ``requests`` auth class that signs requests as FATE's clients do (``hmac`` plugin's scheme).

``requests.post(url, json=body, auth=HmacAuth("app", "secret"))`` sends TIMESTAMP (ms), NONCE
(a fresh UUID), APP_KEY and SIGNATURE, accepted by the ``hmac`` plugin and by FATE Flow 1.11.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import parse_qsl

import requests

from .scheme import form_text, sign, signed_bytes

FORM = "application/x-www-form-urlencoded"


class HmacAuth(requests.auth.AuthBase):
    def __init__(self, app_key: str, secret: str) -> None:
        self.app_key = app_key
        self._secret = secret

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"HmacAuth(app_key={self.app_key!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, bytes):
            raise ValueError("HmacAuth signs bodies given as bytes or text, not streams")
        content_type = request.headers.get("Content-Type", "")
        timestamp = str(round(time.time() * 1000))
        nonce = str(uuid.uuid4())
        message = signed_bytes(
            timestamp,
            nonce,
            self.app_key,
            request.path_url,
            body if _non_empty_json(body, content_type) else b"",
            form_text(_form(body)) if content_type.startswith(FORM) else b"",
        )
        request.headers.update(
            {
                "TIMESTAMP": timestamp,
                "NONCE": nonce,
                "APP_KEY": self.app_key,
                "SIGNATURE": sign(self._secret, message),
            }
        )
        return request


def _non_empty_json(body: bytes, content_type: str) -> bool:
    # The server signs the body only when the request's JSON is non-empty (FATE: `if json`).
    if not content_type.startswith("application/json") or not body:
        return False
    try:
        return bool(json.loads(body))
    except ValueError:
        return False


def _form(body: bytes) -> dict[str, str]:
    form: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        form.setdefault(key, value)
    return form
