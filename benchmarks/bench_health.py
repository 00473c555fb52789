"""Health checks at scale: probes per second and the prober's CPU, with no storm.

    python benchmarks/bench_health.py [--servers 1000] [--per-server 5] [--interval 10]
                                      [--seconds 30]

Registers ``servers`` servers with ``per-server`` services each, every service with an HTTP
check, all pointing at one stub service (plain asyncio on 8 ports, in another process),
then runs two ``fate-registry serve`` processes on the same SQLite database: one with the health
checks on (it takes the lease and probes), one with them off (the baseline: the same serve,
idle, on the same machine at the same time). Each second it reads the prober's probe counter
(/metrics) and both processes' CPU time (/proc), after one interval of warm-up. The expected
rate is (servers + services) / interval; a storm would show as seconds far above it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from bench_args import positive_float, positive_int
from bench_dispatch import free_port

from fate_registry import Registry
from fate_registry.models import ServerRegistration, ServiceRegistration

TICKS = os.sysconf("SC_CLK_TCK")
STUB_PORTS = 8
# The stub: plain asyncio on several ports (a site's services are on many), answering 200 to
# anything; the client closes first, as the prober does.
STUB = """
import asyncio, sys
REPLY = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok"
async def answer(reader, writer):
    try:
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(REPLY)
        await writer.drain()
        await asyncio.wait_for(reader.read(), 5)  # the client closes first: its TIME_WAIT
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
        pass  # a TCP check: connected, then closed
    writer.close()
async def main():
    for port in sys.argv[1:]:
        await asyncio.start_server(answer, "127.0.0.1", int(port), backlog=4096)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def probes(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(value)
        for value in re.findall(r"^fate_registry_health_probes_total\{[^}]*\} (\S+)$", text, re.M)
    )


def start_stub(ports: list[int]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", STUB, *map(str, ports)])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{ports[-1]}/health", timeout=1).ok:
                return process
        except requests.RequestException:  # not listening yet
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the stub service did not start")


def start_serve(db_url: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FATE_REGISTRY_")}
    command = [sys.executable, "-m", "fate_registry.cli", "--db", db_url, "serve", "--port",
               str(port), "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, env={**clean, **env}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok:
                return process
        except requests.RequestException:  # not listening yet
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=positive_int, default=1000)
    parser.add_argument("--per-server", type=positive_int, default=5)
    parser.add_argument("--interval", type=positive_float, default=10.0)
    parser.add_argument("--seconds", type=positive_int, default=30)
    args = parser.parse_args()

    stub_ports = [free_port() for _ in range(STUB_PORTS)]
    stub = start_stub(stub_ports)
    processes: list[subprocess.Popen[bytes]] = [stub]
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'registry.db'}"
        with Registry(db_url) as registry:
            servers = [
                ServerRegistration(
                    name=f"S{i:05}", host="127.0.0.1", port=stub_ports[i % STUB_PORTS]
                )
                for i in range(args.servers)
            ]
            services = [
                ServiceRegistration(
                    server_name=f"S{i:05}",
                    service_name=f"svc{j}",
                    uri="/call",
                    check={"path": "/health", "timeout": 2},
                )
                for i in range(args.servers)
                for j in range(args.per_server)
            ]
            registry.register_many(servers, services)
        targets = args.servers * (1 + args.per_server)
        env = {"FATE_REGISTRY_HEALTH__INTERVAL": str(args.interval)}
        try:
            on_port, off_port = free_port(), free_port()
            prober = start_serve(db_url, on_port, env)
            processes.append(prober)
            idle = start_serve(db_url, off_port, {**env, "FATE_REGISTRY_HEALTH__ENABLED": "false"})
            processes.append(idle)
            url = f"http://127.0.0.1:{on_port}"
            print(
                f"{args.servers:,} servers, {targets - args.servers:,} services with an HTTP "
                f"check: {targets:,} checks every {args.interval:g} s "
                f"(expected {targets / args.interval:,.0f} probes/s)"
            )
            time.sleep(args.interval)  # warm-up: the first round takes the lease and starts
            rates = []
            start_probes, start_time = probes(url), time.monotonic()
            cpu_start = {p.pid: cpu_seconds(p.pid) for p in processes}
            last_probes, last_time = start_probes, start_time
            for _ in range(args.seconds):
                time.sleep(1)
                now_probes, now = probes(url), time.monotonic()
                rates.append((now_probes - last_probes) / (now - last_time))
                last_probes, last_time = now_probes, now
            elapsed = last_time - start_time
            cpu = {p.pid: (cpu_seconds(p.pid) - cpu_start[p.pid]) / elapsed for p in processes}
        finally:
            for process in reversed(processes):  # the stub last: the prober probes until then
                process.terminate()
                process.wait(10)
    mean = (last_probes - start_probes) / elapsed
    print(
        f"probes/s over {elapsed:.0f} s: mean {mean:,.0f}, per second median "
        f"{statistics.median(rates):,.0f}, min {min(rates):,.0f}, max {max(rates):,.0f} "
        f"(max / mean {max(rates) / mean:.2f})"
    )
    print(
        f"CPU (share of one core): prober serve {cpu[prober.pid]:.0%}, idle serve "
        f"(checks off) {cpu[idle.pid]:.0%}, the stub service {cpu[stub.pid]:.0%}"
    )


if __name__ == "__main__":
    main()
