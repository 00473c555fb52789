"""Health checks of the registered servers and services (Consul's model): a TCP check per
server, an optional HTTP check per service, run by ``serve`` on one prober per database.

``probes`` runs one check, ``checker`` the prober's loop (the lease, the schedule, the writes),
``view`` what every process knows of the results (the dispatcher's fail-fast, the metrics).
"""

from __future__ import annotations

PASSING, WARNING, CRITICAL = "passing", "warning", "critical"
STATUSES = (PASSING, WARNING, CRITICAL)
_RANK = {status: rank for rank, status in enumerate(STATUSES)}


def worst(*statuses: str | None) -> str | None:
    """The worst of ``statuses`` (None, not checked yet, counts as nothing)."""
    known = [status for status in statuses if status is not None]
    return max(known, key=_RANK.__getitem__) if known else None


def rank(status: str | None) -> int:
    """0 passing, 1 warning, 2 critical; -1 not checked yet (the metrics' values)."""
    return -1 if status is None else _RANK[status]


__all__ = ["CRITICAL", "PASSING", "STATUSES", "WARNING", "rank", "worst"]
