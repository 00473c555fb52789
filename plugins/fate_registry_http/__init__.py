"""The ``http`` plugin: answers every capability by calling the service registered for it.

The service is ``(server, capability)``, the server being ``hooks.server_name`` (default
``HOOK``, as FATE Flow's ``hook_server_name``) or the capability's own ``server_name``. It is
resolved at call time, so a server that moves is followed at once. A capability with no
registered service gets no opinion from this plugin.
"""

from __future__ import annotations

from typing import Any

from fate_registry import hookimpl
from fate_registry.capabilities import (
    ClientAuthenticationRequest,
    Decision,
    DownloadAnswer,
    DownloadRequest,
    PermissionRequest,
    QueryAnswer,
    QueryRequest,
    Signature,
    SignatureRequest,
    SiteAuthenticationRequest,
    UploadAnswer,
    UploadRequest,
    decision_from_reply,
    signature_from_reply,
)
from fate_registry.context import HookContext
from fate_registry.errors import ServerNotFound, ServiceNotFound
from fate_registry.models import ResolvedService

from . import apireader
from .client import ServiceError, json_reply, send


def resolve(context: HookContext) -> ResolvedService | None:
    """The service registered for this capability, or None when there is none."""
    if context.registry is None:
        return None
    try:
        return context.registry.resolve(context.server_name, context.capability)
    except (ServerNotFound, ServiceNotFound):
        return None


def _call(context: HookContext, payload: dict[str, Any]) -> tuple[ResolvedService, Any] | None:
    service = resolve(context)
    if service is None:
        return None
    response = send(context, service, json_body=payload)
    with response:
        reply = json_reply(service, response)
    if not 200 <= response.status_code < 300:
        code = reply.get("code") if isinstance(reply, dict) else None
        if code in (0, None, "0"):
            raise ServiceError(service, f"HTTP {response.status_code} with reply {reply!r:.80}")
    return service, reply


def _decision(context: HookContext, payload: dict[str, Any]) -> Decision | None:
    called = _call(context, payload)
    if called is None:
        return None
    service, reply = called
    try:
        return decision_from_reply(reply)
    except ValueError as exc:
        raise ServiceError(service, f"malformed reply: {exc}") from None


@hookimpl
def client_authentication(
    context: HookContext, request: ClientAuthenticationRequest
) -> Decision | None:
    return _decision(context, request.model_dump(mode="json", by_alias=True))


@hookimpl
def signature(context: HookContext, request: SignatureRequest) -> Signature | None:
    called = _call(context, request.model_dump(mode="json"))
    if called is None:
        return None
    service, reply = called
    try:
        return signature_from_reply(reply)
    except ValueError as exc:
        raise ServiceError(service, f"malformed reply: {exc}") from None


@hookimpl
def site_authentication(
    context: HookContext, request: SiteAuthenticationRequest
) -> Decision | None:
    return _decision(context, request.model_dump(mode="json"))


@hookimpl
def permission(context: HookContext, request: PermissionRequest) -> Decision | None:
    return _decision(context, request.model_dump(mode="json"))


@hookimpl
def upload(context: HookContext, request: UploadRequest) -> UploadAnswer | None:
    service = resolve(context)
    return None if service is None else apireader.upload(context, service, request)


@hookimpl
def query(context: HookContext, request: QueryRequest) -> QueryAnswer | None:
    service = resolve(context)
    return None if service is None else apireader.query(context, service, request)


@hookimpl
def download(context: HookContext, request: DownloadRequest) -> DownloadAnswer | None:
    service = resolve(context)
    return None if service is None else apireader.download(context, service, request)
