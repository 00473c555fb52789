"""HTTP client stacks for one small JSON call, as the ``http`` plugin makes a decision's.

    python benchmarks/bench_clients.py [--calls 2000] [--rounds 3]

Each client POSTs FATE Flow's permission request to the callback service (a bare ASGI app under
uvicorn, h11 and asyncio, in its own process) over one kept-alive connection, one call at a
time, and reads the JSON reply; the rounds interleave the clients. Prints the p50 latency and
the client process's CPU time per call, and each as a ratio to requests' adapter (the
baseline: what the plugin used before its decisions went to the event loop):

- requests: ``HTTPAdapter.send`` of a prepared request, streamed and read in one chunk;
- urllib3: ``HTTPConnectionPool.urlopen``, the layer under requests;
- aiohttp: ``ClientSession.request`` on uvloop (what the plugin's decisions use now);
- asyncio + httptools: the request's bytes written by hand and the reply parsed by httptools
  on uvloop, with nothing else: the floor for a Python client on this machine (no pooling,
  TLS, timeouts per phase, redirects or errors), not a client anyone should ship.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httptools
import requests
import urllib3
import uvloop
from bench_args import positive_int
from bench_dispatch import free_port, start_service
from bench_gateway import PERMISSION
from requests.adapters import HTTPAdapter

BODY = json.dumps(PERMISSION).encode()
HEADERS = {"Content-Type": "application/json"}


def measure(call: Callable[[], Any], calls: int) -> tuple[float, float]:
    """p50 seconds and CPU seconds per call of ``call``, after 100 to warm up."""
    for _ in range(100):
        call()
    latencies = []
    cpu = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return statistics.median(latencies), (time.process_time() - cpu) / calls


async def measure_async(call: Callable[[], Awaitable[Any]], calls: int) -> tuple[float, float]:
    for _ in range(100):
        await call()
    latencies = []
    cpu = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - started)
    return statistics.median(latencies), (time.process_time() - cpu) / calls


def requests_client(url: str) -> Callable[[], Any]:
    adapter = HTTPAdapter(pool_maxsize=4, max_retries=0)

    def call() -> Any:
        prepared = requests.PreparedRequest()
        prepared.prepare(method="POST", url=url, data=BODY, headers=HEADERS)
        response = adapter.send(prepared, stream=True, timeout=(5, 5), proxies={})
        reply = json.loads(response.raw.read1(65536, decode_content=True))
        response.close()
        return reply

    return call


def urllib3_client(port: int) -> Callable[[], Any]:
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=4, retries=False)

    def call() -> Any:
        response = pool.urlopen(
            "POST", "/auth", body=BODY, headers=HEADERS, preload_content=False, timeout=5
        )
        reply = json.loads(response.read1(65536))
        response.release_conn()
        return reply

    return call


async def aiohttp_client(url: str, calls: int) -> tuple[float, float]:
    async with aiohttp.ClientSession() as session:
        timeout = aiohttp.ClientTimeout(sock_connect=5, sock_read=5)

        async def call() -> Any:
            async with session.post(
                url, data=BODY, headers=HEADERS, timeout=timeout, allow_redirects=False
            ) as response:
                return json.loads(await response.read())

        return await measure_async(call, calls)


class _Reply(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.done: asyncio.Future[bytes] | None = None

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.done is not None
        self.done.set_result(b"".join(self.body))
        self.body = []


async def httptools_floor(port: int, calls: int) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(_Reply, "127.0.0.1", port)
    head = (
        f"POST /auth HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode()

    async def call() -> Any:
        protocol.done = loop.create_future()
        transport.write(head + BODY)
        return json.loads(await asyncio.wait_for(protocol.done, 5))

    try:
        return await measure_async(call, calls)
    finally:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=positive_int, default=2000)
    parser.add_argument("--rounds", type=positive_int, default=3)
    args = parser.parse_args()
    port = free_port()
    service = start_service(port)
    url = f"http://127.0.0.1:{port}/auth"
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        for _ in range(args.rounds):
            for name, run in (
                ("requests (baseline)", lambda: measure(requests_client(url), args.calls)),
                ("urllib3", lambda: measure(urllib3_client(port), args.calls)),
                ("aiohttp", lambda: uvloop.run(aiohttp_client(url, args.calls))),
                ("asyncio + httptools", lambda: uvloop.run(httptools_floor(port, args.calls))),
            ):
                results.setdefault(name, []).append(run())
    finally:
        service.terminate()
        service.wait(10)
    base_p50 = statistics.median(p50 for p50, _ in results["requests (baseline)"])
    base_cpu = statistics.median(cpu for _, cpu in results["requests (baseline)"])
    print(f"{args.calls} sequential calls per client and round, {args.rounds} rounds; medians")
    print(f"{'':22} {'p50 us':>8} {'x req':>6} {'CPU us':>8} {'x req':>6}  per round (p50/CPU us)")
    for name, rows in results.items():
        p50 = statistics.median(r[0] for r in rows)
        cpu = statistics.median(r[1] for r in rows)
        spread = ", ".join(f"{r[0] * 1e6:.0f}/{r[1] * 1e6:.0f}" for r in rows)
        print(
            f"{name:22} {p50 * 1e6:8.0f} {p50 / base_p50:5.2f}x {cpu * 1e6:8.0f} "
            f"{cpu / base_cpu:5.2f}x  {spread}"
        )


if __name__ == "__main__":
    main()
