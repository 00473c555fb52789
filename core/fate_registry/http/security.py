"""Access control of the HTTP API: every access check goes through ``authorize``.

Levels, each a route's ``**access(level)``:
- ``read``: open, unless ``protect_reads`` is set; then as ``write``.
- ``write`` (registrations, and the key and grant queries): an authenticated client, once any
  method is configured. With nothing configured every request is let through, and ``serve``
  refuses to listen beyond loopback in that state (see ``serve.py``).
- ``admin`` (changing site keys and grants: who may sign as a partner, who may run what): an
  admin token, or a client the ``hmac`` plugin authenticated with an APP_KEY listed in
  ``hmac.admin_app_keys``. Any other client the chain admits gets 403: an app key that
  authenticates a FATE user authenticates it, nothing more.

Methods are tried in order: bearer tokens from ``admin_tokens`` (compared in constant time),
then the client authenticator, if one is installed. ``access`` also marks the route
(``x-access``), from which /openapi.json shows the bearer scheme where it is needed.

Seam for the plugin framework: set ``app.state.client_authenticator`` to an async callable
``(request, action) -> ClientVerdict``. It is called only when no admin token matched; a
verdict that admits lets a ``write`` through, and an ``admin`` one when it names an
administrator; otherwise (or on an exception, which is logged) the reply is 401 with the
verdict's reason. It may read the raw body with ``await request.body()`` (FastAPI has already
read and cached it) and the headers FATE's HMAC-signed clients send (TIMESTAMP, NONCE, APP_KEY,
SIGNATURE). Installing it also counts as "authentication configured", so writes are protected
by it even with no admin token. The hook gateway's checks pass ``chain=False``: admin tokens
only, the authenticator is not called.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request

from ..logsafe import printable
from ..settings import Settings
from .errors import APIError

log = logging.getLogger("fate_registry.http")

Action = Literal["read", "write", "admin"]
ADMIN_PLUGIN = "hmac"  # the plugin whose principals hmac.admin_app_keys names


@dataclass(frozen=True, slots=True)
class ClientVerdict:
    """What the client_authentication chain made of a request: admitted or not, why not (told
    to the client), and who decided whom it authenticated (``plugin``, ``principal``)."""

    admitted: bool
    reason: str = ""
    plugin: str | None = None
    principal: str | None = None


ClientAuthenticator = Callable[[Request, Action], Awaitable[ClientVerdict]]


def authentication_configured(settings: Settings, authenticator: object | None) -> bool:
    return bool(settings.admin_tokens) or authenticator is not None


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_matches(token: str, settings: Settings) -> bool:
    # Digests have one length, and no early exit: the time taken tells nothing of the tokens.
    given = hashlib.sha256(token.encode()).digest()
    matched = False
    for secret in settings.admin_tokens:
        expected = hashlib.sha256(secret.get_secret_value().encode()).digest()
        matched |= hmac.compare_digest(given, expected)
    return matched


def is_administrator(verdict: ClientVerdict, settings: Settings) -> bool:
    """Whether an admitted client is an administrator: the hmac plugin authenticated it with
    an APP_KEY listed in ``hmac.admin_app_keys``."""
    return (
        verdict.admitted
        and verdict.plugin == ADMIN_PLUGIN
        and verdict.principal is not None
        and verdict.principal in settings.hmac.admin_app_keys
    )


def hides_values(request: Request) -> bool:
    """Whether a reply to ``request`` hides every stored value of a service (params, data,
    headers, query), not only the secret-looking ones: admin tokens are set and the request
    has none of them (chain-admitted writers and open readers included)."""
    settings: Settings = request.app.state.settings
    if not settings.admin_tokens:
        return False
    token = _bearer_token(request)
    return token is None or not token_matches(token, settings)


ADMIN_NEEDS = (
    "changing site keys and grants needs an admin token ('Authorization: Bearer <token>') or a "
    "request signed with an APP_KEY listed in hmac.admin_app_keys"
)


async def authorize(request: Request, action: Action, *, chain: bool = True) -> None:
    """Let the request through or raise APIError (401, or 403 for an authenticated client
    that is not an administrator). The one place access is decided. ``chain=False`` leaves
    the client authenticator out: admin tokens only."""
    settings: Settings = request.app.state.settings
    authenticator: ClientAuthenticator | None = (
        getattr(request.app.state, "client_authenticator", None) if chain else None
    )
    if action == "read" and not settings.protect_reads:
        return
    if not authentication_configured(settings, authenticator):
        return
    token = _bearer_token(request)
    if token is not None and token_matches(token, settings):
        return
    verdict: ClientVerdict | None = None
    if authenticator is not None:
        try:
            verdict = await authenticator(request, action)
        except Exception:
            log.exception("client authenticator failed on %s", printable(request.url.path))
    if verdict is not None and verdict.admitted:
        if action != "admin" or is_administrator(verdict, settings):
            return
        who = f"APP_KEY '{verdict.principal}'" if verdict.principal else "this client"
        raise APIError(403, f"{ADMIN_NEEDS}; {printable(who)} is not one")
    raise APIError(
        401, _refusal(action, token, verdict, settings), headers={"WWW-Authenticate": "Bearer"}
    )


def _refusal(
    action: Action, token: str | None, verdict: ClientVerdict | None, settings: Settings
) -> str:
    """Why a request was not authenticated, and what to send: a token that matched none is
    said to be wrong; otherwise the chain's own reason (a bad signature, an unknown APP_KEY, a
    replay, the clock) when a plugin gave one, then the credential this level needs."""
    if token is not None:
        return "the bearer token is not valid here"
    reason = printable(verdict.reason) if verdict is not None and verdict.reason else ""
    if action == "admin":
        return f"{reason}; {ADMIN_NEEDS}" if reason else ADMIN_NEEDS
    bearer = "send 'Authorization: Bearer <token>'"
    if reason:
        return f"{reason} (or {bearer} with an admin token)" if settings.admin_tokens else reason
    where = "to read here" if action == "read" else "here"
    return f"authentication is required {where}: {bearer}"


# The header is read by ``authorize``; declaring it here only keeps it out of the OpenAPI
# document, where ``document_security`` describes it as a bearer scheme when tokens are set.
AuthorizationHeader = Annotated[str | None, Header(include_in_schema=False)]


async def read_access(request: Request, authorization: AuthorizationHeader = None) -> None:
    await authorize(request, "read")


async def write_access(request: Request, authorization: AuthorizationHeader = None) -> None:
    await authorize(request, "write")


async def admin_access(request: Request, authorization: AuthorizationHeader = None) -> None:
    await authorize(request, "admin")


_CHECKS = {"read": read_access, "write": write_access, "admin": admin_access}


def access(action: Action) -> dict[str, Any]:
    """Route options that enforce ``action`` and say so in the OpenAPI document:
    ``@router.post(path, **access("write"))``."""
    return {"dependencies": [Depends(_CHECKS[action])], "openapi_extra": {"x-access": action}}


def document_security(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Mark in the OpenAPI document the operations that need a token with these settings."""
    settings: Settings = app.state.settings
    if not settings.admin_tokens:
        return schema
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "one of FATE_REGISTRY_ADMIN_TOKENS",
    }
    protected = {"admin", "write", "read"} if settings.protect_reads else {"admin", "write"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if operation.get("x-access") in protected:
                operation["security"] = [{"bearer": []}]
    return schema
