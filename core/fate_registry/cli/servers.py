"""``fate-registry server ...`` and ``fate-registry service ...``: register, list, show, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import CliError, JsonFlag, json_option, open_registry
from .output import (
    OutputOption,
    chosen,
    is_pattern,
    matches,
    print_fields,
    print_result,
    print_rows,
)

if TYPE_CHECKING:
    from ..models import Server, Service

server_app = typer.Typer(help="Register, list, show and delete servers.", no_args_is_help=True)
service_app = typer.Typer(help="Register, list, show and delete services.", no_args_is_help=True)

SERVER_COLUMNS = ("name", "url", "tls", "updated")
SERVICE_COLUMNS = ("server", "service", "method", "url")

ServerFilter = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="NAME",
        help="Only this server, or the servers whose names match a pattern such as 'fate*'.",
    ),
]
ServiceFilter = Annotated[
    str | None,
    typer.Option(
        "--service",
        metavar="NAME",
        help="Only this service, or the services whose names match a pattern such as 'up*'.",
    ),
]


def server_row(server: Server) -> list[Any]:
    return [server.name, server.base_url, _tls(server), f"{server.updated_at:%F %T}"]


def service_row(service: Service) -> list[Any]:
    return [service.server_name, service.service_name, service.method, service.url]


def shown(service: Service) -> Service:
    """A service as printed: values under secret-looking names masked, in params, data and
    headers and the query of uri and url (``export`` writes the real values)."""
    from ..masking import mask_service

    return mask_service(service)


def _tls(server: Server) -> str:
    parts = [
        name
        for name, is_set in (("ca", server.tls_ca_bundle_set), ("cert", server.tls_client_cert_set))
        if is_set
    ]
    return ", ".join(parts) or "-"


# -- server ---------------------------------------------------------------------------------------


@server_app.command("register")
def server_register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Server name (stored upper-case).")],
    host: Annotated[str, typer.Option(metavar="HOST", help="Hostname, IPv4 or IPv6 address.")],
    port: Annotated[int, typer.Option(metavar="PORT", help="Port, 1 to 65535.")],
    protocol: Annotated[str, typer.Option(metavar="PROTOCOL", help="http or https.")] = "http",
    ca_bundle: Annotated[
        str | None, typer.Option(metavar="PATH", help="CA bundle to verify https.")
    ] = None,
    client_cert: Annotated[
        str | None, typer.Option(metavar="PATH", help="Client certificate (mTLS).")
    ] = None,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a server, or move it.

    Its services follow it to the new address at once.
    """
    server = open_registry(ctx).register_server(
        name, host, port, protocol, ca_bundle=ca_bundle, client_cert=client_cert
    )
    print_result(
        chosen(output, as_json),
        f"registered server {server.name} at {server.base_url}",
        server.model_dump(mode="json"),
    )


@server_app.command("list")
def server_list(
    ctx: typer.Context,
    server: ServerFilter = None,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List the registered servers.

    Plain output (the default in a pipe) is one line per server, tab-separated: name, url, tls,
    updated.
    """
    servers = open_registry(ctx).servers()
    if server is not None and not is_pattern(server):
        server = server.upper()
    listed = [found for found in servers if matches(found.name, server)]
    print_rows(
        chosen(output, as_json),
        SERVER_COLUMNS,
        [server_row(found) for found in listed],
        [found.model_dump(mode="json") for found in listed],
    )


@server_app.command("show")
def server_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Server name.")],
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a server and its services."""
    registry = open_registry(ctx)
    server = registry.server(name)
    services = [shown(service) for service in registry.services(server.name)]
    fmt = chosen(output, as_json)
    data = {
        **server.model_dump(mode="json"),
        "services": [service.model_dump(mode="json") for service in services],
    }
    fields = {"url": server.base_url, **server.model_dump(mode="json", exclude={"name"})}
    print_fields(fmt, f"server {server.name}", fields, data)
    if fmt in ("json", "yaml"):
        return
    if services:
        if fmt == "plain":
            typer.echo("")
        print_rows(fmt, SERVICE_COLUMNS, [service_row(service) for service in services], None)
    elif fmt == "table":
        typer.echo("no services")


@server_app.command("delete")
def server_delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Server name.")],
    cascade: Annotated[bool, typer.Option(help="Delete its services too.")] = False,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a server.

    Refused while it has services, unless --cascade.
    """
    from ..errors import Conflict

    try:
        deleted = open_registry(ctx).delete_server(name, cascade=cascade)
    except Conflict as exc:
        raise CliError(f"{exc} (--cascade)") from None
    also = f" and its {deleted} service(s)" if deleted else ""
    print_result(
        chosen(output, as_json),
        f"deleted server {name.upper()}{also}",
        {"server_name": name.upper(), "services_deleted": deleted},
    )


# -- service --------------------------------------------------------------------------------------


@service_app.command("register")
def service_register(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(metavar="SERVER", help="Server name.")],
    service: Annotated[
        str, typer.Argument(metavar="SERVICE", help="Service name, e.g. upload or permission.")
    ],
    uri: Annotated[str, typer.Option(metavar="URI", help="Path on the server, starting with '/'.")],
    method: Annotated[
        str, typer.Option(metavar="METHOD", help="GET, POST, PUT, PATCH or DELETE.")
    ] = "POST",
    protocol: Annotated[
        str | None,
        typer.Option(metavar="PROTOCOL", help="http or https (default: the server's)."),
    ] = None,
    params: Annotated[
        str | None, typer.Option(metavar="JSON", help="Query parameters, a JSON object.")
    ] = None,
    data: Annotated[
        str | None, typer.Option(metavar="JSON", help="Body fields sent with every call.")
    ] = None,
    headers: Annotated[
        str | None, typer.Option(metavar="JSON", help="Headers, a JSON object of strings.")
    ] = None,
    check_path: Annotated[
        str | None,
        typer.Option(
            metavar="PATH", help="HTTP health check: the path serve checks, e.g. /health."
        ),
    ] = None,
    check_method: Annotated[
        str, typer.Option(metavar="METHOD", help="Health check method: GET, HEAD or POST.")
    ] = "GET",
    check_status: Annotated[
        int, typer.Option(metavar="STATUS", help="Health check: the status that passes.")
    ] = 200,
    check_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Health check: seconds for an answer.")
    ] = 2.0,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a service on a server, or replace it.

    With --check-path, serve checks it over HTTP at every health interval (see docs/server.md).
    """
    check = None
    if check_path is not None:
        check = {"method": check_method, "path": check_path, "status": check_status,
                 "timeout": check_timeout}  # fmt: skip
    registered = open_registry(ctx).register_service(
        server,
        service,
        uri,
        method,
        protocol=protocol,
        params=json_option("params", params),
        data=json_option("data", data),
        headers=json_option("headers", headers),
        check=check,
    )
    registered = shown(registered)
    print_result(
        chosen(output, as_json),
        f"registered service {registered.service_name} on {registered.server_name}: "
        f"{registered.method} {registered.url}",
        registered.model_dump(mode="json"),
    )


@service_app.command("list")
def service_list(
    ctx: typer.Context,
    server: ServerFilter = None,
    service: ServiceFilter = None,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List the registered services, with their URLs as they resolve now.

    Plain output (the default in a pipe) is one line per service, tab-separated: server,
    service, method, url. A --server given by name must be registered (exit 3 otherwise).
    """
    registry = open_registry(ctx)
    if server is not None and not is_pattern(server):
        services = registry.services(server)
    else:
        services = [found for found in registry.services() if matches(found.server_name, server)]
    if service is not None and not is_pattern(service):
        service = service.lower()
    listed = [shown(found) for found in services if matches(found.service_name, service)]
    print_rows(
        chosen(output, as_json),
        SERVICE_COLUMNS,
        [service_row(found) for found in listed],
        [found.model_dump(mode="json") for found in listed],
    )


@service_app.command("show")
def service_show(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(metavar="SERVER", help="Server name.")],
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="Service name.")],
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a service: its URL, method, params, data and headers."""
    found = shown(open_registry(ctx).service(server, service))
    fields = found.model_dump(mode="json", exclude={"server_name", "service_name"})
    title = f"service {found.service_name} on {found.server_name}"
    print_fields(chosen(output, as_json), title, fields, found.model_dump(mode="json"))


@service_app.command("delete")
def service_delete(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(metavar="SERVER", help="Server name.")],
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="Service name.")],
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a service."""
    open_registry(ctx).delete_service(server, service)
    print_result(
        chosen(output, as_json),
        f"deleted service {service.lower()} on {server.upper()}",
        {"server_name": server.upper(), "service_name": service.lower()},
    )
