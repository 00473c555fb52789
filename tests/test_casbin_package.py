"""contrib/fate-registry-casbin built into a wheel and installed into a fresh virtual environment
beside fate-registry's wheel: listed by ``fate-registry plugins``, silent until named in the
permission chain, then deciding by the policies granted through its Python API. (Its own
tests run under ``tox -e casbin``.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASBIN = ROOT / "contrib" / "fate-registry-casbin"
JOB = {
    "src_party_id": "10000",
    "role": "host",
    "party_id": "9999",
    "component_list": ["reader", "heterolr"],
    "dataset_list": [{"namespace": "experiment", "name": "breast"}],
}
GRANT = """
from fate_registry import Registry
from fate_registry_casbin import policies_of

with Registry.from_settings() as reg:
    policies_of(reg).grant("10000", components=["reader"], datasets=["experiment:breast"])
    policies_of(reg).grant("consortium", components=["heterolr"])
    policies_of(reg).assign("10000", "consortium")
"""
CHAIN = {"FATE_REGISTRY_HOOKS__PERMISSION__CHAIN": "casbin"}


@dataclass
class FreshEnv:
    bin: Path
    home: Path

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FATE_REGISTRY_", "FATE_CASBIN_", "VIRTUAL_ENV", "PYTHON"))
        }
        environ.update(FATE_REGISTRY_DB_URL=f"sqlite:///{self.home / 'registry.db'}", **env)
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=environ,
            cwd=self.home,
            timeout=120,
        )


def _copy(source: Path, destination: Path, *names: str) -> Path:
    """A copy of ``names`` of ``source``, so that building leaves the checkout untouched."""
    destination.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "tests")
    for name in names:
        if (source / name).is_dir():
            shutil.copytree(source / name, destination / name, ignore=ignore)
        else:
            shutil.copy(source / name, destination / name)
    return destination


def _pip(python: str, *args: str) -> None:
    done = subprocess.run(
        [python, "-m", "pip", *args, "-q"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"pip {args[0]} failed: {done.stderr}"


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshEnv]:
    home = tmp_path_factory.mktemp("casbin-wheel")
    registry = _copy(ROOT, home / "fate-registry", "core", "plugins", "pyproject.toml", "README.md")
    plugin = _copy(
        CASBIN, home / "fate-registry-casbin", "fate_registry_casbin", "pyproject.toml", "README.md"
    )
    wheels = home / "wheels"
    _pip(sys.executable, "wheel", "--no-deps", "-w", str(wheels), str(registry), str(plugin))
    venv.create(home / "venv", with_pip=True)
    bin_dir = home / "venv" / "bin"
    # fate-registry's and casbin's dependencies come from the configured index
    _pip(
        str(bin_dir / "python"), "install", "--find-links", str(wheels), *map(str, wheels.iterdir())
    )
    (home / "job.json").write_text(json.dumps(JOB))
    (home / "grant.py").write_text(GRANT)
    yield FreshEnv(bin_dir, home)


def test_fate_registry_plugins_lists_it(fresh_env: FreshEnv) -> None:
    done = fresh_env.run("fate-registry", "plugins", "--json")
    assert done.returncode == 0, done.stderr
    plugins = {p["name"]: p for p in json.loads(done.stdout)["plugins"]}
    casbin = plugins["casbin"]
    assert (casbin["status"], casbin["distribution"], casbin["version"]) == (
        "loaded",
        "fate-registry-casbin",
        "0.1.0",
    )
    assert casbin["hooks"] == ["permission"]
    assert fresh_env.run("fate-registry", "plugins").stdout.count("casbin") >= 1


def test_it_decides_once_named_in_the_chain_by_what_was_granted(fresh_env: FreshEnv) -> None:
    call = ("fate-registry", "call", "permission", "--json-file", "job.json", "--json")
    silent = json.loads(fresh_env.run(*call).stdout)
    assert silent["plugin"] != "casbin"  # the default chain: no opinion

    refused = fresh_env.run(*call, **CHAIN)
    assert refused.returncode == 1, refused.stderr
    answer = json.loads(refused.stdout)
    assert (answer["allowed"], answer["plugin"], answer["code"]) == (False, "casbin", 108)
    assert answer["message"] == (
        "component(s) not granted to party 10000: reader, heterolr; "
        "dataset(s) not granted to party 10000: experiment:breast"
    )

    granted = fresh_env.run("python", "grant.py")
    assert granted.returncode == 0, granted.stderr
    allowed = fresh_env.run(*call, **CHAIN)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert json.loads(allowed.stdout)["plugin"] == "casbin"
