"""The console in headless Chromium (the system's, driven by Selenium through the system's
chromedriver) against a real ``serve``: each page loads with no request beyond the server, asks
for the token and keeps it in the tab, shows what the database holds, and a service stopped
during the test turns critical on the page within two rounds of checks. Screenshots of each
page go to build/screenshots/ (not committed)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from callback_service import serve as serve_app
from fastapi import FastAPI
from serve_process import Served, serve
from test_docs_offline import IN_CI, need_browser

from fate_registry import Registry, schema

TOKEN = "browser-test-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
INTERVAL = 2.0  # seconds between two checks of a target
SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
DRIVER = shutil.which("chromedriver")
PERMISSION = {"src_party_id": "10000", "role": "host", "component_list": ["reader"]}


def health_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    binary = need_browser()
    if DRIVER is None:  # .ci/run installs it: missing under CI is a failure
        (pytest.fail if IN_CI else pytest.skip)(
            "chromedriver is not installed: apt-get install -y chromium-driver"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1300,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        # Nothing but loopback resolves, and every other address goes to a dead proxy: a
        # request beyond the server fails (and shows in the network log checked below).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = webdriver.ChromeService(executable_path=DRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str, Any]]:
    """A serve with reads protected, checking every INTERVAL; a service it checks (stopped by
    the last test); a key, a grant and a few decisions."""
    db_url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'registry.db'}"
    env = {
        "FATE_REGISTRY_ADMIN_TOKENS": TOKEN,
        "FATE_REGISTRY_PROTECT_READS": "true",
        "FATE_REGISTRY_HEALTH__INTERVAL": str(INTERVAL),
        "FATE_REGISTRY_GRANTS__ENABLED": "true",
    }
    service = ExitStack()  # the service the checks find, stopped by the last test
    host, port = service.enter_context(serve_app(health_app()))
    with service, serve(db_url, env=env) as running:
        with Registry(db_url) as registry:
            registry.register_server("third", host, port)
            registry.register_service("third", "upload", "/v1/upload", check={"path": "/health"})
            registry.register_service("third", "query", "/v1/query")
            registry.register_server("gone", "127.0.0.1", 9)
            registry.grants.grant("10000", components=["reader"])
            from cryptography.hazmat.primitives.asymmetric import rsa

            from fate_registry.keys import public_pem

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
            registry.keys.import_public("9999", public_pem(key))
            fingerprint = registry.keys.info("9999").fingerprint
        for _ in range(3):
            requests.post(f"{running.url}/v1/hook/permission", json=PERMISSION, headers=BEARER,
                          timeout=30)  # fmt: skip
        yield running, fingerprint, service.close


def _wait(driver: Any, condition: Any, what: str, timeout: float = 60) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition, message=what)


def _loaded(driver: Any) -> bool:
    return bool(driver.find_element("id", "updated").text.startswith("updated"))


def _open(driver: Any, url: str) -> str:
    """Open a page and wait for its content; its text."""
    driver.get(url)
    _wait(driver, _loaded, f"{url}: content loaded")
    return str(driver.find_element("id", "content").text)


def _screenshot(driver: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def _requested(driver: Any) -> list[str]:
    """Every URL the browser asked for since the last call (Chrome's network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_the_console_asks_for_a_token_and_keeps_it_in_the_tab(browser: Any, served: Any) -> None:
    running, _, _ = served
    browser.get(f"{running.url}/ui")
    _wait(browser, lambda d: d.find_element("id", "login").is_displayed(), "the token form")
    _screenshot(browser, "login")
    browser.find_element("id", "token").send_keys(TOKEN)
    browser.find_element("css selector", "#login button").click()
    _wait(browser, _loaded, "the overview after the token")

    stored = browser.execute_script("return sessionStorage.getItem('fate-registry-token')")
    assert stored == TOKEN
    assert browser.get_cookies() == []  # in the tab's storage only, never a cookie


def test_each_page_shows_the_database_with_no_request_beyond_the_server(
    browser: Any, served: Any
) -> None:
    running, fingerprint, _ = served
    _requested(browser)  # drop what came before
    expected = {
        "overview": [schema.HEAD, "permission", "grants"],
        "services": ["THIRD", "upload", "GET /health -> 200", "query"],
        "servers": ["THIRD", "GONE"],
        "decisions": ["permission", "10000"],
        "keys": [fingerprint],
        "grants": ["10000", "reader"],
    }
    for page, wanted in expected.items():
        url = f"{running.url}/ui" + ("" if page == "overview" else f"/{page}")
        text = _open(browser, url)
        for item in wanted:
            assert item in text, f"{page}: {item!r} not in {text[:500]!r}"
        if page == "decisions":
            assert len(browser.find_elements("css selector", "svg.chart")) == 4  # one each
        _screenshot(browser, page)

    requested = _requested(browser)
    assert requested, "the network log recorded nothing"
    beyond = [url for url in requested if not url.startswith(running.url + "/")]
    assert beyond == []


def test_a_stopped_service_turns_critical_on_the_page_within_two_rounds(
    browser: Any, served: Any
) -> None:
    running, _, stop_the_service = served
    _open(browser, f"{running.url}/ui/services?q=third")
    _wait(browser, lambda d: "passing" in d.find_element("id", "content").text, "passing first")
    rounds_before = _rounds(running)
    stop_the_service()

    _wait(
        browser,
        lambda d: re.search(r"THIRD upload .*critical", d.find_element("id", "content").text),
        "THIRD/upload critical on the page",
    )
    rounds = _rounds(running) - rounds_before
    _screenshot(browser, "services-critical")
    assert rounds <= 2, f"seen critical after {rounds} rounds of checks"


def _rounds(running: Served) -> float:
    text = requests.get(f"{running.url}/metrics", headers=BEARER, timeout=10).text
    found = re.search(r"^fate_registry_health_rounds_total (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else 0.0
