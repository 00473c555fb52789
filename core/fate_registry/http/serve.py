"""Run the HTTP API under uvicorn, refusing to expose open writes or an open hook gateway beyond
loopback."""

from __future__ import annotations

import copy
import ipaddress
import json
import logging
import logging.config
import os
import socket
from typing import Any

import uvicorn
from pydantic import SecretStr
from uvicorn.config import LOGGING_CONFIG

from ..dispatch import check_chains
from ..models import base_url
from ..plugins import plugin_manager
from ..registry import Registry
from ..settings import Settings
from .app import create_app
from .header_limits import HeaderLimits, bounded_protocol
from .hosts import is_every_address
from .security import authentication_configured

log = logging.getLogger("fate_registry.http")

FACTORY = "fate_registry.http.app:app_from_env"
ENV_PREFIX = "FATE_REGISTRY_"


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class ServeError(ValueError):
    """``serve`` cannot start with these options; the message says why."""


class CannotListen(ServeError):
    """The address and port cannot be bound: in use, not this machine's, or not allowed."""


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


def check_trusted_hosts(settings: Settings) -> None:
    """Refuse to listen on every address with no ``trusted_hosts``: the Host check would then
    answer loopback names only, so no client beyond this machine could use the server."""
    if is_every_address(settings.host) and not settings.trusted_hosts:
        raise ServeError(
            f"refusing to listen on {settings.host} with no trusted host names: requests are "
            "answered only when their Host header names this server. Set "
            "FATE_REGISTRY_TRUSTED_HOSTS to the names clients use to reach it (for example "
            "registry.example.org,10.0.0.5; '*' accepts any name, behind a proxy that checks "
            "it), or listen on one address with --host."
        )


class LineFormatter(logging.Formatter):
    """uvicorn's look (``INFO:     message``) without its per-record colour handling, which
    costs about as much again as the rest of a log line: the access log writes one per
    request, and the decision log one per decision."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return f"{record.levelname + ':':<9} {record.message}"


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging, and our loggers (the access log among them) on stderr as well."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["fate_registry"] = {"()": LineFormatter}
    config["handlers"]["fate_registry"] = {
        "formatter": "fate_registry",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["fate_registry"] = {
        "handlers": ["fate_registry"],
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
    check_trusted_hosts(settings)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config(log_level),
        "log_level": log_level,
        "access_log": False,  # ours carries the request id
        "proxy_headers": False,
        "server_header": False,
        "http": bounded_protocol(HeaderLimits.of(settings)),  # uvicorn bounds no header
    }
    # A typo in FATE_REGISTRY_LOAD_PLUGINS or a chain is an error now, not per decision.
    check_chains(settings.hooks, plugin_manager())
    sock = listen(settings.host, settings.port)
    if workers > 1:
        # Each worker process builds its own app and registry from these variables. A database
        # they could not use (unreachable, a newer schema) is refused here, once, before any
        # worker starts.
        logging.config.dictConfig(options["log_config"])  # uvicorn applies it again, the same
        with Registry(settings=settings) as registry:
            log_summary(settings, registry, workers, insecure)
        # uvicorn's supervisor binds the port itself (its API takes no socket we could hand
        # over on every version we support): ours is closed just before, a window of a few
        # milliseconds in which another process taking the port gets uvicorn's own error.
        sock.close()
        os.environ.update(settings_env(settings))
        uvicorn.run(FACTORY, factory=True, workers=workers, **options)
        return
    with sock, Registry(settings=settings) as registry:
        app = create_app(registry, settings, health_checks=True)
        server = uvicorn.Server(uvicorn.Config(app, **options))
        log_summary(settings, registry, workers, insecure)  # after uvicorn's Config: logging is set
        # uvicorn says where it listens only when it binds the port itself.
        log.info(
            "listening on %s (Press CTRL+C to quit)", base_url("http", *sock.getsockname()[:2])
        )
        server.run(sockets=[sock])
    if not server.started:
        raise ServeError("the server did not start: see the log above")


def log_summary(settings: Settings, registry: Registry, workers: int, insecure: bool) -> None:
    """The one start-up summary: address, database (masked), plugins, chains, protections."""
    from .startup import summary

    log.info(summary(settings, registry, workers=workers, insecure=insecure))


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` as uvicorn binds one, or CannotListen saying why, so
    that a port in use is one error line before uvicorn logs anything."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections of a socket that says
    # so, and without it every reply on a kept-alive connection waits ~40 ms for an ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        where = f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"
        raise CannotListen(f"cannot listen on {where}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


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
