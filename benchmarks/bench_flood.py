"""Floods of 50 clients: does /healthz stay quick while they hold a hung callback service, and do
the bounds on plugin calls in flight cost throughput when the service is healthy?

    python benchmarks/bench_flood.py [--runs 3] [--clients 50] [--seconds 8] [--rounds 6]

``fate-registry serve`` (one worker, default settings but those named) runs in its own process
on a SQLite file, and so does the callback service, a plain ASGI app under uvicorn with h11 and
asyncio (as in bench_gateway.py): ``/hang`` never answers, holding the connection until the
caller gives up; any other path answers allow at once. ``/healthz`` is timed from another
process every 20 ms with a keep-alive session, so that the flood's threads do not share its
interpreter. The flood is ``--clients`` threads, each with a keep-alive session, sending the
next request as soon as the last is answered.

- baseline: ``/healthz`` with no flood, on the server of (a) and (b);
- (a) ``POST /v1/hook/permission``, the ``permission`` service registered at ``/hang``: the
  server has admin tokens and ``hooks.gateway_protection = "read"``, so the route needs no token,
  as for FATE Flow 1.11's own hooks; each decision waits for its 5 s deadline;
- (b) token-less ``POST /v1/server/evil/register`` on the same server, its
  ``client_authentication`` service registered at ``/hang``: admin tokens set, every write
  without one asks the chain, which waits for its 5 s deadline, then 401;
- (c) the same flood of (a) against the healthy service (``permission`` at ``/allow``, decision
  cache off so every request calls it), on two servers: the default ``max_in_flight`` (64) and
  the limit effectively off (100000), in ``--rounds`` rounds of ``--round-seconds`` each, taken
  in turn (the order alternating, so that a drift of the machine's load falls on both alike).
  Throughput of each is the median of its rounds; the ratio is the median of the rounds'
  ratios (target: no loss, 1.0).

Prints per run, then the spread (min / median / max) over the runs; the machine's load average
before and after.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
from bench_args import positive_float, positive_int
from prometheus_client.parser import text_string_to_metric_families

from fate_registry import Registry

PERMISSION = {  # FATE Flow 1.11's permission request, as its hook code builds it
    "src_role": None,
    "src_party_id": "9999",
    "role": "host",
    "party_id": "10000",
    "initiator": {"role": "guest", "party_id": 9999},
    "roles": {"guest": [9999], "host": [10000]},
    "component_list": ["reader", "dataio", "heterolr"],
    "dataset_list": [{"namespace": "experiment", "name": "breast_hetero_host"}],
    "run_time_conf": {},
    "dsl": {},
    "component_parameters": {},
}
WRITE = {"host": "10.0.0.1", "port": 1}
TOKEN = "bench-flood-admin-token-0123456789abcdef"
PROBE_INTERVAL = 0.02
WARM_UP = 1.0  # seconds of flood before /healthz is timed: every client has sent its first
ALLOW = b'{"code": 0, "msg": "success"}'


# -- the callback service (in its own process) -------------------------------------------------


async def service(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/hang``: never answers; returns when the caller closes the connection. Any other
    path: allow, at once."""
    if scope["type"] != "http":
        return
    message = await receive()
    while message.get("more_body", False):
        message = await receive()
    if scope["path"] == "/hang":
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ALLOW))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ALLOW})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], method: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {process.returncode}")
        try:
            requests.request(method, url, json={}, timeout=5)
            return
        except requests.RequestException:  # not up yet, or slow under load
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{url} did not answer within 60 s")


@contextmanager
def running(command: list[str], ready_url: str, method: str, env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # the access log: written, as in production, not read
    )
    try:
        _wait(ready_url, process, method)
        yield
    finally:
        process.kill()  # a graceful stop would wait for the hung requests
        process.wait()


def service_process(port: int) -> Any:
    code = (
        "import sys, uvicorn; sys.path.insert(0, sys.argv[1]); "
        "uvicorn.run('bench_flood:service', host='127.0.0.1', port=int(sys.argv[2]), "
        "log_level='warning', access_log=False, lifespan='off', http='h11', loop='asyncio')"
    )
    here = str(Path(__file__).resolve().parent)
    command = [sys.executable, "-c", code, here, str(port)]
    return running(command, f"http://127.0.0.1:{port}/allow", "post", {})


def serve_process(db_url: str, port: int, env: dict[str, str]) -> Any:
    script = shutil.which("fate-registry", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "fate_registry.cli"]
    command += ["serve", "--db", db_url, "--port", str(port)]
    return running(command, f"http://127.0.0.1:{port}/healthz", "get", env)


# -- timing /healthz from another process ------------------------------------------------------


def _probe(url: str, seconds: float, out: Connection) -> None:
    """In its own process: GET ``url`` every PROBE_INTERVAL for ``seconds``; sends the
    latencies (seconds) back."""
    latencies: list[float] = []
    with requests.Session() as session:
        session.get(url, timeout=30)  # the connection is open before timing starts
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            reply = session.get(url, timeout=30)
            latencies.append(time.perf_counter() - started)
            assert reply.status_code == 200, reply.text
            time.sleep(max(0.0, PROBE_INTERVAL - (time.perf_counter() - started)))
    out.send(latencies)
    out.close()


def probe_healthz(base: str, seconds: float) -> list[float]:
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    prober = context.Process(target=_probe, args=(f"{base}/healthz", seconds, sending))
    prober.start()
    latencies: list[float] = receiving.recv()
    prober.join(30)
    return latencies


# -- the flood ---------------------------------------------------------------------------------


@dataclass
class Flood:
    """``clients`` threads posting ``body`` to ``url`` until ``stop``; each answer is recorded as
    (when it ended, seconds it took, its outcome)."""

    url: str
    body: dict[str, Any]
    clients: int
    outcome: Callable[[requests.Response], str]
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[tuple[float, float, str]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def _client(self) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    result = self.outcome(session.post(self.url, json=self.body, timeout=60))
                except requests.RequestException as exc:
                    result = type(exc).__name__
                ended = time.perf_counter()
                self.answers.append((ended, ended - started, result))  # list.append: atomic

    def __enter__(self) -> Flood:
        self.threads = [threading.Thread(target=self._client) for _ in range(self.clients)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:  # each ends after its request in flight (a hung one: 5 s)
            thread.join(60)


def gateway_code(reply: requests.Response) -> str:
    if reply.status_code != 200:
        return f"HTTP {reply.status_code}"
    body = reply.json()
    refused = " (refused at once)" if "refused at once" in body.get("msg", "") else ""
    return f"code {body['code']}{refused}"


def http_status(reply: requests.Response) -> str:
    return f"HTTP {reply.status_code}"


def hook_results(base: str, capability: str) -> Counter[str]:
    """The server's fate_registry_hook_calls_total for ``capability``, by result."""
    text = requests.get(f"{base}/metrics", timeout=30).text
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "fate_registry_hook_calls_total"
                and sample.labels.get("capability") == capability
            ):
                counts[sample.labels["result"]] += int(sample.value)
    return counts


# -- figures -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def ms(values: list[float]) -> tuple[float, float]:
    return percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000


def spread(values: list[float], unit: str = "", digits: int = 1) -> str:
    return (
        f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} / "
        f"{max(values):.{digits}f}{unit}"
    )


@dataclass
class RunFigures:
    healthz: dict[str, tuple[float, float]] = field(default_factory=dict)  # phase: p50, p99 ms
    throughput: dict[str, float] = field(default_factory=dict)  # variant: median calls/s
    ratio: float = 0.0
    round_ratios: list[float] = field(default_factory=list)


def flood_phase(
    name: str,
    base: str,
    flood: Flood,
    seconds: float,
    capability: str,
    figures: RunFigures,
) -> None:
    before = hook_results(base, capability)
    with flood:
        time.sleep(WARM_UP)
        latencies = probe_healthz(base, seconds)
    after = hook_results(base, capability)
    p50, p99 = ms(latencies)
    figures.healthz[name] = (p50, p99)
    took = [seconds_ for _, seconds_, _ in flood.answers]
    outcomes = Counter(result for _, _, result in flood.answers)
    plugin_calls = {result: after[result] - before[result] for result in after}
    print(
        f"  {name}: /healthz p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f}"
        f" ms ({len(latencies)} probes); flood: {len(flood.answers)} answers "
        f"{dict(outcomes)}, each took p50 {percentile(took, 0.5):.2f} s; "
        f"{capability} plugin calls {plugin_calls}",
        flush=True,
    )


DEFAULT_LIMIT = "default max_in_flight (64)"
NO_LIMIT = "max_in_flight 100000 (off)"


def throughput_phase(args: argparse.Namespace, db_url: str, figures: RunFigures) -> None:
    """(c): the flood against the healthy service on two servers, one round each in turn
    (order alternating, so that a drift of the machine's load falls on both alike); a round's
    ratio compares two floods a few seconds apart."""
    cache_off = {"FATE_REGISTRY_HOOKS__PERMISSION__CACHE": "false"}
    envs = {
        DEFAULT_LIMIT: cache_off,
        NO_LIMIT: {**cache_off, "FATE_REGISTRY_HOOKS__PERMISSION__MAX_IN_FLIGHT": "100000"},
    }
    ports = {name: free_port() for name in envs}
    rates: dict[str, list[float]] = {name: [] for name in envs}
    with (
        serve_process(db_url, ports[DEFAULT_LIMIT], envs[DEFAULT_LIMIT]),
        serve_process(db_url, ports[NO_LIMIT], envs[NO_LIMIT]),
    ):
        for number in range(args.rounds + 1):  # round 0 warms both up, not counted
            order = [DEFAULT_LIMIT, NO_LIMIT] if number % 2 else [NO_LIMIT, DEFAULT_LIMIT]
            for name in order:
                url = f"http://127.0.0.1:{ports[name]}/v1/hook/permission"
                flood = Flood(url, PERMISSION, args.clients, gateway_code)
                with flood:
                    time.sleep(WARM_UP)
                    start = time.perf_counter()
                    time.sleep(args.round_seconds)
                    end = time.perf_counter()
                answered = [r for t, _, r in flood.answers if start <= t < end]
                wrong = Counter(r for r in answered if r != "code 0")
                if wrong:
                    print(f"  (c) {name}: answers other than allow: {dict(wrong)}")
                if number:
                    rates[name].append(len(answered) / (end - start))
        for name, port in ports.items():
            calls = hook_results(f"http://127.0.0.1:{port}", "permission")
            figures.throughput[name] = statistics.median(rates[name])
            print(
                f"  (c) {name}: median {figures.throughput[name]:.0f} decisions/s "
                f"(rounds: {', '.join(f'{r:.0f}' for r in rates[name])}); "
                f"plugin calls {dict(calls)}",
                flush=True,
            )
    ratios = [a / b for a, b in zip(rates[DEFAULT_LIMIT], rates[NO_LIMIT], strict=True)]
    figures.ratio = statistics.median(ratios)
    figures.round_ratios = ratios
    print(
        f"  (c) throughput ratio, default limit / limit off: median {figures.ratio:.2f} "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
        flush=True,
    )


def one_run(args: argparse.Namespace, tmp: Path) -> RunFigures:
    figures = RunFigures()
    service_port = free_port()
    with service_process(service_port):
        hung_db = f"sqlite:///{tmp / 'hung.db'}"
        healthy_db = f"sqlite:///{tmp / 'healthy.db'}"
        with Registry(hung_db) as registry:
            registry.register_server("HOOK", "127.0.0.1", service_port)
            registry.register_service("HOOK", "permission", "/hang")
            registry.register_service("HOOK", "client_authentication", "/hang")
        with Registry(healthy_db) as registry:
            registry.register_server("HOOK", "127.0.0.1", service_port)
            registry.register_service("HOOK", "permission", "/allow")

        port = free_port()
        protected = {
            "FATE_REGISTRY_ADMIN_TOKENS": TOKEN,
            "FATE_REGISTRY_HOOKS__GATEWAY_PROTECTION": "read",
        }
        with serve_process(hung_db, port, protected):
            base = f"http://127.0.0.1:{port}"
            latencies = probe_healthz(base, args.seconds)
            figures.healthz["baseline"] = ms(latencies)
            print(
                f"  baseline, no flood: /healthz p50 {figures.healthz['baseline'][0]:.1f} ms, "
                f"p99 {figures.healthz['baseline'][1]:.1f} ms, max {max(latencies) * 1000:.1f} "
                f"ms ({len(latencies)} probes)",
                flush=True,
            )
            hook = Flood(f"{base}/v1/hook/permission", PERMISSION, args.clients, gateway_code)
            flood_phase("(a) hook, hung service", base, hook, args.seconds, "permission", figures)
            writes = Flood(f"{base}/v1/server/evil/register", WRITE, args.clients, http_status)
            flood_phase(
                "(b) token-less writes, hung authenticator",
                base,
                writes,
                args.seconds,
                "client_authentication",
                figures,
            )

        throughput_phase(args, healthy_db, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=positive_int, default=3)
    parser.add_argument("--clients", type=positive_int, default=50)
    parser.add_argument(
        "--seconds", type=positive_float, default=8.0, help="/healthz timed per phase"
    )
    parser.add_argument("--rounds", type=positive_int, default=6, help="rounds of (c) per variant")
    parser.add_argument("--round-seconds", type=positive_float, default=2.0)
    args = parser.parse_args()
    fast = [name for name in ("httptools", "uvloop") if importlib.util.find_spec(name)]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.clients} clients; serve's "
        f"uvicorn with {' and '.join(fast) or 'h11 and asyncio'} (the callback service with "
        "h11 and asyncio)",
        flush=True,
    )
    runs: list[RunFigures] = []
    for number in range(1, args.runs + 1):
        print(f"run {number}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(one_run(args, Path(tmp)))
    print(f"\nover {len(runs)} runs, min / median / max:")
    for phase in runs[0].healthz:
        p50 = [run.healthz[phase][0] for run in runs]
        p99 = [run.healthz[phase][1] for run in runs]
        print(f"  /healthz {phase}: p50 {spread(p50, ' ms')}, p99 {spread(p99, ' ms')}")
    for name in runs[0].throughput:
        print(f"  (c) {name}: {spread([run.throughput[name] for run in runs], '/s', 0)}")
    print(f"  (c) ratio default / off: {spread([run.ratio for run in runs], '', 2)}")
    pooled = [ratio for run in runs for ratio in run.round_ratios]
    print(
        f"  (c) ratio default / off, median of all {len(pooled)} rounds: "
        f"{statistics.median(pooled):.2f}"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
