"""Access control of the HTTP API: every read and write check goes through ``authorize``.

Rules:
- A write (register, delete) needs authentication once any method is configured; a read needs
  it too when ``protect_reads`` is set. With nothing configured every request is let through,
  and ``serve`` refuses to listen beyond loopback in that state (see ``serve.py``).
- Methods are tried in order: bearer tokens from ``admin_tokens`` (compared in constant time),
  then the client authenticator, if one is installed.
- A route declares its access with ``**access("write")`` (or "read"): the dependency that calls
  ``authorize``, and an ``x-access`` mark from which /openapi.json shows the bearer scheme on the
  operations that need it with the current settings.

Seam for the plugin framework: set ``app.state.client_authenticator`` to an async callable
``(request, action) -> bool``. It is called only when no admin token matched; True lets the
request through, False (or an exception, which is logged) answers 401. It may read the raw body
with ``await request.body()`` (FastAPI has already read and cached it) and the headers FATE's
HMAC-signed clients send (TIMESTAMP, NONCE, APP_KEY, SIGNATURE). Installing it also counts as
"authentication configured", so writes are protected by it even with no admin token. The hook
gateway's checks pass ``chain=False``: admin tokens only, the authenticator is not called.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request

from ..logsafe import printable
from ..settings import Settings
from .errors import APIError

log = logging.getLogger("fate_registry.http")

Action = Literal["read", "write"]
ClientAuthenticator = Callable[[Request, Action], Awaitable[bool]]


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


def hides_values(request: Request) -> bool:
    """Whether a reply to ``request`` hides every stored value of a service (params, data,
    headers, query), not only the secret-looking ones: admin tokens are set and the request
    has none of them (chain-admitted writers and open readers included)."""
    settings: Settings = request.app.state.settings
    if not settings.admin_tokens:
        return False
    token = _bearer_token(request)
    return token is None or not token_matches(token, settings)


async def authorize(request: Request, action: Action, *, chain: bool = True) -> None:
    """Let the request through or raise APIError(401). The one place access is decided.
    ``chain=False`` leaves the client authenticator out: admin tokens only."""
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
    if authenticator is not None:
        try:
            if await authenticator(request, action):
                return
        except Exception:
            log.exception("client authenticator failed on %s", printable(request.url.path))
    message = (
        f"the bearer token is not valid for {action}s here"
        if token
        else f"authentication is required to {action} here: send 'Authorization: Bearer <token>'"
    )
    raise APIError(401, message, headers={"WWW-Authenticate": "Bearer"})


# The header is read by ``authorize``; declaring it here only keeps it out of the OpenAPI
# document, where ``document_security`` describes it as a bearer scheme when tokens are set.
AuthorizationHeader = Annotated[str | None, Header(include_in_schema=False)]


async def read_access(request: Request, authorization: AuthorizationHeader = None) -> None:
    await authorize(request, "read")


async def write_access(request: Request, authorization: AuthorizationHeader = None) -> None:
    await authorize(request, "write")


def access(action: Action) -> dict[str, Any]:
    """Route options that enforce ``action`` and say so in the OpenAPI document:
    ``@router.post(path, **access("write"))``."""
    check = write_access if action == "write" else read_access
    return {"dependencies": [Depends(check)], "openapi_extra": {"x-access": action}}


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
    protected = {"write", "read"} if settings.protect_reads else {"write"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if operation.get("x-access") in protected:
                operation["security"] = [{"bearer": []}]
    return schema
