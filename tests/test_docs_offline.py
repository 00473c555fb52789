"""/docs and /redoc render in a browser with no network beyond loopback: their scripts come
from files installed with the package (fastapi-offline), not from a CDN."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import requests
from serve_process import Served, serve

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = (
    "headless Chromium is not installed: on Debian, apt-get install -y chromium (.ci/run does)"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def need_browser() -> str:
    """Chromium's path; skip without it, except under CI, where .ci/run installs it: fail."""
    if BROWSER is None:
        (pytest.fail if IN_CI else pytest.skip)(MISSING)
    assert BROWSER is not None
    return BROWSER


REGISTRATION_ROUTES = ("/v1/server/{server_name}/register", "/v1/service/registry",
                       "/v2/server/registry", "/v2/server/service/registry")  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(f"sqlite:///{tmp_path_factory.mktemp('docs') / 'r.db'}") as running:
        yield running


def rendered(url: str) -> str:
    """The page's DOM once its scripts ran, in headless Chromium that can reach loopback only:
    every other name fails to resolve, and every other address goes to a dead proxy."""
    done = subprocess.run(
        [
            need_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9", "--virtual-time-budget=20000",
            "--dump-dom", url,
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_pages_name_no_other_host(served: Served) -> None:
    for page in ("/docs", "/redoc"):
        html = requests.get(served.url + page, timeout=10).text
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", html), html


def test_swagger_ui_lists_the_registration_routes_offline(served: Served) -> None:
    dom = rendered(f"{served.url}/docs")

    listed = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert set(REGISTRATION_ROUTES) <= listed, dom[:2000]


def test_redoc_lists_the_registration_routes_offline(served: Served) -> None:
    dom = rendered(f"{served.url}/redoc")

    assert "Register a server, or move it" in dom, dom[:2000]
    assert "Register a service on a registered server" in dom


def test_the_pages_and_their_assets_need_no_token(sqlite_url: str) -> None:
    from http_support import client_for

    tokens = ["docs-test-token-0123456789"]
    with client_for(sqlite_url, admin_tokens=tokens, protect_reads=True) as (client, _):
        for path in ("/docs", "/redoc", "/docs-assets/swagger-ui-bundle.js",
                     "/docs-assets/redoc.standalone.js", "/openapi.json"):  # fmt: skip
            assert client.get(path).status_code == 200, path
        assert client.get("/v2/server/query/all").status_code == 401
