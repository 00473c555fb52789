"""Run the HTTP API under uvicorn, refusing to expose open writes or an open hook gateway beyond
loopback."""

from __future__ import annotations

import copy
import ipaddress
import json
import os
from typing import Any

import uvicorn
from pydantic import SecretStr
from uvicorn.config import LOGGING_CONFIG

from ..registry import Registry
from ..settings import Settings
from .app import create_app
from .security import authentication_configured

FACTORY = "fate_registry.http.app:app_from_env"
ENV_PREFIX = "FATE_REGISTRY_"


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class ServeError(ValueError):
    """``serve`` cannot start with these options; the message says why."""


class UnsafeBind(ServeError):
    """Listening beyond loopback with writes or the hook gateway open to anyone; ``--insecure``
    overrides."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def chain_protects(settings: Settings) -> bool:
    """Whether the client_authentication chain protects writes on its own: it is on, and
    neither its default nor its failure policy is allow."""
    capability = settings.hooks.client_authentication
    return settings.hooks.api_authentication and "allow" not in (
        capability.default,
        capability.failure_policy,
    )


def gateway_protected(settings: Settings) -> bool:
    """Whether the hook gateway needs a token: only tokens protect it (FATE Flow sends none, so
    the client_authentication chain is not run for it), as writes or as protected reads."""
    return bool(settings.admin_tokens) and (
        settings.hooks.gateway_protection == "write" or settings.protect_reads
    )


def check_bind(settings: Settings, insecure: bool = False) -> None:
    if is_loopback(settings.host) or insecure:
        return
    if not authentication_configured(settings, None) and not chain_protects(settings):
        raise UnsafeBind(
            f"refusing to listen on {settings.host}: anyone who can reach it could register or "
            "delete services. Set FATE_REGISTRY_ADMIN_TOKENS (then writes need "
            "'Authorization: Bearer <token>') or FATE_REGISTRY_HOOKS__API_AUTHENTICATION=true "
            "(FATE's client_authentication chain, with its default and failure_policy deny), "
            "listen on 127.0.0.1, or pass --insecure."
        )
    if not gateway_protected(settings):
        raise UnsafeBind(
            f"refusing to listen on {settings.host}: the hook gateway (/v1/hook/*) would be "
            "open to anyone, and /v1/hook/signature would sign anything for anyone. Set "
            "FATE_REGISTRY_ADMIN_TOKENS with FATE_REGISTRY_HOOKS__GATEWAY_PROTECTION=write "
            "(the default), or with FATE_REGISTRY_PROTECT_READS=true when it is read; listen "
            "on 127.0.0.1, or pass --insecure."
        )


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging, with our loggers (the access log among them) on its handler."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["fate_registry"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def settings_env(settings: Settings) -> dict[str, str]:
    """Settings as FATE_REGISTRY_* variables, for worker processes that load them again."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[ENV_PREFIX + name.upper()] = _env_value(value)
    return env


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_env_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(_plain(value))
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def serve(
    settings: Settings, *, workers: int = 1, insecure: bool = False, log_level: str = "info"
) -> None:
    """Serve until interrupted. Raises UnsafeBind before listening when it would be unsafe."""
    if log_level not in LOG_LEVELS:
        raise ServeError(f"log level {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    check_bind(settings, insecure)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config(log_level),
        "log_level": log_level,
        "access_log": False,  # ours carries the request id
        "proxy_headers": False,
        "server_header": False,
    }
    if workers > 1:
        # Each worker process builds its own app and registry from these variables. A database
        # they could not use (unreachable, a newer schema) is refused here, once, before any
        # worker starts.
        Registry(settings=settings).close()
        os.environ.update(settings_env(settings))
        uvicorn.run(FACTORY, factory=True, workers=workers, **options)
        return
    with Registry(settings=settings) as registry:
        uvicorn.run(create_app(registry, settings), **options)


def serve_with(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
    insecure: bool = False,
    log_level: str = "info",
) -> None:
    """``serve`` with the command line's --host and --port over the settings."""
    overrides = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    serve(
        Settings.model_validate({**settings.model_dump(), **overrides}),
        workers=workers,
        insecure=insecure,
        log_level=log_level,
    )
