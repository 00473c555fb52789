"""What ``fate-registry status``, ``GET /status`` and the console show: the registry's own
health, every server and service with its health, each capability's chain and policy, and its
decisions of the last minutes (counted by the process that answers: a serve's, over HTTP)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import schema
from .capabilities import DECISIONS
from .errors import RegistryError
from .health import STATUSES, worst
from .masking import mask_query
from .models import base_url
from .settings import masked_db_url
from .store.health import SERVER_CHECK, CheckResult, HealthStore

if TYPE_CHECKING:
    from .dispatch import Dispatcher
    from .registry import Registry

UNCHECKED = "unchecked"  # no check has run yet
SHOWN_STATUSES = (*STATUSES, UNCHECKED)


def registry_health(registry: Registry) -> dict[str, Any]:
    """The database (answers or not), its schema against this release's, its revision."""
    from . import __version__

    found: dict[str, Any] = {
        "version": __version__,
        "database": masked_db_url(registry.db_url),
        "database_ok": False,
        "schema": None,
        "schema_expected": schema.HEAD,
        "revision": None,
    }
    try:
        found["schema"] = schema.current(registry.engine)
        found["revision"] = registry.store.revision()
        found["database_ok"] = True
    except RegistryError as exc:
        found["error"] = str(exc)
    return found


def checker_state(registry: Registry) -> dict[str, Any]:
    """Who probes (the lease's holder while it holds it), how often."""
    settings = registry.settings.health
    lease = HealthStore(registry.engine).lease("health")
    now_ms = int(time.time() * 1000)
    holder = lease[0] if lease is not None and lease[1] > now_ms else None
    return {
        "enabled": settings.enabled,
        "interval": settings.interval,
        "prober": holder,
        "lease_left": round((lease[1] - now_ms) / 1000, 1) if holder and lease else None,
    }


def _shown(result: CheckResult | None) -> dict[str, Any]:
    if result is None:
        return {"status": UNCHECKED, "output": None, "checked_at": None, "changed_at": None,
                "duration_ms": None}  # fmt: skip
    return result.as_dict()


Results = dict[tuple[str, str], CheckResult]
Statuses = dict[tuple[str, str], str]

# Listings are built in two steps: entries (name, status, and the key of the check that decides
# it) for every row, to count, filter and page, from the statuses alone; then what is shown,
# with whole results, only for the rows shown (the console's 300 ms at 5,000 services).


def server_entries(registry: Registry, statuses: Statuses) -> list[dict[str, Any]]:
    """Every server: ``name``, ``status`` (its TCP check's) and its row."""
    entries = []
    for row in registry.health.store.server_rows(registry.known_revision()):
        key = (row.name, SERVER_CHECK)
        status = statuses.get(key)
        entries.append({"name": row.name, "status": status or UNCHECKED, "row": row,
                        "decider": key if status else None})  # fmt: skip
    return entries


def shown_server(entry: dict[str, Any], results: Results) -> dict[str, Any]:
    row = entry["row"]
    return {
        "name": row.name,
        "url": base_url(row.protocol, row.host, row.port),
        "services": row.services,
        **_shown(results.get(entry["decider"])),
        "status": entry["status"],
    }


def service_entries(registry: Registry, statuses: Statuses) -> list[dict[str, Any]]:
    """Every service: ``server``, ``service``, ``status`` (the worse of its HTTP check and its
    server's TCP check) and what ``shown_service`` needs."""
    entries = []
    for row in registry.health.store.service_rows(registry.known_revision()):
        server_key, own_key = (row.server_name, SERVER_CHECK), (row.server_name, row.name)
        server_status, own_status = statuses.get(server_key), statuses.get(own_key)
        status = worst(server_status, own_status)
        # The check that decides: the service's own, unless its server's is worse
        if own_status is not None and (server_status is None or own_status == status):
            decider: tuple[str, str] | None = own_key
        else:
            decider = server_key if server_status is not None else None
        entries.append({"server": row.server_name, "service": row.name,
                        "status": status or UNCHECKED, "row": row, "decider": decider})  # fmt: skip
    return entries


def shown_service(entry: dict[str, Any], results: Results) -> dict[str, Any]:
    """A service as shown: no params, data or headers, and no query values in its URL (they
    may be keys; the registration API shows them to token holders)."""
    row = entry["row"]
    url = base_url(row.protocol or row.server_protocol, row.host, row.port) + row.uri
    check = (
        f"{row.check_method} {row.check_path} -> {row.check_status}"
        if row.check_path is not None
        else "tcp"
    )
    return {
        "server": entry["server"],
        "service": entry["service"],
        "method": row.method,
        "url": mask_query(url, everything=True) if "?" in url else url,
        "check": check,
        **_shown(results.get(entry["decider"])),
        "status": entry["status"],
    }


def shown_page(
    registry: Registry,
    entries: list[dict[str, Any]],
    show: Callable[[dict[str, Any], Results], dict[str, Any]],
) -> list[dict[str, Any]]:
    """``entries`` as shown, with the whole results of their deciding checks only."""
    keys = [entry["decider"] for entry in entries if entry["decider"] is not None]
    results = registry.health.store.results(keys) if keys else {}
    return [show(entry, results) for entry in entries]


def _statuses(results: Results) -> Statuses:
    return {key: result.status for key, result in results.items()}


def servers_health(registry: Registry, results: Results) -> list[dict[str, Any]]:
    """Every server, its address, its TCP check and how many services it has."""
    entries = server_entries(registry, _statuses(results))
    return [shown_server(entry, results) for entry in entries]


def services_health(registry: Registry, results: Results) -> list[dict[str, Any]]:
    """Every service with its health and the output of the check that decides it."""
    entries = service_entries(registry, _statuses(results))
    return [shown_service(entry, results) for entry in entries]


def capabilities(
    dispatcher: Dispatcher, minutes: int, *, counted: bool = True
) -> list[dict[str, Any]]:
    """Each decision's chain and policy; with ``counted`` (this process decides: a serve's,
    asked through the HTTP route), its decisions of the last ``minutes``, else None."""
    hooks = dispatcher.settings
    shown = []
    for capability in DECISIONS:
        cfg = hooks.capability(capability)
        chain = [name for name, _ in dispatcher.chain(capability)]
        shown.append(
            {
                "capability": capability,
                "chain": chain,
                "failure_policy": cfg.failure_policy,
                "default": cfg.default,
                "fail_fast": cfg.fail_fast,
                "timeout": cfg.timeout,
                "server": cfg.server_name or hooks.server_name,
                "decisions": dispatcher.window.summary(capability, minutes) if counted else None,
            }
        )
    return shown


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    found = dict.fromkeys(SHOWN_STATUSES, 0)
    for row in rows:
        found[row["status"]] += 1
    return found


def status_document(
    registry: Registry, minutes: int = 15, *, counted: bool = True
) -> dict[str, Any]:
    """Everything ``fate-registry status`` prints; ``counted``: this process's decisions are
    worth showing (a serve's)."""
    found = registry_health(registry)
    if not found["database_ok"]:
        return {"registry": found}
    results = HealthStore(registry.engine).results()
    servers = servers_health(registry, results)
    services = services_health(registry, results)
    return {
        "registry": found,
        "checker": checker_state(registry),
        "counts": {"servers": counts(servers), "services": counts(services)},
        "servers": servers,
        "services": services,
        "capabilities": capabilities(registry.hooks, minutes, counted=counted),
        "minutes": minutes,
    }
