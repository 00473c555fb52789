"""The console's routes without a browser: shells open and data behind the read protection, the
database's content in the fragments, no key material, nothing from another origin."""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.asymmetric import rsa
from http_support import client_for

from fate_registry import schema
from fate_registry.http.ui import PAGES
from fate_registry.keys import public_pem

TOKEN = "console-test-token-0123456789"
READS = {"admin_tokens": [TOKEN], "protect_reads": True}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_the_shells_carry_no_data_and_load_nothing_from_elsewhere(sqlite_url: str) -> None:
    with client_for(sqlite_url, **READS) as (client, registry):
        registry.register_server("secretive", "127.0.0.1", 8080)
        for page in PAGES:
            shell = client.get("/ui" if page == "overview" else f"/ui/{page}")
            assert shell.status_code == 200, page
            assert "SECRETIVE" not in shell.text
            assert not re.search(r"(src|href)=[\"']?(https?:)?//", shell.text)
            assert "default-src 'none'" in shell.headers["content-security-policy"]
        for asset in ("/ui/static/console.js", "/ui/static/console.css"):
            assert client.get(asset).status_code == 200
        assert client.get("/ui/elsewhere").status_code == 404


def test_the_content_needs_a_token_when_reads_are_protected(sqlite_url: str) -> None:
    with client_for(sqlite_url, **READS) as (client, _):
        for page in PAGES:
            assert client.get(f"/ui/fragment/{page}").status_code == 401, page
            assert client.get(f"/ui/fragment/{page}", headers=BEARER).status_code == 200, page


def test_the_pages_show_what_the_database_holds(sqlite_url: str) -> None:
    with client_for(sqlite_url) as (client, registry):
        registry.register_server("third", "127.0.0.1", 8080)
        registry.register_service(
            "third", "upload", "/u?token=s3cr3t", headers={"X-Api-Key": "k3y"},
            check={"path": "/health"},
        )  # fmt: skip
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        registry.keys.import_public("9999", public_pem(key))
        info = registry.keys.info("9999")
        registry.grants.grant("10000", components=["reader"])
        services = client.get("/ui/fragment/services").text
        servers = client.get("/ui/fragment/servers").text
        keys = client.get("/ui/fragment/keys").text
        grants = client.get("/ui/fragment/grants").text
        overview = client.get("/ui/fragment/overview").text

    assert "THIRD" in services and "upload" in services and "GET /health -&gt; 200" in services
    assert "s3cr3t" not in services and "k3y" not in services
    assert "THIRD" in servers and "unchecked" in servers
    assert info.fingerprint in keys and "BEGIN" not in keys
    assert "10000" in grants and "reader" in grants
    assert "permission" in overview and schema.HEAD in overview


def test_the_listings_page_and_filter(sqlite_url: str) -> None:
    with client_for(sqlite_url) as (client, registry):
        from fate_registry.models import ServerRegistration, ServiceRegistration

        servers = [ServerRegistration(name=f"s{i:03}", host="127.0.0.1", port=1000 + i)
                   for i in range(150)]  # fmt: skip
        services = [ServiceRegistration(server_name=f"s{i:03}", service_name="upload", uri="/u")
                    for i in range(150)]  # fmt: skip
        registry.register_many(servers, services)
        first = client.get("/ui/fragment/services").text
        second = client.get("/ui/fragment/services?page=2").text
        filtered = client.get("/ui/fragment/services?q=s14&status=unchecked").text
        refused = client.get("/ui/fragment/services?status=sometimes")

    assert "150 in all; page 1 of 2" in first and "S000" in first and "S120" not in first
    assert "S120" in second
    assert "10 in all" in filtered and "S140" in filtered
    assert refused.status_code == 400
