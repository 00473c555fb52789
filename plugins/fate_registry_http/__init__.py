"""The ``http`` plugin: answers every capability by calling the service registered for it.

The service is ``(server, capability)``, the server being ``hooks.server_name`` (default
``HOOK``, as FATE Flow's ``hook_server_name``) or the capability's own ``server_name``. It is
resolved at call time, so a server that moves is followed at once. A capability with no
registered service gets no opinion from this plugin.

The four decisions are coroutines (``async_client``: no worker thread, the dispatcher awaits
them on an event loop); ApiReader's three capabilities block (``client`` and ``apireader``:
streamed files, in the dispatcher's worker threads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

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
from fate_registry.markers import calls_service
from fate_registry.models import ResolvedService

from . import apireader
from .async_client import call_json
from .client import ServiceError

D = TypeVar("D", bound=Decision)


def resolve(context: HookContext) -> ResolvedService | None:
    """The service registered for this capability, or None when there is none."""
    if context.registry is None:
        return None
    try:
        return context.registry.resolve(context.server_name, context.capability)
    except (ServerNotFound, ServiceNotFound):
        return None


async def resolve_async(context: HookContext) -> ResolvedService | None:
    """``resolve`` for the event loop: from the registry's cache when it is fresh, else in a
    thread, so that a slow or hung database holds no event loop (the gateway's /healthz)."""
    if context.registry is None:
        return None
    cached = context.registry.resolve_cached(context.server_name, context.capability)
    if cached is not None:
        return cached
    return await asyncio.to_thread(resolve, context)


async def _ask(
    context: HookContext, payload: dict[str, Any], parse: Callable[[Any], D]
) -> D | None:
    """Call the capability's service with ``payload`` and ``parse`` its JSON reply; None when
    no service is registered. A malformed reply is a ServiceError naming the service."""
    service = await resolve_async(context)
    if service is None:
        return None
    status, reply = await call_json(context, service, payload)
    if not 200 <= status < 300:
        code = reply.get("code") if isinstance(reply, dict) else None
        if code in (0, None, "0"):
            raise ServiceError(service, f"HTTP {status} with reply {reply!r:.80}")
    try:
        return parse(reply)
    except ValueError as exc:
        raise ServiceError(service, f"malformed reply: {exc}") from None


@hookimpl
@calls_service
async def client_authentication(
    context: HookContext, request: ClientAuthenticationRequest
) -> Decision | None:
    return await _ask(context, request.model_dump(mode="json", by_alias=True), decision_from_reply)


@hookimpl
@calls_service
async def signature(context: HookContext, request: SignatureRequest) -> Signature | None:
    return await _ask(context, request.model_dump(mode="json"), signature_from_reply)


@hookimpl
@calls_service
async def site_authentication(
    context: HookContext, request: SiteAuthenticationRequest
) -> Decision | None:
    return await _ask(context, request.model_dump(mode="json"), decision_from_reply)


@hookimpl
@calls_service
async def permission(context: HookContext, request: PermissionRequest) -> Decision | None:
    return await _ask(context, request.model_dump(mode="json"), decision_from_reply)


@hookimpl
@calls_service
def upload(context: HookContext, request: UploadRequest) -> UploadAnswer | None:
    service = resolve(context)
    return None if service is None else apireader.upload(context, service, request)


@hookimpl
@calls_service
def query(context: HookContext, request: QueryRequest) -> QueryAnswer | None:
    service = resolve(context)
    return None if service is None else apireader.query(context, service, request)


@hookimpl
@calls_service
def download(context: HookContext, request: DownloadRequest) -> DownloadAnswer | None:
    service = resolve(context)
    return None if service is None else apireader.download(context, service, request)
