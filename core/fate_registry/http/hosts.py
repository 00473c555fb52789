"""The Host header check: a request is answered only when its ``Host`` names this server, so a
page whose name was rebound to our address (DNS rebinding) cannot reach the API from a browser.

Trusted: loopback names, the address ``serve`` binds (unless it is every address), and
``trusted_hosts``. Starlette's TrustedHostMiddleware does the same check, but answers in plain
text; this one answers in the route's envelope and names the setting to change.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from ..settings import Settings
from .errors import error_reply
from .guard import HostRules

LOOPBACK = ("localhost", "127.0.0.0/8", "::1")
# Probes address a pod by whatever address it has now; these carry no registration data.
UNCHECKED_PATHS = frozenset({"/healthz", "/readyz"})


def is_every_address(host: str) -> bool:
    """Whether ``serve --host`` binds every address (``0.0.0.0``, ``::``), not one."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return not host.strip()


def trusted_hosts(settings: Settings) -> HostRules:
    """Loopback names, the bind address when it is one address, and ``trusted_hosts``."""
    entries = [*LOOPBACK, *settings.trusted_hosts]
    if not is_every_address(settings.host):
        entries.append(settings.host.strip("[]"))
    return HostRules.parse(entries)


def host_name(header: str) -> str | None:
    """The name or address of a ``Host`` header without its port (``[::1]:80`` -> ``::1``),
    lower-case, without a trailing dot; None when it is not ``host[:port]``."""
    if header.startswith("["):
        name, bracket, port = header[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return None
        port = port[1:]
    else:
        name, _, port = header.partition(":")
    if not name or (port and not port.isdigit()):
        return None
    return name.lower().rstrip(".") or None


class HostCheck:
    """Refuse, with 400 naming ``trusted_hosts``, a request whose Host header is not trusted."""

    def __init__(self, app: ASGIApp, rules: HostRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNCHECKED_PATHS:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        name = host_name(header)
        if name is not None and self.rules.allows(name):
            await self.app(scope, receive, send)
            return
        given = f"{header[:100]!r}" if header else "none"
        message = (
            f"host header: {given} is not a name of this server (setting trusted_hosts, "
            "FATE_REGISTRY_TRUSTED_HOSTS); nothing was done"
        )
        await error_reply(scope["path"], 400, message)(scope, receive, send)
