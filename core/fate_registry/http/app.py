"""The FastAPI application: v1 and v2 registration routes, health, errors, middleware."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .. import __name__ as package_name
from ..registry import Registry
from ..settings import Settings, load_settings
from . import errors, gateway, management, v1, v2
from .guard import HostRules
from .middleware import BodyGuard, RequestLog
from .schemas import Health
from .security import document_security

log = logging.getLogger("fate_registry.http")

DESCRIPTION = """\
Registration API of the third-party services FATE Flow calls back: FATE Flow 1.x paths under
`/v1` (`{retcode, retmsg, data}` replies) and 2.x paths under `/v2` (`{code, message, data}`).
Writes need a bearer token once `FATE_REGISTRY_ADMIN_TOKENS` is set. See docs/server.md.
"""


def create_app(registry: Registry, settings: Settings) -> FastAPI:
    """The app over ``registry``; the caller owns the registry and closes it."""
    app = FastAPI(
        title="fate-registry",
        version=_version(),
        description=DESCRIPTION,
    )
    app.state.registry = registry
    app.state.settings = settings
    app.state.host_rules = HostRules.parse(settings.allowed_hosts)
    # The plugin framework installs its client_authentication chain here (see security.py).
    app.state.client_authenticator = None

    _document_security(app)
    errors.install(app)
    app.add_middleware(BodyGuard)
    app.add_middleware(RequestLog)  # added last: outermost, so it sees every reply
    app.include_router(v1.router)
    app.include_router(v2.router)
    app.include_router(management.router)  # FATE Flow 1.11's /v1/key/*, /v1/permission/*
    gateway.install(app)  # /v1/hook/*, /metrics, and the client_authentication seam

    @app.get(
        "/healthz",
        response_model=Health,
        response_model_exclude_none=True,
        tags=["health"],
        summary="The process is up",
    )
    async def healthz() -> Health:  # on the event loop: never waits for a thread or the database
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        response_model_exclude_none=True,
        responses={503: {"model": Health, "description": "the database is unreachable"}},
        tags=["health"],
        summary="The database answers",
    )
    def readyz(request: Request) -> Health | JSONResponse:
        try:
            revision = registry.revision
        except Exception as exc:
            log.warning("readiness check failed: %s", exc)
            reason = f"database unreachable ({type(exc).__name__})"
            body = Health(status="unavailable", reason=reason).model_dump(exclude_none=True)
            return JSONResponse(body, status_code=503)
        return Health(status="ready", revision=revision)

    return app


def _document_security(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return document_security(app, generate())  # FastAPI caches; marking again is cheap

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` (``serve --workers N``): settings from the
    environment, one registry per worker process."""
    settings = load_settings()
    return create_app(Registry(settings=settings), settings)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fate-registry")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return package_name
