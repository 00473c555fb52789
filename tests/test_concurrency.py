"""Many processes registering overlapping names at once end with one row per name, no error."""

from __future__ import annotations

import multiprocessing
import traceback

import pytest

from fate_registry import Registry

pytestmark = pytest.mark.db

PROCESSES = 8
UPSERTS = 200
SERVERS = 10
SERVICES_PER_SERVER = 7


def _register(url: str, worker: int, errors: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        with Registry(url, cache_ttl=0) as registry:
            for i in range(UPSERTS):
                n = i // 2
                server = f"server-{n % SERVERS}"
                if i % 2 == 0:
                    # Mixed case on purpose: every node spells the name its own way.
                    name = server.upper() if worker % 2 else server
                    registry.register_server(name, host=f"10.0.0.{worker + 1}", port=8000 + i)
                else:
                    registry.register_service(
                        server, f"svc-{n % SERVICES_PER_SERVER}", uri=f"/w{worker}/{i}"
                    )
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")


def test_concurrent_upserts_leave_one_row_per_name(db_url: str) -> None:
    Registry(db_url).close()  # create the schema once, as `fate-registry db upgrade` would
    context = multiprocessing.get_context("spawn")
    errors = context.Queue()
    workers = [
        context.Process(target=_register, args=(db_url, w, errors)) for w in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert [w.exitcode for w in workers] == [0] * PROCESSES

    with Registry(db_url) as registry:
        servers = registry.servers()
        services = registry.services()
        assert sorted(s.name for s in servers) == sorted(f"SERVER-{k}" for k in range(SERVERS))
        pairs = [(s.server_name, s.service_name) for s in services]
        assert len(pairs) == len(set(pairs)) == SERVERS * SERVICES_PER_SERVER
        assert registry.revision == PROCESSES * UPSERTS
