"""Loop refusal: the ``http`` plugin sends ``X-Fate-Registry-Hop`` on every call, so a request
carrying it comes from a fate-registry. A hook service registered at a fate-registry (its own
gateway, say) would make every decision call itself until the timeout: such a request is
refused at once, before any route, plugin or database work, with "loop" in the message."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from ..context import HOP_HEADER
from .errors import error_reply

_HOP = HOP_HEADER.lower().encode("latin-1")
_DECISION_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
UNCHECKED_PATHS = frozenset({"/healthz", "/readyz"})


class LoopGuard:
    """Refuse (400, code 101, "loop: ...") a request that carries the hop header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNCHECKED_PATHS:
            await self.app(scope, receive, send)
            return
        hops = [value for name, value in scope["headers"] if name == _HOP]
        if not hops:
            await self.app(scope, receive, send)
            return
        sent_by = hops[0].decode("latin-1")
        decision = f" {sent_by}" if _DECISION_ID.fullmatch(sent_by) else ""
        message = (
            f"loop: this request was sent by a fate-registry deciding{decision} (header "
            f"{HOP_HEADER}); a hook service must be the real service, not a fate-registry "
            "(its gateway or its API): register the real service's address instead"
        )
        await error_reply(scope["path"], 400, message)(scope, receive, send)
