"""The hook gateway: FATE Flow's HTTP hooks, pointed at this server, go through the dispatcher.

``POST /v1/hook/<capability>`` accepts exactly what FATE Flow 1.11 sends (with its quirks:
``src_role`` null, ``site_signature`` null, its stored ``data`` merged in) and answers what it
reads: HTTP 200 always, ``code`` (0 allows) and ``msg``; a signature in both ``data`` and
``site_signature``. ``POST /v2/hook/<capability>`` accepts FATE Flow 2.x's hook parameters as
contrib/fate-flow-hooks sends them, maps them onto the same requests (``fate2``) and answers in
2.x's envelope and codes. ``GET /metrics`` serves the plugin framework's Prometheus metrics.
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
from ..fate2 import REQUESTS as FATE2_REQUESTS
from ..fate2 import fate2_code
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


class HookReply2(BaseModel):
    """What contrib/fate-flow-hooks reads for FATE Flow 2.x: 2.x's envelope and codes."""

    code: int = Field(
        description="0 allows; otherwise a FATE Flow 2.x code (5001 bad request, 5003 "
        "authentication, 5005 permission, 6000 no decision could be had)"
    )
    message: str = Field(description="why")
    decision_id: str | None = Field(default=None, description="the id the decision is logged under")
    failed_open: bool = Field(default=False, description="a plugin failed and policy allowed")
    data: str | None = Field(default=None, description="the signature, for signature")


def _dispatcher(request: Request) -> Dispatcher:
    registry: Registry = request.app.state.registry
    return registry.hooks


def _gateway_action(settings: Settings) -> Action:
    return "read" if settings.hooks.gateway_protection == "read" else "write"


async def _gateway_access(request: Request) -> None:
    # Admin tokens only: FATE Flow sends its hook server no credentials, and running the
    # client_authentication chain here would cost an outbound call per decision.
    await authorize(request, _gateway_action(request.app.state.settings), chain=False)


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
# path -> (capability, the FATE Flow major whose requests it reads)
PATHS: dict[str, tuple[str, int]] = {
    **{f"/v1/hook/{capability}": (capability, 1) for capability in REQUEST_MODELS},
    **{f"/v2/hook/{capability}": (capability, 2) for capability in FATE2_REQUESTS},
}


def _request_of(capability: str, major: int, raw: bytes) -> BaseModel:
    """The request plugins get, from a body sent by FATE Flow ``major``; ValidationError when
    it is not what that FATE Flow sends."""
    if major == 2:
        return FATE2_REQUESTS[capability].model_validate_json(raw).contract()
    return REQUEST_MODELS[capability].model_validate_json(raw)


def _reply(capability: str, major: int, outcome: Outcome) -> dict[str, Any]:
    if major == 2:
        reply: dict[str, Any] = {
            "code": fate2_code(outcome.code),
            "message": outcome.message,
            "decision_id": outcome.decision_id,
            "failed_open": outcome.failed_open,
        }
        if capability == "signature":
            reply["data"] = outcome.signature
        return reply
    reply = {
        "code": outcome.code,
        "msg": outcome.message,
        "retcode": outcome.code,
        "retmsg": outcome.message,
        "decision_id": outcome.decision_id,
        "failed_open": outcome.failed_open,
    }
    if capability == "signature":
        reply["data"] = reply["site_signature"] = outcome.signature
    return reply


async def _decide(request: Request, capability: str, major: int = 1) -> Response:
    """The reply to a gateway request: the decision, or a refusal before any (HTTP 200)."""
    try:
        await _gateway_access(request)
        try:
            body = _request_of(capability, major, await request.body())
        except ValidationError as exc:  # worded like FastAPI's own validation errors
            errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            problems = validation_problems(RequestValidationError(errors))
            return error_reply(request, 400, problems_message(problems))
    except APIError as exc:
        return error_reply(request, exc.status, exc.message, exc.headers)
    outcome = await _dispatcher(request).decide_async(capability, body)
    reply = _reply(capability, major, outcome)
    return Response(json.dumps(reply, ensure_ascii=False), media_type="application/json")


class HookGateway:
    """Answer ``POST /v1/hook/<capability>`` without going through FastAPI's router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        response = await _decide(Request(scope, receive), *route)
        await response(scope, receive, send)


def _documented(model: type[BaseModel]) -> dict[str, Any]:
    """The route's request body in the OpenAPI document, as FastAPI would show a body param.
    Nested models are written in place: the document has no component for them to refer to."""
    schema = model.model_json_schema(ref_template="{model}")
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            written = {key: inline(value) for key, value in node.items() if key != "$ref"}
            if "$ref" in node:  # the model, with what the field says of it (its description)
                return {**inline(definitions[node["$ref"]]), **written}
            return written
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        }
    }


# The routes below document the gateway in /openapi.json (with the access it needs under the
# settings: ``document_security`` marks it) and serve what HookGateway passes on.
_SUMMARIES = {
    "client_authentication": "Authenticate a client",
    "signature": "Sign a body for another site",
    "site_authentication": "Verify another site's signature",
    "permission": "Allow a job from another site",
}


def _route(capability: str, major: int) -> Any:
    async def decide(request: Request) -> Response:
        return await _decide(request, capability, major)

    decide.__name__ = capability if major == 1 else f"{capability}_v2"
    return decide


def hook_routers(access: Action) -> list[APIRouter]:
    """The gateway's documented routes: FATE Flow 1.x's (/v1/hook) and 2.x's (/v2/hook)."""
    always_200 = "always HTTP 200"
    v1 = APIRouter(
        prefix="/v1/hook",
        tags=["hook gateway"],
        responses={
            200: {
                "description": "the decision, or a refusal before any decision (a body that is "
                "not what FATE Flow sends: code 101; a missing token: code 109): " + always_200
            }
        },
    )
    v2 = APIRouter(
        prefix="/v2/hook",
        tags=["hook gateway (FATE Flow 2.x)"],
        responses={
            200: {
                "description": "the decision, or a refusal before any (a body that is not what "
                "contrib/fate-flow-hooks sends for FATE Flow 2.x: code 5001; a missing token: "
                "code 5003): " + always_200
            }
        },
    )
    for capability, model in REQUEST_MODELS.items():
        reply: type[BaseModel] = SignatureReply if capability == "signature" else HookReply
        v1.add_api_route(
            f"/{capability}",
            _route(capability, 1),
            methods=["POST"],
            response_model=reply,
            summary=_SUMMARIES[capability],
            openapi_extra={**_documented(model), "x-access": access},
        )
    for capability, model2 in FATE2_REQUESTS.items():
        v2.add_api_route(
            f"/{capability}",
            _route(capability, 2),
            methods=["POST"],
            response_model=HookReply2,
            summary=f"{_SUMMARIES[capability]} (FATE Flow 2.x)",
            openapi_extra={**_documented(model2), "x-access": access},
        )
    return [v1, v2]


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
    settings: Settings = app.state.settings
    for hook_router in hook_routers(_gateway_action(settings)):
        app.include_router(hook_router)
    app.include_router(metrics_router)
    app.state.hook_gateway = True
    if settings.admin_tokens or settings.hooks.api_authentication:
        app.state.client_authenticator = client_authenticator
