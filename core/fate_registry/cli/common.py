"""What every command shares: the global options' state, settings, the registry, and the errors
the user can cause (one ``error:`` line and an exit code each).

Imports only typer and the standard library at module level: each command module imports this
one, and ``fate-registry --help`` loads every command module.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ..client import RegistryClient
    from ..registry import Registry
    from ..settings import Settings

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
MASK = "**********"
CONFIG_ENV = "FATE_REGISTRY_CONFIG"  # settings.CONFIG_ENV, without importing pydantic-settings
URL_ENV = "FATE_REGISTRY_URL"
TOKEN_ENV = "FATE_REGISTRY_TOKEN"

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (the same as -o json).")]


class CliError(Exception):
    """An error already worded for the user, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class CliState:
    """The global options, and what was built from them once a command asked for it."""

    db: str | None = None
    config: Path | None = None
    url: str | None = None  # remote mode: a `fate-registry serve` instead of the database
    token: str | None = field(default=None, repr=False)
    settings: Settings | None = field(default=None, repr=False)
    config_found: tuple[Path | None, str] | None = None  # the file used, and why that one

    @property
    def shown_db_url(self) -> str:
        url = self.db or (self.settings.db_url.get_secret_value() if self.settings else None)
        return masked_url(url) if url else "the database"


def state_of(ctx: typer.Context) -> CliState:
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    return state


def settings_of(ctx: typer.Context) -> Settings:
    """The settings from the environment, the config file and ``--db``; loaded once."""
    state = state_of(ctx)
    if state.settings is None:
        overrides = {"db_url": state.db} if state.db is not None else {}
        config, _ = state.config_found = config_file(state)
        state.settings = _load_settings(config, overrides)
    return state.settings


def config_file(state: CliState) -> tuple[Path | None, str]:
    """The settings file to read, and why that one: ``--config``, else $FATE_REGISTRY_CONFIG
    (either must exist), else the first that exists of ./fate-registry.toml, the user's
    config folder and /etc/fate-registry/config.toml."""
    if state.config is not None:
        return state.config, "--config"
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]), f"${CONFIG_ENV}"
    for path, why in config_candidates():
        if path.is_file():
            return path, why
    return None, "no settings file found"


def config_candidates() -> list[tuple[Path, str]]:
    """Where settings files are looked for when none is named, first found wins."""
    user = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [
        (Path("fate-registry.toml"), "the working directory"),
        (user / "fate-registry" / "config.toml", "the user's config folder"),
        (Path("/etc/fate-registry/config.toml"), "the system config folder"),
    ]


def _load_settings(config: Path | None, overrides: dict[str, Any]) -> Settings:
    import tomllib

    from pydantic import ValidationError

    from ..settings import InvalidVariable, UnknownVariables, load_settings

    try:
        return load_settings(config, **overrides)
    except (FileNotFoundError, IsADirectoryError, UnknownVariables, InvalidVariable) as exc:
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
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"config file {config}: not valid TOML: {exc}", EXIT_INVALID) from None


def open_registry(ctx: typer.Context) -> Registry | RegistryClient:
    """The registry of the configured database, or with ``--url`` the server's over its HTTP
    API; closed when the command ends."""
    state = state_of(ctx)
    if state.url is not None:
        from ..client import RegistryClient

        return ctx.with_resource(RegistryClient(state.url, token=state.token))
    return open_local_registry(ctx)


def open_local_registry(ctx: typer.Context, why: str | None = None) -> Registry:
    """The registry of the configured database, for commands the HTTP API does not offer
    (``why``, when given, says so in place of the general message)."""
    from ..registry import Registry

    local_only(ctx, why)
    settings = settings_of(ctx)
    with _driver_errors():
        registry = Registry(settings=settings)
    return ctx.with_resource(registry)


def local_only(ctx: typer.Context, why: str | None = None) -> None:
    """Refuse, with exit 2, a command that the HTTP API does not offer when ``--url`` is set;
    ``why`` (e.g. "private keys never travel") replaces "works where the registry runs"."""
    if state_of(ctx).url is not None:
        because = why or "works where the registry runs, not over its HTTP API"
        raise CliError(
            f"'{ctx.command_path}' {because}: run it without --url (or ${URL_ENV}) on a host "
            "that reaches the database",
            EXIT_INVALID,
        )


def open_engine(ctx: typer.Context) -> Engine:
    """A bare engine of the configured database, for commands that must not upgrade it."""
    from ..store import Timeouts, create_engine

    local_only(ctx)
    settings = settings_of(ctx)
    with _driver_errors():
        engine = create_engine(settings.db_url.get_secret_value(), Timeouts.from_settings(settings))
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
    from ..settings import masked_db_url

    return masked_db_url(url)


def json_option(name: str, text: str | None) -> dict[str, Any] | None:
    """The value of a ``--NAME JSON`` option: a JSON object, or a CliError naming the option."""
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


def read_text(file: str) -> str:
    """A UTF-8 text file's content, or stdin's for ``-``; a CliError (exit 2) when unreadable."""
    if file == "-":
        return typer.get_text_stream("stdin").read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{file}: not a UTF-8 text file", EXIT_INVALID) from None
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}", EXIT_INVALID) from None


# -- errors: one line each, whatever command raised them ----------------------------------------


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def describe(exc: Exception, state: CliState | None) -> tuple[str, int] | None:
    """The message and exit code of an error the user can cause, or None for a bug."""
    from ..errors import (
        InvalidRegistration,
        KeyNotFound,
        RegistryError,
        RegistryUnavailable,
        ServerNotFound,
        ServiceNotFound,
        UnsupportedDatabase,
    )

    def database() -> str:
        return state.shown_db_url if state else "the database"

    match exc:
        case CliError():
            return str(exc), exc.exit_code
        case ServerNotFound() | ServiceNotFound() | KeyNotFound():
            return str(exc), EXIT_NOT_FOUND
        case InvalidRegistration():
            return str(exc), EXIT_INVALID
        case UnsupportedDatabase():
            return f"invalid database URL {database()}: {exc}", EXIT_INVALID
        case RegistryUnavailable():  # its reason names no host, port or database
            return f"database {database()} is unavailable: {exc.reason}", EXIT_FAILED
        case RegistryError():
            return str(exc), _registry_error_code(exc)
    # Imported here: only a command that fails this way pays for them.
    from alembic.util import CommandError
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    match exc:
        case NoSuchModuleError():
            return f"invalid database URL {database()}: unknown database kind", EXIT_INVALID
        case ArgumentError():
            return f"invalid database URL {database()}: {_first_line(exc)}", EXIT_INVALID
        case SQLAlchemyError():
            return f"database {database()}: {_first_line(exc)}", EXIT_FAILED
        case CommandError():  # Alembic: e.g. a schema revision this version does not know
            return f"database {database()}: {exc}", EXIT_FAILED
    return None


def _registry_error_code(exc: Exception) -> int:
    """Exit 2 for a bad import document, a plugin name that is not installed, and what a remote
    server refuses as input (a missing or wrong token, a host it does not allow); 1 for the
    rest. Modules not imported cannot have raised: they are not imported to find out."""
    transfer = sys.modules.get("fate_registry.transfer")
    plugins = sys.modules.get("fate_registry.plugins")
    client = sys.modules.get("fate_registry.client")
    if transfer is not None and isinstance(exc, transfer.DocumentError):
        return EXIT_INVALID
    if plugins is not None and isinstance(exc, plugins.UnknownPlugins):
        return EXIT_INVALID
    if client is not None and isinstance(exc, client.AuthenticationFailed | client.Forbidden):
        return EXIT_INVALID
    return EXIT_FAILED
