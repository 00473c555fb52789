"""``fate-registry server ...`` and ``fate-registry service ...``: register, list, show, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .common import CliError, JsonFlag, json_option, open_registry
from .output import fields_table, new_table, print_json, print_table

if TYPE_CHECKING:
    from rich.table import Table

    from ..models import Server, Service

server_app = typer.Typer(help="Register, list, show and delete servers.", no_args_is_help=True)
service_app = typer.Typer(help="Register, list, show and delete services.", no_args_is_help=True)


def servers_table(servers: list[Server]) -> Table:
    table = new_table("name", "url", "tls", "updated")
    table.columns[1].overflow = "fold"
    for server in servers:
        table.add_row(server.name, server.base_url, _tls(server), f"{server.updated_at:%F %T}")
    return table


def services_table(services: list[Service]) -> Table:
    table = new_table("server", "service", "method", "url")
    table.columns[3].overflow = "fold"
    for service in services:
        table.add_row(service.server_name, service.service_name, service.method, service.url)
    return table


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
    host: Annotated[str, typer.Option(help="Hostname, IPv4 or IPv6 address.")],
    port: Annotated[int, typer.Option(help="Port, 1 to 65535.")],
    protocol: Annotated[str, typer.Option(help="http or https.")] = "http",
    ca_bundle: Annotated[
        str | None, typer.Option(metavar="PATH", help="CA bundle to verify https.")
    ] = None,
    client_cert: Annotated[
        str | None, typer.Option(metavar="PATH", help="Client certificate (mTLS).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a server, or move it: its services follow it to the new address."""
    server = open_registry(ctx).register_server(
        name, host, port, protocol, ca_bundle=ca_bundle, client_cert=client_cert
    )
    if as_json:
        print_json(server.model_dump(mode="json"))
    else:
        typer.echo(f"registered server {server.name} at {server.base_url}")


@server_app.command("list")
def server_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the registered servers."""
    servers = open_registry(ctx).servers()
    if as_json:
        print_json([server.model_dump(mode="json") for server in servers])
    else:
        print_table(servers_table(servers))


@server_app.command("show")
def server_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Server name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a server and its services."""
    registry = open_registry(ctx)
    server = registry.server(name)
    services = [shown(service) for service in registry.services(server.name)]
    if as_json:
        print_json(
            {
                **server.model_dump(mode="json"),
                "services": [service.model_dump(mode="json") for service in services],
            }
        )
        return
    fields = server.model_dump(mode="json", exclude={"name"})
    print_table(fields_table(f"server {server.name}", {"url": server.base_url, **fields}))
    if services:
        print_table(services_table(services))
    else:
        typer.echo("no services")


@server_app.command("delete")
def server_delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Server name.")],
    cascade: Annotated[bool, typer.Option(help="Delete its services too.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete a server; refused while it has services, unless --cascade."""
    from ..errors import Conflict

    try:
        deleted = open_registry(ctx).delete_server(name, cascade=cascade)
    except Conflict as exc:
        raise CliError(f"{exc} (--cascade)") from None
    if as_json:
        print_json({"server_name": name.upper(), "services_deleted": deleted})
    else:
        also = f" and its {deleted} service(s)" if deleted else ""
        typer.echo(f"deleted server {name.upper()}{also}")


# -- service --------------------------------------------------------------------------------------


@service_app.command("register")
def service_register(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(metavar="SERVER", help="Server name.")],
    service: Annotated[
        str, typer.Argument(metavar="SERVICE", help="Service name, e.g. upload or permission.")
    ],
    uri: Annotated[str, typer.Option(help="Path on the server, starting with '/'.")],
    method: Annotated[str, typer.Option(help="GET, POST, PUT, PATCH or DELETE.")] = "POST",
    protocol: Annotated[
        str | None, typer.Option(help="http or https (default: the server's).")
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
    as_json: JsonFlag = False,
) -> None:
    """Register a service on a server, or replace it."""
    registered = open_registry(ctx).register_service(
        server,
        service,
        uri,
        method,
        protocol=protocol,
        params=json_option("params", params),
        data=json_option("data", data),
        headers=json_option("headers", headers),
    )
    registered = shown(registered)
    if as_json:
        print_json(registered.model_dump(mode="json"))
    else:
        typer.echo(
            f"registered service {registered.service_name} on {registered.server_name}: "
            f"{registered.method} {registered.url}"
        )


@service_app.command("list")
def service_list(
    ctx: typer.Context,
    server: Annotated[str | None, typer.Option(help="Only the services of this server.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the registered services, with their URLs as they resolve now."""
    services = [shown(service) for service in open_registry(ctx).services(server)]
    if as_json:
        print_json([service.model_dump(mode="json") for service in services])
    else:
        print_table(services_table(services))


@service_app.command("show")
def service_show(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(metavar="SERVER", help="Server name.")],
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="Service name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a service: its URL, method, params, data and headers."""
    found = shown(open_registry(ctx).service(server, service))
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    fields = found.model_dump(mode="json", exclude={"server_name", "service_name"})
    print_table(fields_table(f"service {found.service_name} on {found.server_name}", fields))


@service_app.command("delete")
def service_delete(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(metavar="SERVER", help="Server name.")],
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="Service name.")],
    as_json: JsonFlag = False,
) -> None:
    """Delete a service."""
    open_registry(ctx).delete_service(server, service)
    if as_json:
        print_json({"server_name": server.upper(), "service_name": service.lower()})
    else:
        typer.echo(f"deleted service {service.lower()} on {server.upper()}")
