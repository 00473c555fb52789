"""What the routes of both API versions share: the registry, the guard, the error replies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from ..registry import Registry
from ..settings import Settings
from .envelopes import V1Error, V2Error
from .guard import HostRules, check_allowed, check_reachable

Check = Annotated[
    bool | None,
    Query(description="TCP-connect to host:port (2 s timeout) before storing; default: setting"),
]


def registry_of(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def guard_address(request: Request, host: str, port: int, check: bool | None) -> None:
    """Refuse an address outside ``allowed_hosts``, or unreachable when a check is asked."""
    settings: Settings = request.app.state.settings
    rules: HostRules = request.app.state.host_rules
    check_allowed(rules, host)
    if check or (check is None and settings.check_connectivity):
        check_reachable(host, port)


_ERRORS = {
    400: "argument error: a field is missing or wrong, or the body is not JSON",
    401: "authentication is required (see docs/server.md)",
    403: "the address is outside allowed_hosts",
    404: "server or service not registered",
    405: "wrong method",
    409: "the server still has services",
    413: "body over 1 MiB",
    422: "connectivity check failed",
    500: "a bug: the log has the cause",
    503: "the database cannot be used now (unreachable, timed out, locked); retry later",
}


def error_responses(
    model: type[V1Error] | type[V2Error], errors: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The error replies a route documents: the registration routes' (``_ERRORS``), or a
    route's own ``errors`` (status: when)."""
    described = _ERRORS if errors is None else errors
    return {status: {"model": model, "description": text} for status, text in described.items()}
