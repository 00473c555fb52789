"""Oversized headers against ``fate-registry serve``: does the server's memory stay flat?

    python benchmarks/bench_headers.py [--rounds 5] [--connections 10] [--header-mib 20]
        [--settle 1] [--requests 5000] [--also LABEL=PYTHON ...] [--h11]

Each build's ``serve`` (one worker, default settings, its own SQLite file) runs in its own
process. A round opens ``--connections`` connections at once, each sending ``GET /healthz`` with
no credentials and one header of ``--header-mib`` MiB, in 64 KiB writes, then reading what the
server answers until it closes. The server's RSS (``VmRSS`` of /proc) is read before the round,
every 5 ms during it (the peak), and after it (``--settle`` seconds after the last connection
closed, and a ``/healthz`` answered). Rounds of the builds are taken in turn.

``--also LABEL=PYTHON`` (repeatable) adds the ``serve`` of another environment (an earlier
build); ``--h11`` runs each build once more with httptools hidden (a directory first on
PYTHONPATH whose ``httptools`` cannot be imported), so that uvicorn and serve run h11.

What the bound costs a request that keeps to it: after each round, ``--requests`` requests
(``GET /healthz`` with the ten header fields of a FATE client's signed request) on one
kept-alive connection, and the server's CPU time they took (utime and stime of /proc), per
request.

Prints per round: RSS before, peak and after (MiB), the replies (status, or ``none`` when the
connection closed without one), the MiB the clients wrote before the server closed (the
sockets' buffers hold a few of them) and the CPU per normal request; then per build: RSS after
the last round minus before the first, the spread over rounds of peak minus before and after
minus before, and the median CPU per request with its per-round ratio to the first build's.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import requests
from bench_args import positive_float, positive_int
from bench_dispatch import free_port
from bench_gateway import add_also, start_serve

CHUNK = 64 * 1024
MIB = 1024 * 1024
# A FATE client's signed request, as requests sends it: ten header fields.
NORMAL = (
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: python-requests/2.32.3\r\n"
    b"Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n"
    b"TIMESTAMP: 1700000000000\r\nNONCE: 5f0b6c3e9a8d4e7f\r\nAPP_KEY: fate\r\n"
    b"SIGNATURE: 0lVq5D0cJtY4mJ8b0nq2m1c8R0E=\r\nContent-Length: 0\r\n\r\n"
)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def oversized(port: int, size: int) -> tuple[str, int]:
    """One request with a header of ``size`` bytes: the reply's status (or ``none``), and the
    bytes written before the server closed the connection."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
            sock.sendall(b"X-Big: ")
            chunk = b"a" * CHUNK
            while sent < size:
                sock.sendall(chunk)
                sent += CHUNK
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed before reading it all: its reply, if any, can still be read
        answer = b""
        try:
            while received := sock.recv(65536):
                answer += received
        except ConnectionResetError:
            pass
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "none"
    return status, sent


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def normal_cost(build: Build, requests_: int) -> float:
    """Microseconds of the server's CPU per normal request, on one kept-alive connection."""
    started = cpu_seconds(build.process.pid)
    with socket.create_connection(("127.0.0.1", build.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(requests_):
            sock.sendall(NORMAL)
            answer = b""
            while not answer.endswith(b"}"):  # /healthz answers a small JSON object
                answer += sock.recv(4096)
    return (cpu_seconds(build.process.pid) - started) / requests_ * 1e6


class Peak:
    """The highest RSS of a process while the block runs, read every 5 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mib = rss_mib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.mib = max(self.mib, rss_mib(self.pid))

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Build:
    label: str
    process: Popen[bytes]
    port: int
    rounds: list[tuple[float, float, float]] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)


def one_round(build: Build, connections: int, size: int, settle: float, normal: int) -> str:
    pid = build.process.pid
    before = rss_mib(pid)
    results: list[tuple[str, int]] = []
    with Peak(pid) as peak:
        threads = [
            threading.Thread(target=lambda: results.append(oversized(build.port, size)))
            for _ in range(connections)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    time.sleep(settle)  # the server's memory has no event to await
    requests.get(f"http://127.0.0.1:{build.port}/healthz", timeout=30).raise_for_status()
    after = rss_mib(pid)
    build.rounds.append((before, peak.mib, after))
    build.costs.append(normal_cost(build, normal))
    replies = Counter(status for status, _ in results)
    sent_mib = sum(sent for _, sent in results) / MIB
    shown = ", ".join(f"{count}x {status}" for status, count in sorted(replies.items()))
    return (
        f"{build.label:28} {before:8.1f} {peak.mib:8.1f} {after:8.1f}   {shown:12} "
        f"{sent_mib:8.1f} of {connections * size / MIB:<4.0f} {build.costs[-1]:8.0f}"
    )


def hidden_httptools(directory: Path) -> str:
    package = directory / "httptools"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("raise ImportError('hidden by bench_headers.py')\n")
    return str(directory)


def spread(values: list[float]) -> str:
    return f"{min(values):+.1f} to {max(values):+.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--connections", type=positive_int, default=10, help="per round")
    parser.add_argument("--header-mib", type=positive_int, default=20, help="one header's size")
    parser.add_argument(
        "--settle", type=positive_float, default=1.0, help="seconds before RSS is read after"
    )
    parser.add_argument(
        "--requests", type=positive_int, default=5000, help="normal requests after a round"
    )
    parser.add_argument("--h11", action="store_true", help="each build with h11 as well")
    add_also(parser, "also measure that interpreter's environment's serve; repeatable")
    args = parser.parse_args()
    size = args.header_mib * MIB
    print(
        f"python {sys.version.split()[0]}, loopback, each serve in its own process; "
        f"{args.rounds} rounds of {args.connections} connections, one {args.header_mib} MiB "
        "header each"
    )

    builds: list[Build] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            variants = [("this build", sys.executable), *args.also]
            for label, python in variants:
                parsers = [("", {})]
                if args.h11:
                    parsers.append((", h11", {"PYTHONPATH": hidden_httptools(Path(tmp))}))
                for suffix, env in parsers:
                    name = f"{label}{suffix}"
                    port = free_port()
                    db_url = f"sqlite:///{Path(tmp) / f'{len(builds)}.db'}"
                    builds.append(Build(name, start_serve(db_url, port, env, python), port))
            print(
                f"\n{'':28} {'RSS MiB: before':>15} {'peak':>8} {'after':>8}   "
                f"{'replies':12} {'MiB sent':15} {'CPU us/request'}"
            )
            for number in range(1, args.rounds + 1):
                print(f"round {number}")
                for build in builds:
                    line = one_round(build, args.connections, size, args.settle, args.requests)
                    print(line, flush=True)
            print(
                f"\n{'':28} {'after last - before first':>26} {'peak - before':>16} "
                f"{'after - before':>16}  (MiB; spread over rounds)   CPU us/request, "
                f"ratio to {builds[0].label}"
            )
            for build in builds:
                first, last = build.rounds[0], build.rounds[-1]
                peaks = [peak - before for before, peak, _ in build.rounds]
                afters = [after - before for before, _, after in build.rounds]
                ratios = [a / b for a, b in zip(build.costs, builds[0].costs, strict=True)]
                print(
                    f"{build.label:28} {last[2] - first[0]:+26.1f} {spread(peaks):>16} "
                    f"{spread(afters):>16}  {statistics.median(build.costs):26.0f}, "
                    f"{statistics.median(ratios):.2f} ({min(ratios):.2f} to {max(ratios):.2f})"
                )
        finally:
            for build in builds:
                build.process.terminate()
            for build in builds:
                build.process.wait(10)


if __name__ == "__main__":
    main()
