"""The ``http`` plugin: answers every capability by calling the service registered for it.

The service is ``(server, capability)``, the server being ``hooks.server_name`` (default
``HOOK``, as FATE Flow's ``hook_server_name``) or the capability's own ``server_name``. It is
resolved at call time, so a server that moves is followed at once. A capability with no
registered service gets no opinion from this plugin.
"""

from __future__ import annotations

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
from fate_registry.models import ResolvedService

from . import apireader
from .client import ServiceError, json_reply, send

D = TypeVar("D", bound=Decision)


def resolve(context: HookContext) -> ResolvedService | None:
    """The service registered for this capability, or None when there is none."""
    if context.registry is None:
        return None
    try:
        return context.registry.resolve(context.server_name, context.capability)
    except (ServerNotFound, ServiceNotFound):
        return None


def _ask(context: HookContext, payload: dict[str, Any], parse: Callable[[Any], D]) -> D | None:
    """Call the capability's service with ``payload`` and ``parse`` its JSON reply; None when
    no service is registered. A malformed reply is a ServiceError naming the service."""
    service = resolve(context)
    if service is None:
        return None
    with send(context, service, json_body=payload) as response:
        reply = json_reply(context, service, response)
    if not 200 <= response.status_code < 300:
        code = reply.get("code") if isinstance(reply, dict) else None
        if code in (0, None, "0"):
            raise ServiceError(service, f"HTTP {response.status_code} with reply {reply!r:.80}")
    try:
        return parse(reply)
    except ValueError as exc:
        raise ServiceError(service, f"malformed reply: {exc}") from None


@hookimpl
def client_authentication(
    context: HookContext, request: ClientAuthenticationRequest
) -> Decision | None:
    return _ask(context, request.model_dump(mode="json", by_alias=True), decision_from_reply)


@hookimpl
def signature(context: HookContext, request: SignatureRequest) -> Signature | None:
    return _ask(context, request.model_dump(mode="json"), signature_from_reply)


@hookimpl
def site_authentication(
    context: HookContext, request: SiteAuthenticationRequest
) -> Decision | None:
    return _ask(context, request.model_dump(mode="json"), decision_from_reply)


@hookimpl
def permission(context: HookContext, request: PermissionRequest) -> Decision | None:
    return _ask(context, request.model_dump(mode="json"), decision_from_reply)


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
