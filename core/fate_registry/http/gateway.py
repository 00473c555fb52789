"""The hook gateway: FATE Flow's HTTP hooks, pointed at this server, go through the dispatcher.

``POST /v1/hook/<capability>`` accepts exactly what FATE Flow 1.11 sends (with its quirks:
``src_role`` null, ``site_signature`` null, its stored ``data`` merged in) and answers what it
reads: HTTP 200 always, ``code`` (0 allows) and ``msg``; a signature in both ``data`` and
``site_signature``. ``GET /metrics`` serves the plugin framework's Prometheus metrics.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from ..capabilities import (
    ClientAuthenticationRequest,
    PermissionRequest,
    SignatureRequest,
    SiteAuthenticationRequest,
)
from ..dispatch import Dispatcher, Outcome
from ..logsafe import printable
from ..registry import Registry
from ..settings import Settings
from .errors import APIError, error_reply, problems_message, validation_problems
from .security import Action, ClientVerdict, authorize, read_access

log = logging.getLogger("fate_registry.http")


class HookReply(BaseModel):
    """What FATE Flow reads from a hook service, with how the decision was reached. A request
    refused before any decision (see HookError) has the same shape, without decision_id."""

    code: int = Field(
        description="0 allows; otherwise a FATE Flow code (101 bad request, 108 permission, "
        "109 authentication)"
    )
    msg: str = Field(description="why")
    retcode: int = Field(description="the same as code (FATE Flow 1.x envelope)")
    retmsg: str = Field(description="the same as msg")
    decision_id: str | None = Field(default=None, description="the id the decision is logged under")
    failed_open: bool = Field(default=False, description="a plugin failed and policy allowed")


class SignatureReply(HookReply):
    data: str | None = Field(default=None, description="the signature (FATE Flow reads this)")
    site_signature: str | None = Field(default=None, description="the signature (published doc)")


def _dispatcher(request: Request) -> Dispatcher:
    registry: Registry = request.app.state.registry
    return registry.hooks


async def _gateway_access(request: Request) -> None:
    # Admin tokens only: FATE Flow sends its hook server no credentials, and running the
    # client_authentication chain here would cost an outbound call per decision.
    settings: Settings = request.app.state.settings
    action: Action = "read" if settings.hooks.gateway_protection == "read" else "write"
    await authorize(request, action, chain=False)


router = APIRouter(
    prefix="/v1/hook",
    tags=["hook gateway"],
    responses={
        200: {
            "description": "the decision, or a refusal before any decision (a body that is not "
            "what FATE Flow sends: code 101; a missing token: code 109): always HTTP 200"
        }
    },
)

# Every call FATE Flow serves runs client authentication through here, so the path is kept
# short (see docs/performance.md). HookGateway, an ASGI layer inside the body checks, answers
# POST /v1/hook/<capability> itself: FastAPI's routing and dependency machinery cost about as
# much as the rest of a cached decision. It validates the body in one pass (pydantic's JSON
# parser), checks access with one direct call, and writes its reply without a response-model
# round trip. A cached decision is answered on the event loop; an uncached one waits for the
# capability's worker thread without holding a thread of the server's own. The FastAPI routes
# below answer the same way: they document the gateway in /openapi.json and serve whatever
# HookGateway passes on (a wrong method gets FastAPI's 405).

REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "client_authentication": ClientAuthenticationRequest,
    "signature": SignatureRequest,
    "site_authentication": SiteAuthenticationRequest,
    "permission": PermissionRequest,
}
PATHS = {f"/v1/hook/{capability}": capability for capability in REQUEST_MODELS}


async def _decide(request: Request, capability: str) -> Response:
    """The reply to a gateway request: the decision, or a refusal before any (HTTP 200)."""
    try:
        await _gateway_access(request)
        try:
            body = REQUEST_MODELS[capability].model_validate_json(await request.body())
        except ValidationError as exc:  # worded like FastAPI's own validation errors
            errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            problems = validation_problems(RequestValidationError(errors))
            return error_reply(request, 400, problems_message(problems))
    except APIError as exc:
        return error_reply(request, exc.status, exc.message, exc.headers)
    outcome = await _dispatcher(request).decide_async(capability, body)
    reply: dict[str, Any] = {
        "code": outcome.code,
        "msg": outcome.message,
        "retcode": outcome.code,
        "retmsg": outcome.message,
        "decision_id": outcome.decision_id,
        "failed_open": outcome.failed_open,
    }
    if capability == "signature":
        reply["data"] = reply["site_signature"] = outcome.signature
    return Response(json.dumps(reply, ensure_ascii=False), media_type="application/json")


class HookGateway:
    """Answer ``POST /v1/hook/<capability>`` without going through FastAPI's router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        capability = PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if capability is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        response = await _decide(Request(scope, receive), capability)
        await response(scope, receive, send)


def _documented(model: type[BaseModel]) -> dict[str, Any]:
    """The route's request body in the OpenAPI document, as FastAPI would show a body param."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


@router.post(
    "/client_authentication",
    response_model=HookReply,
    summary="Authenticate a client",
    openapi_extra=_documented(ClientAuthenticationRequest),
)
async def client_authentication(request: Request) -> Response:
    return await _decide(request, "client_authentication")


@router.post(
    "/signature",
    response_model=SignatureReply,
    summary="Sign a body for another site",
    openapi_extra=_documented(SignatureRequest),
)
async def signature(request: Request) -> Response:
    return await _decide(request, "signature")


@router.post(
    "/site_authentication",
    response_model=HookReply,
    summary="Verify another site's signature",
    openapi_extra=_documented(SiteAuthenticationRequest),
)
async def site_authentication(request: Request) -> Response:
    return await _decide(request, "site_authentication")


@router.post(
    "/permission",
    response_model=HookReply,
    summary="Allow a job from another site",
    openapi_extra=_documented(PermissionRequest),
)
async def permission(request: Request) -> Response:
    return await _decide(request, "permission")


metrics_router = APIRouter(tags=["health"])


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    dependencies=[Depends(read_access)],
    summary="Prometheus metrics of the plugin framework",
)
def metrics(request: Request) -> Response:
    return Response(_dispatcher(request).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def admits(outcome: Outcome) -> bool:
    """Whether a client_authentication decision admits a request to the API: only a plugin's
    definite allow does, never a failure policy's allow nor the capability's default."""
    return outcome.allowed and not outcome.failed and outcome.plugin is not None


async def client_authenticator(request: Request, action: Action) -> ClientVerdict:
    """The registration API's seam: run the client_authentication chain on ``request``. The
    ``Authorization`` header is not forwarded: a mistyped admin token stays here. A plugin's
    refusal is told to the client (it says what to fix, never a secret); a failure of the
    chain is logged and the client told only that it could not be decided."""
    body = await request.body()
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    query = request.url.query
    auth_request = ClientAuthenticationRequest(
        full_path=request.url.path + (f"?{query}" if query else ""),
        headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
        form={},
        data=body.decode("utf-8", "replace"),
        json=parsed,
    )
    outcome = await _dispatcher(request).decide_async("client_authentication", auth_request)
    if admits(outcome):
        return ClientVerdict(True, plugin=outcome.plugin, principal=outcome.principal)
    if outcome.failed:
        logged = f"the chain failed ({outcome.message}), which does not admit here"
        told = f"client authentication could not be decided (decision {outcome.decision_id})"
    elif outcome.plugin is None:  # the capability's default answered
        logged = f"{outcome.message}; the capability's default does not admit here"
        told = ""
    else:
        logged = told = outcome.message
    log.info(
        "client authentication refused %s (%s): %s",
        printable(request.url.path),
        outcome.decision_id,
        printable(logged),
    )
    return ClientVerdict(False, told)


def install(app: FastAPI) -> None:
    """Mount the gateway and /metrics, and let the client_authentication chain admit writes
    when admin tokens are set or ``hooks.api_authentication`` is on."""
    app.include_router(router)
    app.include_router(metrics_router)
    app.state.hook_gateway = True
    settings: Settings = app.state.settings
    if settings.admin_tokens or settings.hooks.api_authentication:
        app.state.client_authenticator = client_authenticator
