"""Version 2 routes: FATE Flow 2.x paths and bodies, ``{code, message, data}`` replies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from .deps import Check, error_responses, guard_address, registry_of
from .envelopes import V2Error, V2Reply, reply
from .schemas import (
    Deleted,
    ServerBody,
    ServerDeleteBody,
    ServerName,
    ServiceBody,
    ServiceKey,
    ServiceName,
    V2ServerRow,
    V2ServiceRow,
    v2_server_row,
    v2_service_row,
)
from .security import access, hides_values

router = APIRouter(prefix="/v2", tags=["v2: FATE Flow 2.x"], responses=error_responses(V2Error))

ServerQuery = Annotated[ServerName, Query()]
ServiceQuery = Annotated[ServiceName, Query()]


@router.post(
    "/server/registry",
    response_model=V2Reply[V2ServerRow],
    **access("write"),
    summary="Register a server, or move it",
)
def register_server(request: Request, body: ServerBody, check: Check = None) -> JSONResponse:
    guard_address(request, body.host, body.port, check)
    server = registry_of(request).register_server(
        body.server_name, body.host, body.port, body.protocol
    )
    return reply(request.url.path, v2_server_row(server))


@router.get(
    "/server/query", response_model=V2Reply[V2ServerRow], **access("read"), summary="One server"
)
def query_server(request: Request, server_name: ServerQuery) -> JSONResponse:
    return reply(request.url.path, v2_server_row(registry_of(request).server(server_name)))


@router.get(
    "/server/query/all",
    response_model=V2Reply[dict[str, V2ServerRow]],
    **access("read"),
    summary="Every server, by name (no secrets, unlike FATE Flow's)",
)
def query_all(request: Request) -> JSONResponse:
    servers = registry_of(request).servers()
    return reply(request.url.path, {server.name: v2_server_row(server) for server in servers})


@router.post(
    "/server/delete",
    response_model=V2Reply[Deleted],
    **access("write"),
    summary="Delete a server (refused while it has services, unless cascade)",
)
def delete_server(request: Request, body: ServerDeleteBody) -> JSONResponse:
    count = registry_of(request).delete_server(body.server_name, cascade=body.cascade)
    return reply(request.url.path, Deleted(services=count))


@router.post(
    "/server/service/registry",
    response_model=V2Reply[V2ServiceRow],
    **access("write"),
    summary="Register a service on a registered server",
)
def register_service(request: Request, body: ServiceBody) -> JSONResponse:
    service = registry_of(request).register_service(**body.model_dump())
    return reply(request.url.path, v2_service_row(service, everything=hides_values(request)))


@router.get(
    "/server/service/query",
    response_model=V2Reply[V2ServiceRow],
    **access("read"),
    summary="One service",
)
def query_service(
    request: Request, server_name: ServerQuery, service_name: ServiceQuery
) -> JSONResponse:
    service = registry_of(request).service(server_name, service_name)
    return reply(request.url.path, v2_service_row(service, everything=hides_values(request)))


@router.get(
    "/server/service/query/all",
    response_model=V2Reply[list[V2ServiceRow]],
    **access("read"),
    summary="Every service, or every service of one server (ours: FATE Flow has no such route)",
)
def query_all_services(
    request: Request, server_name: Annotated[ServerName | None, Query()] = None
) -> JSONResponse:
    services = registry_of(request).services(server_name)
    everything = hides_values(request)
    rows = [v2_service_row(service, everything=everything) for service in services]
    return reply(request.url.path, rows)


@router.post(
    "/server/service/delete",
    response_model=V2Reply[None],
    **access("write"),
    summary="Delete a service",
)
def delete_service(request: Request, body: ServiceKey) -> JSONResponse:
    registry_of(request).delete_service(body.server_name, body.service_name)
    return reply(request.url.path)
