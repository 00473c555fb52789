"""Health checks across processes sharing one database server: three ``serve`` processes elect
one prober through the lease, and when the prober is killed (SIGKILL: no goodbye) another takes
over once the lease runs out."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import requests
from callback_service import serve as serve_app
from fastapi import FastAPI, Request
from serve_process import Served, serve
from waiting import wait_until

from fate_registry import Registry

pytestmark = pytest.mark.db

INTERVAL = 1.0
LEASE = 3 * INTERVAL


def health_app() -> FastAPI:
    """A health page that notes each prober (its User-Agent names the lease holder) and when."""
    app = FastAPI()
    app.state.probes = []

    @app.get("/health")
    async def health(request: Request) -> dict[str, str]:
        agent = request.headers.get("user-agent", "")
        app.state.probes.append((time.monotonic(), agent.rpartition("(")[2].rstrip(")")))
        return {"status": "ok"}

    return app


@pytest.fixture
def three(server_db_url: str) -> Iterator[tuple[list[Served], FastAPI]]:
    app = health_app()
    env = {"FATE_REGISTRY_HEALTH__INTERVAL": str(INTERVAL)}
    with ExitStack() as stack:
        host, port = stack.enter_context(serve_app(app))
        with Registry(server_db_url) as registry:
            registry.register_server("third", host, port)
            registry.register_service("third", "upload", "/u", check={"path": "/health"})
        nodes = [stack.enter_context(serve(server_db_url, env=env)) for _ in range(3)]
        yield nodes, app


def _prober_gauge(node: Served) -> float:
    text = requests.get(f"{node.url}/metrics", timeout=10).text
    found = re.search(r"^fate_registry_health_prober (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_one_prober_across_three_serve_processes(three: tuple[list[Served], FastAPI]) -> None:
    nodes, app = three
    wait_until(lambda: len(app.state.probes) >= 8, "eight probes", within=60)

    holders = {holder for _, holder in app.state.probes}
    assert len(holders) == 1, holders
    wait_until(lambda: sum(_prober_gauge(node) for node in nodes) == 1, "one prober gauge")
    # one probe of the service per interval, not three
    times = [at for at, _ in app.state.probes]
    assert len(times) <= (times[-1] - times[0]) / INTERVAL + 2


def test_another_process_takes_over_when_the_prober_is_killed(
    three: tuple[list[Served], FastAPI],
) -> None:
    nodes, app = three
    wait_until(lambda: len(app.state.probes) >= 2, "the first probes", within=60)
    holder = app.state.probes[-1][1]
    pid = int(holder.split(":")[1])
    assert pid in {node.pid for node in nodes}

    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(
        lambda: any(at > killed_at and h != holder for at, h in app.state.probes),
        "probes by another process",
        within=60,
    )

    took = next(at for at, h in app.state.probes if at > killed_at and h != holder) - killed_at
    print(f"taken over {took:.1f} s after the kill (lease {LEASE:g} s, interval {INTERVAL:g} s)")
    assert took <= LEASE + 3 * INTERVAL, took  # the lease runs out, then the next try wins
    since = killed_at + took
    wait_until(lambda: sum(at >= since for at, _ in app.state.probes) >= 3, "three more probes")
    assert len({h for at, h in app.state.probes if at >= since}) == 1  # still one prober
