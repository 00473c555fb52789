"""Servers and services: the registry's own aggregate.

Every write runs in one transaction that first bumps the revision counter. On PostgreSQL and
MySQL that row lock serialises writers, and on SQLite ``BEGIN IMMEDIATE`` does the same, so
upserts from many processes at once end with one row per name and no error or deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from ..errors import Conflict, ServerNotFound, ServiceNotFound
from ..models import (
    HttpCheck,
    ResolvedService,
    Server,
    ServerRegistration,
    Service,
    ServiceRegistration,
    base_url,
)
from . import tables, transactions
from .tables import revision_t, servers_t, services_t


def _now() -> datetime:  # one name here, so that a test can set this store's clock
    return tables.now()


class Store:
    """Servers and services in one SQL database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._upsert_server = transactions.upsert(self.dialect, servers_t, ["name"])
        self._upsert_service = transactions.upsert(
            self.dialect, services_t, ["server_name", "name"]
        )

    # -- transactions ---------------------------------------------------------------------

    # A database that cannot be used raises RegistryUnavailable (failures.py), whichever
    # statement, commit or checkout met it: transactions.py reports it for every aggregate.

    def _write(self) -> AbstractContextManager[Connection]:
        return transactions.write(self.engine)

    def _read(self) -> AbstractContextManager[Connection]:
        return transactions.read(self.engine)

    # -- writes -----------------------------------------------------------------------------

    def upsert_server(self, reg: ServerRegistration) -> Server:
        now = _now()
        row = {
            "name": reg.name,
            "host": reg.host,
            "port": reg.port,
            "protocol": reg.protocol,
            "ca_bundle": reg.ca_bundle,
            "client_cert": reg.client_cert,
            "created_at": now,
            "updated_at": now,
        }
        with self._write() as conn:
            conn.execute(self._upsert_server, row)
            return self._server(conn, reg.name)

    def upsert_service(self, reg: ServiceRegistration) -> Service:
        with self._write() as conn:
            self._server(conn, reg.server_name)
            conn.execute(self._upsert_service, _service_row(reg, _now()))
            return self._service(conn, reg.server_name, reg.service_name)

    def upsert_many(
        self, servers: Iterable[ServerRegistration], services: Iterable[ServiceRegistration]
    ) -> tuple[int, int]:
        """Write all servers, then all services, in one transaction: all or nothing."""
        now = _now()
        server_rows = [
            {**reg.model_dump(), "created_at": now, "updated_at": now} for reg in servers
        ]
        service_rows = [_service_row(reg, now) for reg in services]
        with self._write() as conn:
            known = {reg["name"] for reg in server_rows}
            known.update(conn.execute(select(servers_t.c.name)).scalars())
            for row in service_rows:
                if row["server_name"] not in known:
                    raise ServerNotFound(row["server_name"])
            for stmt, rows in (
                (self._upsert_server, server_rows),
                (self._upsert_service, service_rows),
            ):
                for start in range(0, len(rows), 1000):
                    conn.execute(stmt, rows[start : start + 1000])
        return len(server_rows), len(service_rows)

    def delete_service(self, server_name: str, service_name: str) -> None:
        with self._write() as conn:
            result = conn.execute(
                delete(services_t).where(
                    services_t.c.server_name == server_name, services_t.c.name == service_name
                )
            )
            if result.rowcount == 0:
                self._server(conn, server_name)
                raise ServiceNotFound(server_name, service_name)

    def delete_server(self, server_name: str, cascade: bool = False) -> int:
        """Delete a server; return how many of its services went with it."""
        with self._write() as conn:
            self._server(conn, server_name)
            count = conn.execute(
                select(func.count()).where(services_t.c.server_name == server_name)
            ).scalar_one()
            if count and not cascade:
                raise Conflict(
                    f"server {server_name!r} still has {count} service(s); "
                    "delete them first or ask for cascade"
                )
            conn.execute(delete(services_t).where(services_t.c.server_name == server_name))
            conn.execute(delete(servers_t).where(servers_t.c.name == server_name))
            return int(count)

    def bump_revision(self) -> None:
        """Bump the revision counter alone: after a write to a table the registry does not
        manage (a plugin's own), so every node drops what it derived from the old data."""
        with self._write():
            pass

    # -- reads ------------------------------------------------------------------------------

    def revision(self) -> int:
        with self._read() as conn:
            return int(
                conn.execute(select(revision_t.c.value).where(revision_t.c.id == 1)).scalar_one()
            )

    def server(self, name: str) -> Server:
        with self._read() as conn:
            return self._server(conn, name)

    def servers(self) -> list[Server]:
        with self._read() as conn:
            rows = conn.execute(select(servers_t).order_by(servers_t.c.name)).mappings()
            return [_server_model(row) for row in rows]

    def service(self, server_name: str, service_name: str) -> Service:
        with self._read() as conn:
            return self._service(conn, server_name, service_name)

    def services(self, server_name: str | None = None) -> list[Service]:
        with self._read() as conn:
            if server_name is not None:
                self._server(conn, server_name)
            stmt = self._services_stmt()
            if server_name is not None:
                stmt = stmt.where(services_t.c.server_name == server_name)
            rows = conn.execute(stmt.order_by(services_t.c.server_name, services_t.c.name))
            return [_service_model(row) for row in rows.mappings()]

    def resolve(self, server_name: str, service_name: str) -> ResolvedService:
        """The service's URL from its server's address as stored now, and its TLS files."""
        with self._read() as conn:
            row = self._service_row(conn, server_name, service_name)
            model = _service_model(row)
            return ResolvedService(
                server_name=model.server_name,
                service_name=model.service_name,
                url=model.url,
                method=model.method,
                params=model.params,
                data=model.data,
                headers=model.headers,
                ca_bundle=row["ca_bundle"],
                client_cert=row["client_cert"],
            )

    def export_rows(self) -> list[dict[str, Any]]:
        """Every server with its services, TLS paths included, for ``fate-registry export``."""
        with self._read() as conn:
            servers = [
                dict(row)
                for row in conn.execute(select(servers_t).order_by(servers_t.c.name)).mappings()
            ]
            by_server: dict[str, list[dict[str, Any]]] = {s["name"]: [] for s in servers}
            stmt = select(services_t).order_by(services_t.c.server_name, services_t.c.name)
            for row in conn.execute(stmt).mappings():
                by_server[row["server_name"]].append(dict(row))
        for server in servers:
            server["services"] = by_server[server["name"]]
        return servers

    # -- helpers ----------------------------------------------------------------------------

    def _server(self, conn: Connection, name: str) -> Server:
        row = conn.execute(select(servers_t).where(servers_t.c.name == name)).mappings().first()
        if row is None:
            raise ServerNotFound(name)
        return _server_model(row)

    def _service(self, conn: Connection, server_name: str, service_name: str) -> Service:
        return _service_model(self._service_row(conn, server_name, service_name))

    def _service_row(self, conn: Connection, server_name: str, service_name: str) -> Any:
        stmt = self._services_stmt().where(
            services_t.c.server_name == server_name, services_t.c.name == service_name
        )
        row = conn.execute(stmt).mappings().first()
        if row is None:
            self._server(conn, server_name)
            raise ServiceNotFound(server_name, service_name)
        return row

    @staticmethod
    def _services_stmt() -> Any:
        return select(
            services_t,
            servers_t.c.host,
            servers_t.c.port,
            servers_t.c.protocol.label("server_protocol"),
            servers_t.c.ca_bundle,
            servers_t.c.client_cert,
        ).join(servers_t, servers_t.c.name == services_t.c.server_name)


def _service_row(reg: ServiceRegistration, now: datetime) -> dict[str, Any]:
    return {
        "server_name": reg.server_name,
        "name": reg.service_name,
        "uri": reg.uri,
        "method": reg.method,
        "protocol": reg.protocol,
        "params": reg.params,
        "data": reg.data,
        "headers": reg.headers,
        **check_columns(reg.check),
        "created_at": now,
        "updated_at": now,
    }


CHECK_COLUMNS = ("check_method", "check_path", "check_status", "check_timeout")


def check_columns(check: HttpCheck | None) -> dict[str, Any]:
    """A service's HTTP check as its columns (all None: no check)."""
    if check is None:
        return dict.fromkeys(CHECK_COLUMNS)
    return {
        "check_method": check.method,
        "check_path": check.path,
        "check_status": check.status,
        "check_timeout": check.timeout,
    }


def check_of(row: Any) -> HttpCheck | None:
    """A service's HTTP check from its columns, None when it has none."""
    if row["check_path"] is None:
        return None
    return HttpCheck(
        method=row["check_method"],
        path=row["check_path"],
        status=row["check_status"],
        timeout=row["check_timeout"],
    )


def _server_model(row: Any) -> Server:
    return Server(
        name=row["name"],
        host=row["host"],
        port=row["port"],
        protocol=row["protocol"],
        tls_ca_bundle_set=row["ca_bundle"] is not None,
        tls_client_cert_set=row["client_cert"] is not None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _service_model(row: Any) -> Service:
    protocol = row["protocol"] or row["server_protocol"]
    return Service(
        server_name=row["server_name"],
        service_name=row["name"],
        uri=row["uri"],
        method=row["method"],
        protocol=row["protocol"],
        params=row["params"],
        data=row["data"],
        headers=row["headers"],
        url=base_url(protocol, row["host"], row["port"]) + row["uri"],
        check=check_of(row),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
