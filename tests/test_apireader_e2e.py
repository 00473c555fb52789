"""ApiReader end to end: ``fate-registry serve`` and the reference service as real processes on
loopback, the reference service registered over the registry's HTTP API; 100,000 ids fetched
and every row checked, and each failure a clear error naming its step with no file left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callback_service import callback_app, free_port, serve
from reference_processes import (
    FATE_REGISTRY,
    REFERENCE,
    Running,
    environment,
    registry_and_reference_service,
)

from fate_registry import Registry
from fate_registry.apireader import FetchFailed

sys.path.insert(0, str(REFERENCE))
from fate_reference_service import feature_row

IDS = 100_000


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with registry_and_reference_service(tmp_path_factory.mktemp("e2e")) as running:
        yield running


@pytest.fixture
def registry(running: Running) -> Iterator[Registry]:
    with Registry(running.db_url, cache_ttl=0) as reg:
        yield reg


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path


def expected_features(count: int, column: str = "id") -> Iterator[str]:
    yield f"{column},x0,x1,x2\n"
    for i in range(count):
        yield feature_row(f"u{i}")


def assert_features(path: Path, count: int) -> None:
    with path.open() as got:
        for line, (want, have) in enumerate(zip(expected_features(count), got, strict=True)):
            assert have == want, f"line {line + 1}"


def test_the_reference_service_registered_itself_over_http(registry: Registry) -> None:
    services = {s.service_name for s in registry.services("THIRD")}
    assert services == {
        "upload",
        "query",
        "download",
        "client_authentication",
        "signature",
        "site_authentication",
        "permission",
    }


def test_100000_ids_from_an_iterable_through_the_python_api(registry: Registry, out: Path) -> None:
    dest = out / "features.csv"
    result = registry.api_reader("THIRD").fetch((f"u{i}" for i in range(IDS)), dest, first_poll=0.2)
    assert (result.rows, result.path, result.bytes) == (IDS, dest, dest.stat().st_size)
    assert_features(dest, IDS)


def test_100000_ids_from_a_file_through_the_python_api(registry: Registry, out: Path) -> None:
    ids = out / "ids.csv"
    ids.write_text("id\n" + "".join(f"u{i}\n" for i in range(IDS)))
    result = registry.api_reader("THIRD").fetch(ids, out / "features.csv", first_poll=0.2)
    assert result.rows == IDS and result.ids_bytes == ids.stat().st_size
    assert_features(out / "features.csv", IDS)


# -- failures: each names its step, and leaves nothing at dest --------------------------------


def test_service_down_at_upload(registry: Registry, out: Path) -> None:
    registry.register_server("DOWN", "127.0.0.1", free_port())  # nothing listens there
    registry.register_service("DOWN", "upload", "/v1/upload")
    with pytest.raises(FetchFailed, match=r"upload.*connection failed") as failed:
        registry.api_reader("DOWN").fetch(["u1"], out / "f.csv")
    assert failed.value.step == "upload"
    assert list(out.iterdir()) == []


def test_upload_refused_carries_the_service_message(registry: Registry, out: Path) -> None:
    with pytest.raises(FetchFailed, match="refused with code 102: features must be") as failed:
        registry.api_reader("THIRD").fetch(["u1"], out / "f.csv", parameters={"features": ["x9"]})
    assert failed.value.step == "upload"
    assert list(out.iterdir()) == []


@pytest.fixture
def faulty(registry: Registry) -> Iterator[str]:
    """Server FAULTY: the reference service's upload, and a query or download that fails."""
    with serve(callback_app()) as (host, port):
        registry.register_server("FAULTY", host, port)
        registry.register_service("FAULTY", "upload", "/upload")
        yield "FAULTY"


def test_job_failing(registry: Registry, faulty: str, out: Path) -> None:
    registry.register_service(faulty, "query", "/query-word/data/FAILED")
    with pytest.raises(
        FetchFailed, match="waiting for job 'job-42': the job failed, the service says 'FAILED'"
    ) as e:
        registry.api_reader(faulty).fetch(["u1"], out / "f.csv", first_poll=0.05)
    assert e.value.step == "wait"
    assert list(out.iterdir()) == []


def test_job_never_finishing(registry: Registry, faulty: str, out: Path) -> None:
    registry.register_service(faulty, "query", "/query-word/top/RUNNING")
    with pytest.raises(FetchFailed, match=r"still running after 0.5 s \(timeout\)") as e:
        registry.api_reader(faulty).fetch(["u1"], out / "f.csv", timeout=0.5, first_poll=0.05)
    assert e.value.step == "wait"
    assert list(out.iterdir()) == []


def test_download_cut_mid_stream(registry: Registry, faulty: str, out: Path) -> None:
    registry.register_service(faulty, "query", "/query-word/data/Success")
    registry.register_service(faulty, "download", "/download-cut")
    with pytest.raises(FetchFailed, match=r"download cut after \d+ of 100000 bytes") as e:
        registry.api_reader(faulty).fetch(["u1"], out / "f.csv", first_poll=0.05)
    assert e.value.step == "download"
    assert list(out.iterdir()) == []


# -- the command line -------------------------------------------------------------------------


def cli(running: Running, *args: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FATE_REGISTRY), "--db", running.db_url, *args],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=300,
        **popen,
    )


def test_100000_ids_through_the_cli_with_plain_progress(running: Running, out: Path) -> None:
    ids = out / "ids.csv"
    ids.write_text("id\n" + "".join(f"u{i}\n" for i in range(IDS)))
    dest = out / "features.csv"
    done = cli(running, "api-reader", "fetch", "--server", "third", "--ids", str(ids),
               "--out", str(dest))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{dest}: 100,000 rows")
    lines = done.stderr.splitlines()  # not a terminal: plain lines, no bars
    assert lines[0].startswith("upload: ") and lines[-1].startswith("done: 100,000 rows")
    assert any(line.startswith("wait: job ") for line in lines)
    assert_features(dest, IDS)


def test_cli_json_answer(running: Running, out: Path) -> None:
    ids = out / "ids.csv"
    ids.write_text("id\nu0\nu1\n")
    done = cli(running, "api-reader", "fetch", "--server", "THIRD", "--ids", str(ids),
               "--out", str(out / "f.csv"), "--json")  # fmt: skip
    answer = json.loads(done.stdout)
    assert (answer["rows"], answer["path"]) == (2, str(out / "f.csv"))


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--param", "nokey"], "--param 'nokey': give key=value"),
        (["--id-column", "uid"], "no column 'uid' in its header 'id'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    running: Running, out: Path, args: list[str], problem: str
) -> None:
    ids = out / "ids.csv"
    ids.write_text("id\nu0\n")
    done = cli(running, "api-reader", "fetch", "--server", "THIRD", "--ids", str(ids),
               "--out", str(out / "f.csv"), *args)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and problem in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["ids.csv"]


def test_cli_failure_names_the_step_and_exits_1(
    running: Running, registry: Registry, faulty: str, out: Path
) -> None:
    registry.register_service(faulty, "query", "/query-word/data/Success")
    registry.register_service(faulty, "download", "/download-cut")
    ids = out / "ids.csv"
    ids.write_text("id\nu0\n")
    done = cli(running, "api-reader", "fetch", "--server", faulty, "--ids", str(ids),
               "--out", str(out / "f.csv"))  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("error: download failed in plugin 'http'")
    assert "download cut after" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["ids.csv"]


def test_ctrl_c_cancels_cleanly_leaving_no_file(
    running: Running, registry: Registry, faulty: str, out: Path
) -> None:
    registry.register_service(faulty, "query", "/query-word/data/Success")
    registry.register_service(faulty, "download", "/download-endless")
    ids = out / "ids.csv"
    ids.write_text("id\nu0\n")
    process = subprocess.Popen(
        [str(FATE_REGISTRY), "--db", running.db_url, "api-reader", "fetch", "--server", faulty,
         "--ids", str(ids), "--out", str(out / "f.csv")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(),
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:  # wait until the download is under way
        if line.startswith("download: "):
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "error: cancelled: nothing written to" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["ids.csv"]


def test_the_demo_runs_each_step() -> None:
    done = subprocess.run(
        [str(FATE_REGISTRY), "demo", "--ids", "2000"],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for expected in (
        "registered over the registry's HTTP API: server THIRD",
        "download: 2,000 rows",
        "client_authentication: allow",
        "signature: allow",
        "site_authentication: allow",
        "permission: allow",
        "done",
    ):
        assert expected in done.stdout


def test_the_demo_keeps_both_running_for_the_console_and_status(tmp_path: Path) -> None:
    """What a newcomer does with `demo --keep`: status shows the reference service passing;
    they stop it, status and the console show it critical; Ctrl-C stops the rest."""
    import re

    import requests
    from waiting import wait_until

    from fate_registry.client import RegistryClient

    log = tmp_path / "demo.out"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [str(FATE_REGISTRY), "demo", "--keep", "--ids", "100"],
            stdout=out, stderr=subprocess.STDOUT, env=environment(), text=True,
        )  # fmt: skip
    try:
        wait_until(lambda: "kill " in log.read_text(), "the demo's directions", within=120)
        text = log.read_text()
        url = re.search(r"console: +(http://\S+)/ui", text)[1]  # type: ignore[index]
        service_pid = int(re.search(r"kill (\d+)", text)[1])  # type: ignore[index]

        def statuses() -> set[str]:
            with RegistryClient(url) as client:
                return {s["status"] for s in client.status()["services"]}

        wait_until(lambda: statuses() == {"passing"}, "the reference service passing", 60)
        os.kill(service_pid, signal.SIGTERM)
        wait_until(lambda: statuses() == {"critical"}, "the reference service critical", 60)
        # the console says so too: its services page's content, as the page fetches it
        console = requests.get(f"{url}/ui/fragment/services", timeout=30).text
        assert console.count("critical") >= 7
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0, log.read_text()
        assert log.read_text().rstrip().endswith("done")
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
