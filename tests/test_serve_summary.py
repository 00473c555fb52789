"""`serve` logs one start-up summary: address, database (masked), schema, plugins, each
capability's chain and policy, protections; never a token."""

from __future__ import annotations

from pathlib import Path

from serve_process import serve

from fate_registry import schema

TOKEN = "summary-test-token-0123456789"


def test_serve_logs_one_summary_before_it_listens(tmp_path: Path) -> None:
    env = {
        "FATE_REGISTRY_ADMIN_TOKENS": TOKEN,
        "FATE_REGISTRY_LOAD_PLUGINS": "http",
        "FATE_REGISTRY_HOOKS__PERMISSION__CHAIN": "grants,http",
        "FATE_REGISTRY_HOOKS__PERMISSION__FAILURE_POLICY": "allow",
    }
    db_url = f"sqlite:///{tmp_path / 'registry.db'}"
    with serve(db_url, env=env) as served:
        log = served.log_text()

    summary = log[: log.index("Started server process")]
    assert summary.count("fate-registry ") == 1
    assert f"fate-registry 0.1.0 on {served.url} (1 worker)" in summary
    assert f"database: {db_url}, schema {schema.HEAD} (latest), revision 0" in summary
    assert "health checks: every 10 s, one prober per database" in summary
    line = next(line for line in summary.splitlines() if line.startswith("  plugins: "))
    plugins = line.removeprefix("  plugins: ").split("; ")
    assert "http 0.1.0 (loaded)" in plugins
    assert "rsa 0.1.0 (not selected)" in plugins  # FATE_REGISTRY_LOAD_PLUGINS left it out
    assert (
        "permission: chain grants (not loaded), http; timeout 5 s, budget 5 s, retries 2, "
        "failure_policy allow, default deny, cache allow 10 s, deny 2 s"
    ) in summary
    assert "upload: chain http; timeout 30 s, budget 120 s, retries 0" in summary
    assert (
        "protections: writes need 1 admin token or the client_authentication chain; key and "
        "grant changes need admin tokens; reads open; "
        "hook gateway needs admin tokens; allowed_hosts any; connectivity check off"
    ) in summary
    assert TOKEN not in log


def test_the_summary_masks_the_database_password() -> None:
    from fate_registry.settings import masked_db_url

    shown = masked_db_url("postgresql://fate:s3cret@db.example:5432/registry?sslpassword=k3y")

    assert "s3cret" not in shown and "k3y" not in shown
    assert shown.startswith("postgresql://fate:***@db.example:5432/registry")
