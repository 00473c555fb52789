"""The ``fate-registry`` application: its global options, the one-line error handling, and
:data:`COMMANDS`, the table of command modules, each imported only when its command is used.

To add a command group, write ``cli/<group>.py`` holding a ``typer.Typer`` (module level: typer
and ``.common``/``.output`` only; import the rest inside the commands) and add one line to
:data:`COMMANDS`. Its commands get the global options through ``settings_of(ctx)`` /
``open_registry(ctx)`` and the error handling of :class:`RootGroup` for free.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group_from_info
from typer.models import TyperInfo

from .common import (
    CONFIG_ENV,
    EXIT_FAILED,
    EXIT_INVALID,
    TOKEN_ENV,
    URL_ENV,
    CliError,
    CliState,
    describe,
)

# The command name -> "module:attribute" in this package, where the attribute is a typer.Typer.
# When that Typer has a command of the same name, the entry is that command (``import``,
# ``serve``); otherwise the Typer is a group of that name (``server register``). Help lists them
# in this order.
COMMANDS: dict[str, str] = {
    "server": "servers:server_app",
    "service": "servers:service_app",
    "import": "transfer:app",
    "export": "transfer:app",
    "db": "db:db_app",
    "config": "config:config_app",
    "serve": "serve:app",
    "status": "status:app",
    "plugins": "plugins:app",
    "call": "plugins:app",
    "keys": "keys:keys_app",
    "permission": "permission:permission_app",
    "audit": "audit:audit_app",
    "api-reader": "apireader:api_reader_app",
    "demo": "demo:app",
}


def _fail(message: str, exit_code: int) -> typer.Exit:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return typer.Exit(exit_code)


class _LazyCommands(MutableMapping[str, Any]):
    """The root group's commands: every name of :data:`COMMANDS` is listed, and its module is
    imported the first time the command is looked up (to run it, or to show it in help)."""

    def __init__(self, group: RootGroup, loaded: MutableMapping[str, Any]) -> None:
        self._group = group
        self._loaded = dict(loaded)

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = self._group.load(name, COMMANDS[name])
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._loaded
        yield from (name for name in COMMANDS if name not in self._loaded)

    def __len__(self) -> int:
        return len(self._loaded.keys() | COMMANDS.keys())


class RootGroup(TyperGroup):
    """The root group: loads commands from :data:`COMMANDS` on demand, and turns every expected
    error, usage errors included, into one line."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands(self, self.commands)

    def load(self, name: str, target: str) -> Any:
        """The click command of ``name`` from ``target`` ("module:attribute")."""
        module_name, attribute = target.split(":")
        module = importlib.import_module(f"{__package__}.{module_name}")
        sub_app = getattr(module, attribute)
        assert isinstance(sub_app, typer.Typer), f"{target} is not a typer.Typer"
        markup = self.rich_markup_mode
        for info in sub_app.registered_commands:
            command_name = info.name or (info.callback.__name__ if info.callback else "")
            if command_name == name:
                return get_command_from_info(
                    info, pretty_exceptions_short=True, rich_markup_mode=markup
                )
        return get_group_from_info(
            TyperInfo(sub_app, name=name),
            pretty_exceptions_short=True,
            rich_markup_mode=markup,
            suggest_commands=True,
        )

    def invoke(self, ctx: Any) -> Any:  # the vendored click's Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # click's own (a group's --help exits this way): no need to ask describe()
        except Exception as exc:
            described = describe(exc, ctx.obj if isinstance(ctx.obj, CliState) else None)
            if described is None:
                raise
            raise _fail(*described) from None

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


app = typer.Typer(
    cls=RootGroup,
    name="fate-registry",
    help="Registration centre for the third-party services FATE Flow calls back.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Click's plain help: it reads the same in a terminal and a pipe, and rich's would cost
    # more start-up time than the rest of --help together.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"fate-registry {__version__}")
        raise typer.Exit()


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
            "--config",
            metavar="FILE",
            help=f"TOML settings file (default: ${CONFIG_ENV}, else ./fate-registry.toml, "
            "~/.config/fate-registry/config.toml, /etc/fate-registry/config.toml).",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            envvar=URL_ENV,
            show_envvar=False,
            help=f"Work through a 'fate-registry serve' at URL instead of opening the database "
            f"(default: ${URL_ENV}).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            envvar=TOKEN_ENV,
            show_envvar=False,
            help=f"Bearer token for --url (default: ${TOKEN_ENV}, which keeps it out of ps).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Registration centre for the third-party services FATE Flow calls back."""
    if url is not None and db is not None:
        raise CliError("--db and --url exclude each other: one registry at a time", EXIT_INVALID)
    ctx.obj = CliState(db=db, config=config, url=url or None, token=token or None)


def main() -> None:
    app()
