"""The ``fate-registry`` command: register, list, import and export servers and services.

Every error is one line on stderr, ``error: <what went wrong>``, and an exit code:

- 0 success;
- 1 the operation failed: the database is unreachable or refused it, a conflict (a server that
  still has services), a schema that needs ``fate-registry db upgrade``;
- 2 the input is wrong: a usage error, an invalid value, a bad import file, a bad setting;
- 3 the server or service asked for is not registered.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from alembic.util import CommandError
from pydantic import BaseModel, SecretStr, ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from typer.core import TyperGroup

from . import plugin_cli, schema, transfer
from .errors import (
    Conflict,
    InvalidRegistration,
    RegistryError,
    ServerNotFound,
    ServiceNotFound,
    UnsupportedDatabase,
)
from .models import Server, Service
from .registry import Registry
from .settings import CONFIG_ENV, Settings, UnknownVariables, load_settings
from .store import create_engine

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
MASK = "**********"


class CliError(Exception):
    """An error already worded for the user, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- errors: one line each, whatever command raised them ----------------------------------------


def _fail(message: str, exit_code: int) -> NoReturn:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(exit_code)


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _describe(exc: Exception, state: CliState | None) -> tuple[str, int] | None:
    """The message and exit code of an error the user can cause, or None for a bug."""
    database = state.shown_db_url if state else "the database"
    match exc:
        case CliError():
            return str(exc), exc.exit_code
        case ServerNotFound() | ServiceNotFound():
            return str(exc), EXIT_NOT_FOUND
        case InvalidRegistration() | transfer.DocumentError():
            return str(exc), EXIT_INVALID
        case UnsupportedDatabase():
            return f"invalid database URL {database}: {exc}", EXIT_INVALID
        case RegistryError():
            return str(exc), EXIT_FAILED
        case NoSuchModuleError():
            return f"invalid database URL {database}: unknown database kind", EXIT_INVALID
        case ArgumentError():
            return f"invalid database URL {database}: {_first_line(exc)}", EXIT_INVALID
        case SQLAlchemyError():
            return f"database {database}: {_first_line(exc)}", EXIT_FAILED
        case CommandError():  # Alembic: e.g. a schema revision this version does not know
            return f"database {database}: {exc}", EXIT_FAILED
    return None


class _Commands(TyperGroup):
    """The root group: turns every expected error, usage errors included, into one line."""

    def invoke(self, ctx: Any) -> Any:  # the vendored click's Context
        try:
            return super().invoke(ctx)
        except Exception as exc:
            described = _describe(exc, ctx.obj if isinstance(ctx.obj, CliState) else None)
            if described is None:
                raise
            _fail(*described)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        call = {"args": args, "prog_name": prog_name, "complete_var": complete_var, **extra}
        call["windows_expand_args"] = windows_expand_args
        if not standalone_mode:
            return super().main(**call, standalone_mode=False)
        try:
            result = super().main(**call, standalone_mode=False)
        except typer.TyperException as exc:  # usage errors of the vendored click
            if type(exc).__name__ == "NoArgsIsHelpError":  # the message is the help
                if exc.format_message().strip():  # rich help prints itself and returns ""
                    typer.echo(exc.format_message(), err=True)
                sys.exit(exc.exit_code)
            message = exc.format_message().rstrip(".").replace("Value error, ", "")
            command = getattr(getattr(exc, "ctx", None), "command_path", None)
            hint = f" (see '{command} --help')" if command else ""
            typer.echo(f"error: {message[:1].lower()}{message[1:]}{hint}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(result if isinstance(result, int) else 0)


# -- the application and its global options -----------------------------------------------------

app = typer.Typer(
    cls=_Commands,
    name="fate-registry",
    help="Registration centre for the third-party services FATE Flow calls back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
server_app = typer.Typer(help="Register, list, show and delete servers.", no_args_is_help=True)
service_app = typer.Typer(help="Register, list, show and delete services.", no_args_is_help=True)
db_app = typer.Typer(help="Create and upgrade the registry database.", no_args_is_help=True)
config_app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(service_app, name="service")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@dataclass
class CliState:
    """The global options, and what was built from them once a command asked for it."""

    db: str | None = None
    config: Path | None = None
    settings: Settings | None = field(default=None, repr=False)

    @property
    def shown_db_url(self) -> str:
        url = self.db or (self.settings.db_url.get_secret_value() if self.settings else None)
        return masked_url(url) if url else "the database"


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="Database URL, e.g. sqlite:///registry.db (default: FATE_REGISTRY_DB_URL).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", metavar="FILE", help=f"TOML settings file (default: ${CONFIG_ENV})."
        ),
    ] = None,
) -> None:
    """Registration centre for the third-party services FATE Flow calls back."""
    ctx.obj = CliState(db=db, config=config)


def state_of(ctx: typer.Context) -> CliState:
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    return state


def settings_of(ctx: typer.Context) -> Settings:
    """The settings from the environment, the config file and ``--db``; loaded once."""
    state = state_of(ctx)
    if state.settings is None:
        overrides = {"db_url": state.db} if state.db is not None else {}
        # Looked up here too, so that an invalid setting's message can name the file.
        config = state.config or (
            Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None
        )
        state.settings = _load_settings(config, overrides)
    return state.settings


def _load_settings(config: Path | None, overrides: dict[str, Any]) -> Settings:
    try:
        return load_settings(config, **overrides)
    except (FileNotFoundError, UnknownVariables) as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            reason = (
                "is not a known setting" if error["type"] == "extra_forbidden" else error["msg"]
            )
            problems.append(f"{name}: {reason}")
        source = f"{config} or " if config else ""
        raise CliError(
            f"invalid settings (from {source}FATE_REGISTRY_* variables): {'; '.join(problems)}",
            EXIT_INVALID,
        ) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise CliError(f"config file {config}: not valid TOML: {exc}", EXIT_INVALID) from None


def open_registry(ctx: typer.Context) -> Registry:
    """The registry of the configured database, closed when the command ends."""
    settings = settings_of(ctx)
    with _driver_errors():
        registry = Registry(settings=settings)
    return ctx.with_resource(registry)


def open_engine(ctx: typer.Context) -> Engine:
    """A bare engine of the configured database, for commands that must not upgrade it."""
    settings = settings_of(ctx)
    with _driver_errors():
        engine = create_engine(settings.db_url.get_secret_value())
    ctx.call_on_close(engine.dispose)
    return engine


@contextmanager
def _driver_errors() -> Iterator[None]:
    try:
        yield
    except ImportError as exc:
        raise CliError(
            f"the database driver is not installed ({exc}): "
            "pip install 'fate-registry[postgres]' or 'fate-registry[mysql]'",
            EXIT_FAILED,
        ) from None


def masked_url(url: str) -> str:
    """A database URL with its password hidden, the rest shown."""
    try:
        parsed = make_url(url)
        secrets = {k: MASK for k in parsed.query if k.lower() in ("password", "sslpassword")}
        return parsed.update_query_dict(secrets).render_as_string(hide_password=True)
    except ArgumentError:
        return url if "@" not in url else MASK  # unparsable; show it unless it may hold a password


# -- output ---------------------------------------------------------------------------------------


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_table(table: Table) -> None:
    Console().print(table)


def _fields_table(title: str, rows: Mapping[str, Any]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows.items():
        table.add_row(key, _cell(value))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _servers_table(servers: list[Server]) -> Table:
    table = Table("name", "url", "tls", "updated")
    table.columns[1].overflow = "fold"
    for server in servers:
        table.add_row(server.name, server.base_url, _tls(server), f"{server.updated_at:%F %T}")
    return table


def _services_table(services: list[Service]) -> Table:
    table = Table("server", "service", "method", "url")
    table.columns[3].overflow = "fold"
    for service in services:
        table.add_row(service.server_name, service.service_name, service.method, service.url)
    return table


def _tls(server: Server) -> str:
    parts = [
        name
        for name, is_set in (("ca", server.tls_ca_bundle_set), ("cert", server.tls_client_cert_set))
        if is_set
    ]
    return ", ".join(parts) or "-"


def _json_option(name: str, text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"--{name}: not valid JSON: {exc.msg} at column {exc.colno}"
        raise CliError(message, EXIT_INVALID) from None
    if not isinstance(value, dict):
        raise CliError(f'--{name}: must be a JSON object, e.g. {{"key": "value"}}', EXIT_INVALID)
    return value


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
        print_table(_servers_table(servers))


@server_app.command("show")
def server_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Server name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a server and its services."""
    registry = open_registry(ctx)
    server = registry.server(name)
    services = registry.services(server.name)
    if as_json:
        print_json(
            {
                **server.model_dump(mode="json"),
                "services": [service.model_dump(mode="json") for service in services],
            }
        )
        return
    shown = server.model_dump(mode="json", exclude={"name"})
    print_table(_fields_table(f"server {server.name}", {"url": server.base_url, **shown}))
    if services:
        print_table(_services_table(services))
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
        params=_json_option("params", params),
        data=_json_option("data", data),
        headers=_json_option("headers", headers),
    )
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
    services = open_registry(ctx).services(server)
    if as_json:
        print_json([service.model_dump(mode="json") for service in services])
    else:
        print_table(_services_table(services))


@service_app.command("show")
def service_show(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(metavar="SERVER", help="Server name.")],
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="Service name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a service: its URL, method, params, data and headers."""
    found = open_registry(ctx).service(server, service)
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    shown = found.model_dump(mode="json", exclude={"server_name", "service_name"})
    print_table(_fields_table(f"service {found.service_name} on {found.server_name}", shown))


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


# -- import and export ----------------------------------------------------------------------------


class Format(StrEnum):
    yaml = "yaml"
    json = "json"


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="YAML or JSON file; '-' for stdin.")],
    as_json: JsonFlag = False,
) -> None:
    """Import servers and services: all of them, or none when one entry is wrong.

    Reads the document `export` writes, or FATE Flow's legacy form
    {SERVER: {host, port, api: {SERVICE: {uri, method, params, data, headers}}}}.
    """
    text = _read_text(file)
    name = None if file == "-" else file
    try:
        document = transfer.loads(text, transfer.guess_format(name, text))
        servers, services = transfer.import_document(open_registry(ctx), document)
    except (transfer.DocumentError, InvalidRegistration) as exc:
        raise CliError(f"{file}: {exc}", EXIT_INVALID) from None
    if as_json:
        print_json({"servers": servers, "services": services})
    else:
        typer.echo(f"imported {servers} server(s) and {services} service(s) from {file}")


def _read_text(file: str) -> str:
    if file == "-":
        return typer.get_text_stream("stdin").read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{file}: not a UTF-8 text file", EXIT_INVALID) from None
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}", EXIT_INVALID) from None


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", help="Document format.")] = Format.yaml,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
) -> None:
    """Export every server and service, in the form `import` reads back."""
    document = transfer.export_document(open_registry(ctx))
    text = transfer.dumps(document, fmt.value)
    if output is None:
        typer.echo(text, nl=False)
        return
    partial = output.with_name(f".{output.name}.partial")
    try:  # written beside, then renamed: a failure never leaves half a file at OUTPUT
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"cannot write {output}: {exc.strerror}") from None
    services = sum(len(server["services"]) for server in document["servers"])
    count = len(document["servers"])
    typer.echo(f"exported {count} server(s) and {services} service(s) to {output}", err=True)


# -- db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Create the registry's tables, or upgrade them to this version's schema."""
    engine = open_engine(ctx)
    before = schema.current(engine)
    schema.upgrade(engine)
    after = schema.current(engine)
    if as_json:
        print_json({"from": before, "to": after})
    elif before == after:
        typer.echo(f"database already at revision {after} (latest)")
    else:
        typer.echo(f"database upgraded from revision {before or 'none'} to {after}")


@db_app.command("current")
def db_current(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the database's schema revision and the one this version needs."""
    current, head = schema.current(open_engine(ctx)), schema.head()
    if as_json:
        print_json({"current": current, "head": head})
    elif current == head:
        typer.echo(f"{current} (latest)")
    else:
        typer.echo(
            f"{current or 'none'} (this version needs {head}: run 'fate-registry db upgrade')"
        )


# -- config ---------------------------------------------------------------------------------------


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the effective settings, secrets masked."""
    settings = settings_of(ctx)
    shown = {name: _masked(name, getattr(settings, name)) for name in type(settings).model_fields}
    if as_json:
        print_json(shown)
        return
    table = Table("setting", "value")
    table.columns[0].overflow = table.columns[1].overflow = "fold"
    for name, value in _flatten(shown):
        table.add_row(name, _cell(value))
    print_table(table)


def _masked(name: str, value: Any) -> Any:
    """A setting as JSON data, secrets masked (a URL shows all but its password)."""
    if isinstance(value, SecretStr):
        return masked_url(value.get_secret_value()) if name.endswith("_url") else MASK
    if isinstance(value, BaseModel):
        return {key: _masked(key, getattr(value, key)) for key in type(value).model_fields}
    if isinstance(value, Mapping):
        return {key: _masked(name, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(name, item) for item in value]
    return value


def _flatten(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default: FATE_REGISTRY_HOST, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port (default: FATE_REGISTRY_PORT, 9390)."),
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", metavar="URL", help="Database URL (as the global --db).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Listen beyond loopback although writes or the hook gateway are open to anyone.",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the registration HTTP API: FATE Flow 1.x routes under /v1, 2.x under /v2."""
    from .http.serve import ServeError, serve_with

    if db is not None:
        state_of(ctx).db = db
    try:
        serve_with(
            settings_of(ctx),
            host=host,
            port=port,
            workers=workers,
            insecure=insecure,
            log_level=log_level,
        )
    except ServeError as exc:
        raise CliError(str(exc), EXIT_INVALID) from None


# Other commands (`serve`, `plugins`, `call`) are added here with `@app.command()` or
# `app.add_typer(...)`; they get the global options through `settings_of(ctx)` /
# `open_registry(ctx)` and the one-line error handling of `_Commands` for free.


plugin_cli.add_commands(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
