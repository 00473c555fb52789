"""ApiReader on loopback: millions of ids up and their features down through
``reg.api_reader("THIRD").fetch``, the fetching process's peak memory, and ``curl`` moving the
same bytes to and from the same service in the same run (the baseline).

    python benchmarks/bench_apireader.py [--ids 1000000,5000000] [--runs 3]

``fate-registry serve`` and ``contrib/fate-reference-service`` run as processes; the reference
service registers itself with the registry. Each fetch runs in a fresh process that generates
its ids (no ids file), so its peak RSS (``VmHWM``) minus its RSS just before the fetch
(``VmRSS``, registry open and every module imported) is what the fetch itself costs. Then curl
downloads the same job's features to a file and uploads the same id file (written by this
script) with ``-F file=@ids;filename=id``, against the same service, right after ours.
Throughput is the id file's bytes over the upload's time, and the feature file's bytes over
the download's; the ratio is ours over curl's (1.0: as fast as curl). The feature job in
between is the service's work and is timed apart (``wait``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from bench_args import positive_int

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "contrib" / "fate-reference-service"
MB = 1 << 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ids(count: int) -> Iterator[str]:
    """The benchmark's ids: phone-number-like, 11 digits (made at C speed: a Python generator
    would cost more than the upload)."""
    return map(str, range(10**10, 10**10 + count))


def memory(field: str) -> int:
    """A ``/proc/self/status`` memory field in bytes (VmRSS now, VmHWM the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


# -- the fetching process ---------------------------------------------------------------------


def fetch(db_url: str, count: int, source: Path | None, dest: Path) -> None:
    """Run in a fresh process: one fetch of ``count`` ids from the ``source`` file, or made
    here when None; its phases' times and its memory, as JSON."""
    from fate_registry import Registry
    from fate_registry.apireader import Progress

    marks: dict[str, float] = {}

    def progress(event: Progress) -> None:
        now = time.perf_counter()
        marks.setdefault(f"{event.step}_first", now)
        marks[f"{event.step}_last"] = now

    with Registry(db_url) as registry:
        reader = registry.api_reader("THIRD")
        registry.resolve("THIRD", "upload")  # the first lookup's SQL is not the fetch's
        baseline = memory("VmRSS")
        started = time.perf_counter()
        result = reader.fetch(
            source or ids(count), dest, first_poll=0.2, max_poll=1.0, progress=progress
        )
        ended = time.perf_counter()
    print(
        json.dumps(
            {
                "baseline": baseline,
                "peak": memory("VmHWM"),
                "upload_s": marks["upload_last"] - started,
                "wait_s": marks["wait_last"] - marks["upload_last"],
                "download_s": ended - marks["wait_last"],
                "ids_bytes": result.ids_bytes,
                "feature_bytes": result.bytes,
                "rows": result.rows,
                "job_id": result.job_id,
            }
        )
    )


# -- the baseline: curl -----------------------------------------------------------------------


def curl_upload(port: int, ids_file: Path) -> float:
    """Upload ``ids_file`` as FATE Flow does, with curl; its seconds. Waits for the job (it
    would compete with what is measured next)."""
    base = f"http://127.0.0.1:{port}"
    job = "202601010000000000"
    body = json.dumps({"job_id": job, "sign": hashlib.md5(job.encode()).hexdigest()})
    started = time.perf_counter()
    upload = subprocess.run(
        ["curl", "-sS", "--fail", f"{base}/v1/upload?{urlencode({'requestBody': body})}",
         "-F", f"file=@{ids_file};filename=id;type=application/octet-stream"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    job_id = json.loads(upload.stdout)["data"]["jobId"]
    while requests.post(f"{base}/v1/query", json={"jobId": job_id}).json()["status"] == "running":
        time.sleep(0.2)
    return seconds


def curl_download(port: int, job_id: str, dest: Path) -> float:
    """Download a finished job's features to ``dest`` with curl; its seconds."""
    base = f"http://127.0.0.1:{port}"
    request = json.dumps({"jobId": job_id, "sign": hashlib.md5(job_id.encode()).hexdigest()})
    started = time.perf_counter()
    subprocess.run(
        ["curl", "-sS", "--fail", f"{base}/v1/download?{urlencode({'requestBody': request})}",
         "-o", str(dest)],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


# -- the servers ------------------------------------------------------------------------------


@contextmanager
def services(home: Path) -> Iterator[tuple[str, int]]:
    """``fate-registry serve`` and the reference service (registered as THIRD)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FATE_REGISTRY_")}
    env["PYTHONPATH"] = str(REFERENCE)
    db_url = f"sqlite:///{home / 'registry.db'}"
    registry_port, service_port = free_port(), free_port()
    serve = subprocess.Popen(
        [str(Path(sys.executable).parent / "fate-registry"), "--db", db_url, "serve",
         "--port", str(registry_port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    log = home / "service.log"
    service = subprocess.Popen(
        [sys.executable, "-m", "fate_reference_service", "--registry",
         f"http://127.0.0.1:{registry_port}", "--name", "THIRD", "--port", str(service_port),
         "--data-dir", str(home / "jobs")],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while b"registered with" not in log.read_bytes():
            if service.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the reference service did not start: {log.read_text()}")
            time.sleep(0.1)
        yield db_url, service_port
    finally:
        for process in (service, serve):
            process.terminate()
            process.wait(timeout=30)


def our_fetch(count: int, db_url: str, source: Path | None, dest: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--fetch", str(count), "--db", db_url, "--dest", str(dest)]
    if source is not None:
        command += ["--source", str(source)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["rows"] == count, result
    return result


def run(count: int, db_url: str, port: int, home: Path) -> dict[str, float]:
    """One round: our fetch from the id file, then at once curl downloading the same job's
    features and uploading the same file; our fetch from ids made in the fetching process."""
    ids_file, dest, curl_dest = home / "ids.csv", home / "features.csv", home / "curl.csv"
    with ids_file.open("w") as out:
        out.write("id\n")
        out.writelines(f"{i}\n" for i in ids(count))
    from_file = our_fetch(count, db_url, ids_file, dest)
    curl = {"download_s": curl_download(port, from_file["job_id"], curl_dest)}
    curl["upload_s"] = curl_upload(port, ids_file)
    assert curl_dest.read_bytes() == dest.read_bytes()
    for path in (curl_dest, dest):
        path.unlink()
    made = our_fetch(count, db_url, None, dest)
    assert (
        made["feature_bytes"]
        == from_file["feature_bytes"]
        == ids_file.stat().st_size + (from_file["feature_bytes"] - ids_file.stat().st_size)
    )
    for path in (dest, ids_file):
        path.unlink()
    up_mb, down_mb = from_file["ids_bytes"] / MB, from_file["feature_bytes"] / MB
    return {
        "extra_mb_file": (from_file["peak"] - from_file["baseline"]) / MB,
        "extra_mb_made": (made["peak"] - made["baseline"]) / MB,
        "baseline_mb": from_file["baseline"] / MB,
        "up_mb_s": up_mb / from_file["upload_s"],
        "up_made_mb_s": up_mb / made["upload_s"],
        "curl_up_mb_s": up_mb / curl["upload_s"],
        "down_mb_s": down_mb / from_file["download_s"],
        "curl_down_mb_s": down_mb / curl["download_s"],
        "wait_s": from_file["wait_s"],
        "ids_mb": up_mb,
        "features_mb": down_mb,
    }


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", default="1000000,5000000", help="comma list of id counts")
    parser.add_argument("--runs", type=positive_int, default=3)
    parser.add_argument("--fetch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--dest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fetch:
        fetch(args.db, args.fetch, args.source, args.dest)
        return
    counts = [int(n) for n in args.ids.split(",")]
    results: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory(prefix="bench-apireader-") as scratch:
        home = Path(scratch)
        with services(home) as (db_url, port):
            for attempt in range(args.runs):
                for count in counts:
                    result = run(count, db_url, port, home)
                    results[count].append(result)
                    print(f"run {attempt + 1} {count:>9,} ids: " + ", ".join(
                        f"{k} {v:.1f}" for k, v in result.items()), flush=True)  # fmt: skip
    print(f"\nmedian (min-max) over {args.runs} runs; MB/s of the id file up, the features down")
    columns = {
        "extra RSS MB, file": "extra_mb_file",
        "extra RSS MB, made": "extra_mb_made",
        "up, file": "up_mb_s",
        "up, made": "up_made_mb_s",
        "curl up": "curl_up_mb_s",
        "down": "down_mb_s",
        "curl down": "curl_down_mb_s",
    }
    print(f"{'ids':>10} {'MB up':>6} {'MB down':>8} " + " ".join(f"{c:>19}" for c in columns)
          + f" {'up/curl':>8} {'down/curl':>9}")  # fmt: skip
    for count, runs in results.items():
        up = statistics.median(r["up_mb_s"] / r["curl_up_mb_s"] for r in runs)
        down = statistics.median(r["down_mb_s"] / r["curl_down_mb_s"] for r in runs)
        cells = " ".join(f"{spread([r[key] for r in runs]):>19}" for key in columns.values())
        print(
            f"{count:>10,} {runs[0]['ids_mb']:>6.0f} {runs[0]['features_mb']:>8.0f} {cells} "
            f"{up:>8.2f} {down:>9.2f}"
        )


if __name__ == "__main__":
    main()
