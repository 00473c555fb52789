"""Health checks in the database: what to probe, the last result of each check, and the lease
that elects one prober per database. None of these writes bumps the revision: results change
every few seconds and must not empty every node's caches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, func, select, tuple_, update

from ..models import HttpCheck, base_url
from . import transactions
from .registrations import check_of
from .tables import as_utc, checks_t, leases_t, servers_t, services_t

SERVER_CHECK = ""  # the service_name of a server's TCP check


@dataclass(frozen=True, slots=True)
class Target:
    """One check to run: a server's TCP check (``check`` None) or a service's HTTP check."""

    server_name: str
    service_name: str  # SERVER_CHECK for the server's TCP check
    host: str
    port: int
    protocol: str
    check: HttpCheck | None = None
    ca_bundle: str | None = None
    client_cert: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.server_name, self.service_name)

    @property
    def url(self) -> str:
        path = self.check.path if self.check is not None else "/"
        return base_url(self.protocol, self.host, self.port) + path


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The last result of one check, as stored."""

    status: str  # passing, warning, critical
    output: str
    duration: float  # seconds
    checked_at: datetime
    changed_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "output": self.output,
            "duration_ms": round(self.duration * 1000, 1),
            "checked_at": self.checked_at.isoformat(),
            "changed_at": self.changed_at.isoformat(),
        }


class HealthStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._upsert = transactions.upsert(self.dialect, checks_t, ["server_name", "service_name"])
        self._insert_lease = transactions.insert_if_absent(self.dialect, leases_t)
        # The listings' registrations, kept while the registry's revision holds: they change
        # only with a write, and reading 5,000 rows costs a console page most of its time.
        self._listed: dict[str, tuple[int, list[Any]]] = {}

    def _listing(self, name: str, revision: int | None, read: Any) -> list[Any]:
        kept = self._listed.get(name)
        if revision is not None and kept is not None and kept[0] == revision:
            return kept[1]
        rows: list[Any] = read()
        if revision is not None:
            self._listed[name] = (revision, rows)
        return rows

    # -- the lease ----------------------------------------------------------------------------

    def take_lease(self, name: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
        """Take or renew lease ``name`` for ``holder`` until ``now_ms + ttl_ms``; True when
        ``holder`` holds it now. One statement decides, so two nodes never both win."""
        expires = now_ms + ttl_ms
        with transactions.write(self.engine, bump=False) as conn:
            taken = conn.execute(
                update(leases_t)
                .where(
                    leases_t.c.name == name,
                    (leases_t.c.holder == holder) | (leases_t.c.expires_at < now_ms),
                )
                .values(holder=holder, expires_at=expires)
            )
            if taken.rowcount == 1:
                return True
            row = {"name": name, "holder": holder, "expires_at": expires}
            return transactions.inserted(conn, self._insert_lease, row)

    def release_lease(self, name: str, holder: str) -> None:
        """Let the lease go at once, if ``holder`` holds it: another node takes it at its next
        try instead of after the lease runs out."""
        with transactions.write(self.engine, bump=False) as conn:
            conn.execute(
                update(leases_t)
                .where(leases_t.c.name == name, leases_t.c.holder == holder)
                .values(expires_at=0)
            )

    def lease(self, name: str) -> tuple[str, int] | None:
        """``(holder, expires_at in ms)`` of lease ``name``, None when nobody ever took it."""
        with transactions.read(self.engine) as conn:
            row = conn.execute(
                select(leases_t.c.holder, leases_t.c.expires_at).where(leases_t.c.name == name)
            ).first()
        return None if row is None else (row[0], int(row[1]))

    # -- what to probe ------------------------------------------------------------------------

    def targets(self) -> list[Target]:
        """Every server's TCP check, and the HTTP check of every service that declares one."""
        with transactions.read(self.engine) as conn:
            servers = conn.execute(
                select(
                    servers_t.c.name,
                    servers_t.c.host,
                    servers_t.c.port,
                    servers_t.c.protocol,
                    servers_t.c.ca_bundle,
                    servers_t.c.client_cert,
                )
            ).all()
            services = conn.execute(
                select(
                    services_t.c.server_name,
                    services_t.c.name,
                    services_t.c.protocol,
                    services_t.c.check_method,
                    services_t.c.check_path,
                    services_t.c.check_status,
                    services_t.c.check_timeout,
                ).where(services_t.c.check_path.is_not(None))
            ).mappings()
            by_name = {row.name: row for row in servers}
            targets = [
                Target(row.name, SERVER_CHECK, row.host, row.port, row.protocol) for row in servers
            ]
            for service in services:
                server = by_name.get(service["server_name"])
                if server is None:
                    continue
                targets.append(
                    Target(
                        server.name,
                        service["name"],
                        server.host,
                        server.port,
                        service["protocol"] or server.protocol,
                        check_of(service),
                        server.ca_bundle,
                        server.client_cert,
                    )
                )
        return targets

    # -- results ------------------------------------------------------------------------------

    def save_results(self, results: dict[tuple[str, str], CheckResult]) -> None:
        rows = [
            {
                "server_name": server,
                "service_name": service,
                "status": result.status,
                "output": result.output,
                "duration": result.duration,
                "checked_at": result.checked_at,
                "changed_at": result.changed_at,
            }
            for (server, service), result in results.items()
        ]
        if not rows:
            return
        with transactions.write(self.engine, bump=False) as conn:
            for start in range(0, len(rows), 500):
                conn.execute(self._upsert, rows[start : start + 500])

    def delete_results(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget the results of checks that are no longer run (a deleted service, a check
        taken off)."""
        keys = list(keys)
        if not keys:
            return
        pair = tuple_(checks_t.c.server_name, checks_t.c.service_name)
        with transactions.write(self.engine, bump=False) as conn:
            for start in range(0, len(keys), 500):
                conn.execute(delete(checks_t).where(pair.in_(keys[start : start + 500])))

    def statuses(self) -> dict[tuple[str, str], str]:
        """Every check's status alone: what a listing counts and filters by (a tenth of the
        cost of whole results, whose times are parsed)."""
        stmt = select(checks_t.c.server_name, checks_t.c.service_name, checks_t.c.status)
        with transactions.read(self.engine) as conn:
            return {(server, service): status for server, service, status in conn.execute(stmt)}

    def results(
        self, keys: Iterable[tuple[str, str]] | None = None
    ) -> dict[tuple[str, str], CheckResult]:
        """The stored results, by ``(server, service)`` (service SERVER_CHECK: the server's):
        every one, or those of ``keys``."""
        columns = (checks_t.c.server_name, checks_t.c.service_name, checks_t.c.status,
                   checks_t.c.output, checks_t.c.duration, checks_t.c.checked_at,
                   checks_t.c.changed_at)  # fmt: skip
        with transactions.read(self.engine) as conn:
            if keys is None:
                rows = conn.execute(select(*columns)).all()
            else:
                wanted = list(keys)
                pair = tuple_(checks_t.c.server_name, checks_t.c.service_name)
                rows = []
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start : start + 500]
                    rows += conn.execute(select(*columns).where(pair.in_(chunk))).all()
        # plain tuples: at 6,000 checks, a mapping per row costs the console its time budget
        return {
            (server, service): CheckResult(
                status, output, float(duration), as_utc(checked_at), as_utc(changed_at)
            )
            for server, service, status, output, duration, checked_at, changed_at in rows
        }

    def server_rows(self, revision: int | None = None) -> list[Any]:
        """Every server's name and address, with how many services it has; kept while
        ``revision`` (the registry's) holds, when given."""
        return self._listing("servers", revision, self._server_rows)

    def _server_rows(self) -> list[Any]:
        count = (
            select(services_t.c.server_name, func.count().label("services"))
            .group_by(services_t.c.server_name)
            .subquery()
        )
        stmt = (
            select(
                servers_t.c.name,
                servers_t.c.host,
                servers_t.c.port,
                servers_t.c.protocol,
                func.coalesce(count.c.services, 0).label("services"),
            )
            .outerjoin(count, count.c.server_name == servers_t.c.name)
            .order_by(servers_t.c.name)
        )
        with transactions.read(self.engine) as conn:
            return list(conn.execute(stmt).all())

    def service_rows(self, revision: int | None = None) -> list[Any]:
        """Every service with what the status pages show: its server's address and its
        check, without params, data or headers (they may hold secrets); kept while
        ``revision`` holds, when given."""
        return self._listing("services", revision, self._service_rows)

    def _service_rows(self) -> list[Any]:
        stmt = (
            select(
                services_t.c.server_name,
                services_t.c.name,
                services_t.c.method,
                services_t.c.uri,
                services_t.c.protocol,
                services_t.c.check_method,
                services_t.c.check_path,
                services_t.c.check_status,
                services_t.c.check_timeout,
                servers_t.c.host,
                servers_t.c.port,
                servers_t.c.protocol.label("server_protocol"),
            )
            .join(servers_t, and_(servers_t.c.name == services_t.c.server_name))
            .order_by(services_t.c.server_name, services_t.c.name)
        )
        with transactions.read(self.engine) as conn:
            return list(conn.execute(stmt).all())
