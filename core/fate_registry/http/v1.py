"""Version 1 routes: FATE Flow 1.x paths and bodies, ``{retcode, retmsg, data}`` replies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse

from ..errors import ServiceNotFound
from ..models import Server, ServerRegistration, ServiceRegistration, validate
from .deps import Check, error_responses, guard_address, registry_of
from .envelopes import V1Error, V1Reply, reply
from .errors import APIError
from .schemas import (
    Deleted,
    LegacyRegistered,
    LegacyServer,
    ServerAddress,
    ServerDeleteOptions,
    ServerName,
    ServiceBody,
    ServiceKey,
    ServiceList,
    ServiceQueryBody,
    V1ServiceRegistryBody,
    V1ServiceRow,
    servers_by_name,
    v1_service_row,
)
from .security import access, hides_values

router = APIRouter(prefix="/v1", tags=["v1: FATE Flow 1.x"], responses=error_responses(V1Error))

NameInPath = Annotated[ServerName, Path(description="server name, stored upper-case")]


# FATE Flow 1.x answers its server routes under /v1/server/service/... too, and fate_client's
# `flow service registry` uses those.
@router.post(
    "/server/service/{server_name}/register",
    response_model=V1Reply[Server],
    **access("write"),
    summary="Register a server (FATE Flow 1.x alias of /v1/server/{server_name}/register)",
)
@router.post(
    "/server/{server_name}/register",
    response_model=V1Reply[Server],
    **access("write"),
    summary="Register a server, or move it",
)
def register_server(
    request: Request, server_name: NameInPath, body: ServerAddress, check: Check = None
) -> JSONResponse:
    guard_address(request, body.host, body.port, check)
    server = registry_of(request).register_server(server_name, body.host, body.port, body.protocol)
    return reply(request.url.path, server)


@router.post(
    "/service/registry",
    response_model=V1Reply[V1ServiceRow | LegacyRegistered],
    **access("write"),
    summary="Register a service (or, legacy form, servers with their services)",
    description=(
        "Standard form: `{server_name, service_name, uri, method?, protocol?, params?, data?, "
        "headers?}`. Legacy form (no `server_name`): `{SERVER: {host, port, protocol?, "
        "api: {service: {uri, method?, data?, headers?, params?}}}}`, stored in one "
        "transaction."
    ),
)
def register_service(
    request: Request, body: Annotated[V1ServiceRegistryBody, Body()], check: Check = None
) -> JSONResponse:
    registry = registry_of(request)
    if isinstance(body, ServiceBody):
        service = registry.register_service(**body.model_dump())
        return reply(request.url.path, v1_service_row(service, everything=hides_values(request)))
    servers, services = _legacy_registrations(body)
    for server in servers:
        guard_address(request, server.host, server.port, check)
    counts = registry.register_many(servers, services)
    return reply(request.url.path, LegacyRegistered(servers=counts[0], services=counts[1]))


def _legacy_registrations(
    body: dict[str, LegacyServer],
) -> tuple[list[ServerRegistration], list[ServiceRegistration]]:
    servers, services = [], []
    for name, server in body.items():
        servers.append(
            validate(
                ServerRegistration,
                name,
                name=name,
                host=server.host,
                port=server.port,
                protocol=server.protocol,
            )
        )
        for service_name, service in server.api.items():
            fields = service.model_dump()
            entry = f"{name}.api.{service_name}"
            services.append(
                validate(
                    ServiceRegistration,
                    entry,
                    server_name=name,
                    service_name=service_name,
                    **fields,
                )
            )
    return servers, services


# Before /server/{server_name}/get, which would take "service" for a server name: FATE Flow's
# router prefers the fixed path too.
@router.post(
    "/server/service/get",
    response_model=V1Reply[dict[str, Server]],
    **access("read"),
    summary="Every server, by name (FATE Flow 1.x alias of /v1/server/get)",
)
@router.post(
    "/server/get",
    response_model=V1Reply[dict[str, Server]],
    **access("read"),
    summary="Every server, by name (no secrets, unlike FATE Flow's)",
)
def get_servers(request: Request) -> JSONResponse:
    return reply(request.url.path, servers_by_name(registry_of(request).servers()))


@router.post(
    "/server/service/{server_name}/get",
    response_model=V1Reply[Server],
    **access("read"),
    summary="One server (FATE Flow 1.x alias of /v1/server/{server_name}/get)",
)
@router.post(
    "/server/{server_name}/get",
    response_model=V1Reply[Server],
    **access("read"),
    summary="One server",
)
def get_server(request: Request, server_name: NameInPath) -> JSONResponse:
    return reply(request.url.path, registry_of(request).server(server_name))


@router.post(
    "/service/query",
    response_model=V1Reply[ServiceList],
    **access("read"),
    summary="The services of a name, on one server or on all",
)
def query_service(request: Request, body: ServiceQueryBody) -> JSONResponse:
    services = [
        service
        for service in registry_of(request).services(body.server_name)
        if service.service_name == body.service_name
    ]
    if not services:
        if body.server_name is not None:
            raise ServiceNotFound(body.server_name, body.service_name)
        raise APIError(404, f"service {body.service_name!r} is not registered on any server")
    everything = hides_values(request)
    views = [v1_service_row(service, everything=everything) for service in services]
    return reply(request.url.path, ServiceList(service_info=views))


@router.post(
    "/server/{server_name}/delete",
    response_model=V1Reply[Deleted],
    **access("write"),
    summary="Delete a server (refused while it has services, unless cascade)",
)
def delete_server(
    request: Request,
    server_name: NameInPath,
    body: Annotated[ServerDeleteOptions | None, Body()] = None,
) -> JSONResponse:
    cascade = body.cascade if body else False
    count = registry_of(request).delete_server(server_name, cascade=cascade)
    return reply(request.url.path, Deleted(services=count))


@router.post(
    "/service/delete",
    response_model=V1Reply[None],
    **access("write"),
    summary="Delete a service",
)
def delete_service(request: Request, body: ServiceKey) -> JSONResponse:
    registry_of(request).delete_service(body.server_name, body.service_name)
    return reply(request.url.path)
