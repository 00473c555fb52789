"""contrib/fate-registry-casbin built into a wheel and installed into a fresh virtual environment
beside fate-registry's wheel: listed by ``fate-registry plugins``, silent until named in the
permission chain, then deciding by the policies granted through its Python API. (Its own
tests run under ``tox -e casbin``.)"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from wheel_support import ROOT, copy_of, install_wheels, user_environ

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
        environ = user_environ("FATE_CASBIN_")
        environ.update(FATE_REGISTRY_DB_URL=f"sqlite:///{self.home / 'registry.db'}", **env)
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=environ,
            cwd=self.home,
            timeout=120,
        )


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshEnv]:
    home = tmp_path_factory.mktemp("casbin-wheel")
    plugin = copy_of(
        CASBIN, home / "fate-registry-casbin", "fate_registry_casbin", "pyproject.toml", "README.md"
    )
    bin_dir = install_wheels(home, plugin)
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
