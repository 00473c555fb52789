"""fate_client's own request code, as the reference our plugins interoperate with: 1.11.3
(top-level ``flow_sdk``), and 2.2.0 (``fate_client.flow_sdk``, FATE Flow 2.x's client).

1.11.3 is installed with ``--no-deps`` (tox.ini): its pins clash with ours, and the modules used
here need only requests and click. 2.2.0 is installed by the tests that use it into a directory
of their own (``install``): the two share the distribution's name, not a module. Outside CI the
tests that need them skip, naming the command; under CI=true they fail.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

INSTALL = "pip install --no-deps fate-client==1.11.3"
FATE_CLIENT_2 = "2.2.0"  # FATE Flow 2.x's client: the same signing code from 2.0.0 to 2.2.0
IN_CI = os.environ.get("CI", "").lower() == "true"


def install(version: str, target: Path) -> Path:
    """fate-client ``version`` (without its dependencies) in ``target``; skips (fails under CI)
    when no package index answers."""
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
    done = subprocess.run(
        [*pip, "--target", str(target), f"fate-client=={version}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        message = f"cannot install fate-client=={version}: {done.stderr.strip()[-500:]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return target


@functools.cache
def _fate_client_2_path() -> Path:
    """Installed once per machine: into a fresh directory, renamed into place (another test run
    may be installing at the same moment)."""
    final = Path(tempfile.gettempdir()) / f"fate-registry-tests-fate-client-{FATE_CLIENT_2}"
    if not (final / "fate_client").is_dir():
        fresh = install(FATE_CLIENT_2, Path(tempfile.mkdtemp(prefix="fate-client-")))
        try:
            fresh.rename(final)
        except OSError:  # installed meanwhile by another run
            shutil.rmtree(fresh, ignore_errors=True)
    return final


def fate_client_2() -> Any:
    """fate_client 2.2.0's ``flow_sdk`` package, installed once per test run."""
    path = str(_fate_client_2_path())
    if path not in sys.path:
        sys.path.append(path)
    import fate_client.flow_sdk

    return fate_client.flow_sdk


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
