"""A plugin built into a wheel and installed into a fresh virtual environment: discovered,
listed and called; a broken one listed as broken; the load and disable variables obeyed. The
reference service too, installed from its wheel: its command, and ``fate-registry demo``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from wheel_support import ROOT, install_wheels, user_environ

EXAMPLE = ROOT / "contrib" / "fate-registry-example"
BROKEN = ROOT / "tests" / "data" / "fate-registry-broken"
REFERENCE = ROOT / "contrib" / "fate-reference-service"
PERMISSION = {"src_role": "guest", "src_party_id": "9999", "component_list": ["reader_0"]}
PLUGIN_VARIABLES = (
    "FATE_REGISTRY_LOAD_PLUGINS",
    "FATE_REGISTRY_DISABLE_PLUGINS",
    "FATE_REGISTRY_STRICT_PLUGINS",
)


@dataclass
class FreshEnv:
    bin: Path
    home: Path

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = user_environ()
        environ.update(env)
        db = f"sqlite:///{self.home / 'registry.db'}"
        return subprocess.run(
            [str(self.bin / "fate-registry"), "--db", db, *args],
            capture_output=True,
            text=True,
            env=environ,
            cwd=self.home,
            timeout=180,  # the demo starts two servers
        )

    def plugins(self, **env: str) -> dict[str, dict[str, object]]:
        done = self.run("plugins", "--all", "--json", **env)
        assert done.returncode == 0, done.stderr
        return {p["name"]: p for p in json.loads(done.stdout)["plugins"]}


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshEnv]:
    """Wheels of fate-registry (from this checkout), the example and the broken plugin,
    installed into a new virtual environment; dependencies from the configured index."""
    home = tmp_path_factory.mktemp("wheel")
    bin_dir = install_wheels(home, EXAMPLE, BROKEN, REFERENCE)
    (home / "permission.json").write_text(json.dumps(PERMISSION))
    yield FreshEnv(bin_dir, home)


def test_the_installed_plugin_is_discovered_and_listed(fresh_env: FreshEnv) -> None:
    example = fresh_env.plugins()["example"]
    assert (example["status"], example["distribution"], example["version"]) == (
        "loaded",
        "fate-registry-example",
        "0.1.0",
    )
    assert example["hooks"] == ["permission"]


def test_the_installed_plugin_is_called(fresh_env: FreshEnv) -> None:
    done = fresh_env.run("call", "permission", "--json-file", "permission.json", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["allowed"], answer["plugin"], answer["message"]) == (
        True,
        "example",
        "party 9999 is known",
    )


def test_the_broken_plugin_is_listed_as_broken_and_the_others_work(fresh_env: FreshEnv) -> None:
    plugins = fresh_env.plugins()
    assert plugins["broken"]["status"] == "broken"
    assert "fate_registry_no_such_dependency" in str(plugins["broken"]["error"])
    assert plugins["http"]["status"] == plugins["example"]["status"] == "loaded"
    human = fresh_env.run("plugins")
    assert human.returncode == 0 and "broken" in human.stdout


def test_strict_mode_fails_naming_the_broken_plugin(fresh_env: FreshEnv) -> None:
    done = fresh_env.run("plugins", FATE_REGISTRY_STRICT_PLUGINS="1")
    assert done.returncode == 1
    assert done.stderr.startswith("error: plugin 'broken' (fate-registry-broken) failed to load")


def test_load_plugins_selects_by_name_or_distribution(fresh_env: FreshEnv) -> None:
    for selection in ("example", "fate-registry-example"):
        plugins = fresh_env.plugins(FATE_REGISTRY_LOAD_PLUGINS=selection)
        assert {n: p["status"] for n, p in plugins.items()} == {
            "broken": "not selected",
            "example": "loaded",
            "grants": "not selected",
            "hmac": "not selected",
            "http": "not selected",
            "localfeatures": "not selected",
            "rsa": "not selected",
        }


def test_load_plugins_empty_loads_none(fresh_env: FreshEnv) -> None:
    plugins = fresh_env.plugins(FATE_REGISTRY_LOAD_PLUGINS="")
    assert {p["status"] for p in plugins.values()} == {"not selected"}
    done = fresh_env.run(
        "call", "permission", "--json-file", "permission.json", FATE_REGISTRY_LOAD_PLUGINS=""
    )
    assert done.returncode == 1 and "no plugin had an opinion" in done.stdout


def test_disable_plugins_blocks_one(fresh_env: FreshEnv) -> None:
    plugins = fresh_env.plugins(FATE_REGISTRY_DISABLE_PLUGINS="example")
    assert plugins["example"]["status"] == "disabled"
    assert plugins["http"]["status"] == "loaded"
    done = fresh_env.run(
        "call",
        "permission",
        "--json-file",
        "permission.json",
        "--json",
        FATE_REGISTRY_DISABLE_PLUGINS="example",
    )
    assert json.loads(done.stdout)["plugin"] is None


def test_the_example_plugin_own_test_passes_under_plain_pytest() -> None:
    """As docs/plugins.md runs it: ``pytest`` in the plugin's folder, the plugin not installed
    and nothing on PYTHONPATH (``python -m pytest`` would put the folder on the path itself)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pytest_command = Path(sys.executable).with_name("pytest")
    done = subprocess.run(
        [str(pytest_command), "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=env,
        cwd=EXAMPLE,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_reference_service_installs_with_its_command(fresh_env: FreshEnv) -> None:
    done = subprocess.run(
        [str(fresh_env.bin / "fate-reference-service"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--registry" in done.stdout


def test_the_demo_runs_from_the_wheels(fresh_env: FreshEnv) -> None:
    done = fresh_env.run("demo", "--ids", "1000")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "download: 1,000 rows" in done.stdout and "permission: allow" in done.stdout
