"""What every command shares: the global options' state, settings, the registry, and the errors
the user can cause (one ``error:`` line and an exit code each).

Imports only typer and the standard library at module level: each command module imports this
one, and ``fate-registry --help`` loads every command module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ..registry import Registry
    from ..settings import Settings

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
MASK = "**********"
CONFIG_ENV = "FATE_REGISTRY_CONFIG"  # settings.CONFIG_ENV, without importing pydantic-settings

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


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
    settings: Settings | None = field(default=None, repr=False)

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
        # Looked up here too, so that an invalid setting's message can name the file.
        config = state.config or (
            Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None
        )
        state.settings = _load_settings(config, overrides)
    return state.settings


def _load_settings(config: Path | None, overrides: dict[str, Any]) -> Settings:
    from pydantic import ValidationError

    from ..settings import UnknownVariables, load_settings

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
    from ..registry import Registry

    settings = settings_of(ctx)
    with _driver_errors():
        registry = Registry(settings=settings)
    return ctx.with_resource(registry)


def open_engine(ctx: typer.Context) -> Engine:
    """A bare engine of the configured database, for commands that must not upgrade it."""
    from ..store import Timeouts, create_engine

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
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        secrets = {k: MASK for k in parsed.query if k.lower() in ("password", "sslpassword")}
        return parsed.update_query_dict(secrets).render_as_string(hide_password=True)
    except ArgumentError:
        return url if "@" not in url else MASK  # unparsable; show it unless it may hold a password


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
    # Imported here: only a failing command pays for them.
    from alembic.util import CommandError
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from ..errors import (
        InvalidRegistration,
        RegistryError,
        RegistryUnavailable,
        ServerNotFound,
        ServiceNotFound,
        UnsupportedDatabase,
    )
    from ..plugins import UnknownPlugins
    from ..transfer import DocumentError

    database = state.shown_db_url if state else "the database"
    match exc:
        case CliError():
            return str(exc), exc.exit_code
        case ServerNotFound() | ServiceNotFound():
            return str(exc), EXIT_NOT_FOUND
        case InvalidRegistration() | DocumentError() | UnknownPlugins():
            return str(exc), EXIT_INVALID
        case UnsupportedDatabase():
            return f"invalid database URL {database}: {exc}", EXIT_INVALID
        case RegistryUnavailable():  # its reason names no host, port or database
            return f"database {database} is unavailable: {exc.reason}", EXIT_FAILED
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
