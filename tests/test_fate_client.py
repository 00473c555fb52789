"""Registration through fate_client's own request code (1.11.3 and 2.1.0, from PyPI) against a
real `fate-registry serve`: retcode/code 0, FATE's row keys in the replies, the 1.x alias routes.

Each release is installed with ``pip install --no-deps --target`` into its own directory (the two
cannot share an environment) and run in a subprocess with that directory on ``PYTHONPATH``; its
few imports (requests, click) come from this environment. Without a package index the tests
skip, and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fate_client_support import install
from serve_support import start_serve

SCRIPTS = Path(__file__).parent / "fate_client_scripts"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("fate-client") / "registry.db"
    with start_serve(f"sqlite:///{db}") as base:
        yield base


def run(script: str, fate_client: Path, base: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(fate_client)}
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / script), base],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    replies: dict[str, Any] = json.loads(done.stdout)
    return replies


def test_fate_client_1_11_3_registers_and_reads_fate_flows_keys(
    tmp_path_factory: pytest.TempPathFactory, registry: str
) -> None:
    fate_client = install("1.11.3", tmp_path_factory.mktemp("fate-client-1.11.3"))
    replies = run("registration_1_11.py", fate_client, registry)
    divergences = {  # where fate-registry differs from FATE Flow on purpose (docs/fate-flow.md)
        "get an unknown server": 102,  # FATE Flow: retcode 0 without data
        "an unknown field": 101,  # FATE Flow ignores it
        "delete a server with services": 103,  # FATE Flow 1.x has no delete route
    }
    codes = {name: reply["retcode"] for name, reply in replies.items()}
    assert codes == {**dict.fromkeys(replies, 0), **divergences}, replies
    assert "name" in replies["an unknown field"]["retmsg"]
    (row,) = replies["service query"]["data"]["service_info"]
    assert (row["f_server_name"], row["f_service_name"], row["f_method"], row["f_url"]) == (
        "THIRD",
        "upload",
        "POST",
        f"{registry}/v1/upload",
    )
    assert replies["get (alias)"]["data"] == replies["get"]["data"]
    assert {"THIRD", "OTHER"} <= set(replies["flow service registry"]["data"])


def test_fate_client_2_1_0_registers_and_reads_fate_flows_keys(
    tmp_path_factory: pytest.TempPathFactory, registry: str
) -> None:
    fate_client = install("2.1.0", tmp_path_factory.mktemp("fate-client-2.1.0"))
    replies = run("registration_2_1.py", fate_client, registry)
    refusals = {
        "query an unknown service": 102,  # FATE Flow 2.x refuses it too, with its own code
        "delete a server with services": 103,  # FATE Flow 2.x deletes it, leaving its services
    }
    codes = {name: reply["code"] for name, reply in replies.items()}
    assert codes == {**dict.fromkeys(replies, 0), **refusals}, replies
    server = replies["query"]["data"]
    assert (server["server_name"], server["port"]) == ("THIRD", int(registry.rsplit(":", 1)[1]))
    service = replies["service query"]["data"]
    assert (service["server_name"], service["service_name"]) == ("THIRD", "upload")
    assert "THIRD" in replies["query all"]["data"]
