"""fate_client 1.11.3's own request code, as the reference our plugins interoperate with.

It is installed with ``--no-deps`` (tox.ini): its pins clash with ours, and the modules used here
need only requests and click. Outside CI the tests that need it skip, naming the command.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

INSTALL = "pip install --no-deps fate-client==1.11.3"


def flow_sdk_base() -> Any:
    try:
        from flow_sdk.client import base
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"fate_client is not installed: {INSTALL}")
        pytest.skip(f"fate_client is not installed: {INSTALL}")
    return base


def signed_by_fate_client(
    app_key: str, secret: str, method: str, url: str, **kwargs: Any
) -> requests.PreparedRequest:
    """The request fate_client's ``FlowClient`` signs and would send (captured, not sent)."""
    base = flow_sdk_base()
    sent: list[requests.PreparedRequest] = []

    class Capture(base.BaseFlowClient):  # type: ignore[misc,name-defined]
        API_BASE_URL = "http://127.0.0.1:9380/v1/"

    client = Capture("127.0.0.1", 9380, "v1", app_key=app_key, secret_key=secret)
    client._http.send = lambda prepared, **_: sent.append(prepared) or {}
    client._request(method, url, **kwargs)
    return sent[0]


def as_fate_flow_forwards(prepared: requests.PreparedRequest) -> dict[str, Any]:
    """The client_authentication request FATE Flow builds from a client's request: flask's
    ``full_path`` (a bare ``?`` when there is no query), headers, form, raw body and JSON."""
    parts = urlsplit(prepared.url or "")
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    content_type = prepared.headers.get("Content-Type", "")
    form = {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        for key, value in parse_qsl(body.decode(), keep_blank_values=True):
            form.setdefault(key, value)
    parsed = json.loads(body) if content_type.startswith("application/json") and body else None
    return {
        "full_path": f"{parts.path}?{parts.query}",
        "headers": dict(prepared.headers),
        "form": form,
        "data": body.decode(),
        "json": parsed,
    }
