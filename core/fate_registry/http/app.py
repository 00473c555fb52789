"""The FastAPI application: v1 and v2 registration routes, health, errors, middleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from .. import __name__ as package_name
from ..errors import RegistryUnavailable
from ..registry import Registry
from ..settings import Settings, load_settings
from . import audit, errors, gateway, management, status, ui, v1, v2
from .guard import HostRules
from .hosts import HostCheck, trusted_hosts
from .loops import LoopGuard
from .middleware import BodyGuard, RequestLog
from .schemas import Health
from .security import document_security

log = logging.getLogger("fate_registry.http")

DESCRIPTION = """\
Registration API of the third-party services FATE Flow calls back: FATE Flow 1.x paths under
`/v1` (`{retcode, retmsg, data}` replies) and 2.x paths under `/v2` (`{code, message, data}`).
Writes need a bearer token once `FATE_REGISTRY_ADMIN_TOKENS` is set. See docs/server.md.
"""


def create_app(registry: Registry, settings: Settings, *, health_checks: bool = False) -> FastAPI:
    """The app over ``registry``; the caller owns the registry and closes it. With
    ``health_checks`` (``serve``), the app runs the health checker while it serves, when
    ``health.enabled``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        checker = None
        if health_checks and settings.health.enabled:
            from ..health.checker import Checker

            checker = Checker(registry, settings.health)
            checker.start()
        try:
            yield
        finally:
            if checker is not None:
                await asyncio.to_thread(checker.stop)

    # /docs and /redoc load Swagger UI and ReDoc from files installed with fastapi-offline,
    # served under /docs-assets: they work on networks without internet, as many FATE sites are.
    app = FastAPIOffline(
        title="fate-registry",
        version=_version(),
        description=DESCRIPTION,
        redirect_slashes=False,  # a redirect would be built from the request's Host header
        static_url="/docs-assets",
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.settings = settings
    app.state.host_rules = HostRules.parse(settings.allowed_hosts)
    # The plugin framework installs its client_authentication chain here (see security.py).
    app.state.client_authenticator = None

    _document_security(app)
    errors.install(app)
    app.add_middleware(gateway.HookGateway)  # innermost: after the checks below
    app.add_middleware(BodyGuard)
    app.add_middleware(LoopGuard)  # before the body is read
    app.add_middleware(HostCheck, rules=trusted_hosts(settings))
    app.add_middleware(RequestLog)  # added last: outermost, so it sees every reply
    gateway.install(app)  # first, as the busiest routes: /v1/hook/*, /metrics, and the seam
    app.include_router(v1.router)
    app.include_router(v2.router)
    app.include_router(management.router)  # FATE Flow 1.11's /v1/key/*, /v1/permission/*
    app.include_router(status.router)  # /status, for `fate-registry status --url`
    app.include_router(audit.router)  # /audit, for `fate-registry audit list --url`
    ui.install(app)  # the read-only console at /ui

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
        responses={503: {"model": Health, "description": "the database cannot be used"}},
        tags=["health"],
        summary="The database answers",
    )
    async def readyz() -> Health | JSONResponse:
        # on the event loop too; the check runs on the probe's own connection and thread
        probe = registry.readiness
        try:
            # shielded: a timed-out wait must not cancel the check other probes share
            check = asyncio.shield(asyncio.wrap_future(probe.revision()))
            revision = await asyncio.wait_for(check, probe.timeout)
        except (RegistryUnavailable, TimeoutError) as exc:
            if isinstance(exc, RegistryUnavailable):
                reason = str(exc)
                log.warning("readiness check failed: %s [%s]", reason, exc.driver_error)
            else:
                reason = f"the registry database did not answer within {probe.timeout:g} s"
                log.warning("readiness check failed: %s", reason)
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
    return create_app(Registry(settings=settings), settings, health_checks=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fate-registry")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return package_name
