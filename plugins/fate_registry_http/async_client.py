"""The decisions' calls to their services, on the event loop: aiohttp.

A decision's call is small and waits on the network: done on the event loop it holds no worker
thread, and aiohttp's C parser costs about half of requests' CPU per call (docs/performance.md:
the hook gateway). ApiReader's calls, which stream files, stay on the blocking client
(``client``); both share its policy: the request as built and signed there, the same retries
and backoff, the same caps, errors and messages.

Connections are pooled per event loop and server (an aiohttp session is bound to its loop):
the gateway's loop, and the dispatcher's loop thread for blocking callers. A loop's sessions
are closed when the loop shuts down its async generators, as ``asyncio.run``, uvicorn and the
dispatcher's loop thread do at their end.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from yarl import URL

from fate_registry.context import HookContext
from fate_registry.models import ResolvedService

from .client import (
    MAX_REPLY,
    RETRY_STATUSES,
    ServiceError,
    attempt_timeout,
    backoff,
    json_payload,
    over_the_cap,
    parse_json_reply,
    prepared_url,
    reason,
    redirect_problem,
    request_headers,
    signing_headers,
)

_SessionKey = tuple[str, str | None, str | None]


@dataclass
class _LoopSessions:
    """One event loop's sessions, per server and TLS files, and the async generator that
    closes them with the loop (held here: dropped, it would run at once)."""

    by_key: dict[_SessionKey, aiohttp.ClientSession] = field(default_factory=dict)
    closer: AsyncIterator[None] | None = None


_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSessions] = (
    weakref.WeakKeyDictionary()
)


async def call_json(
    context: HookContext, service: ResolvedService, payload: dict[str, Any]
) -> tuple[int, Any]:
    """POST (the service's method) ``payload`` merged over its stored data to ``service``,
    before ``context.deadline``, retrying connection errors and 502/503/504 as ``client.send``
    does; the reply's status and JSON. ServiceError naming the service for anything else."""
    body = json_payload(service, payload)
    headers = request_headers(context, service)
    headers["Content-Type"] = "application/json"
    url = prepared_url(service.url, service.params)
    if context.signing_secret:
        signed = signing_headers(
            context.signing_secret, context.decision_id, service.method, url, body
        )
        headers.update(signed)
    session = await _session(service)
    target = URL(url, encoded=True)  # as prepared and signed: not quoted again
    attempt = 0
    while True:
        timeout = attempt_timeout(context, service)
        problem: str | None = None  # why this attempt failed, when it may be retried
        try:
            response = await session.request(
                service.method,
                target,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout),
            )
        except aiohttp.ConnectionTimeoutError:
            problem = f"connection failed: ConnectTimeout: no connection within {timeout:.2f} s"
        except aiohttp.ServerTimeoutError:  # no reply within the timeout: not retried
            raise ServiceError(service, f"timed out after {timeout:.2f} s") from None
        except aiohttp.ClientConnectionError as exc:  # refused, reset, TLS: retried
            problem = f"connection failed: {_connection_reason(exc)}"
        except aiohttp.ClientError as exc:
            raise ServiceError(service, f"request failed: {reason(exc)}") from None
        else:
            async with response:  # the connection goes back to the pool, or is closed
                status = response.status
                if 300 <= status < 400:
                    location = response.headers.get("Location")
                    raise ServiceError(service, redirect_problem(status, location))
                if status not in RETRY_STATUSES or attempt >= context.settings.retries:
                    return status, await _json_reply(context, service, response)
        if problem is not None and attempt >= context.settings.retries:
            raise ServiceError(service, problem)
        attempt += 1
        await asyncio.sleep(backoff(context, service, attempt))


async def _json_reply(
    context: HookContext, service: ResolvedService, response: aiohttp.ClientResponse
) -> Any:
    """The reply's JSON, at most MAX_REPLY bytes, read by the deadline."""
    problem = over_the_cap(response.headers.get("Content-Length"))
    if problem is not None:
        raise ServiceError(service, problem)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(context.remaining()):
            async for chunk in response.content.iter_any():
                size += len(chunk)
                if size > MAX_REPLY:
                    raise ServiceError(service, f"reply larger than the {MAX_REPLY}-byte cap")
                chunks.append(chunk)
    except TimeoutError:
        raise ServiceError(service, f"reply not finished at the deadline ({size} bytes)") from None
    except aiohttp.ClientError as exc:
        raise ServiceError(service, f"reading the reply failed: {reason(exc)}") from None
    content_type = response.headers.get("Content-Type")
    return parse_json_reply(service, response.status, content_type, b"".join(chunks))


def _connection_reason(exc: BaseException) -> str:
    """The cause as the blocking client names it (requests' classes): ``ConnectionError:
    Connection refused``, ``SSLError: TLS CERTIFICATE_VERIFY_FAILED``; never the URL."""
    cause = reason(exc).partition(": ")[2]
    if not cause:
        return f"ConnectionError: {type(exc).__name__}"
    return f"{'SSLError' if cause.startswith('TLS ') else 'ConnectionError'}: {cause}"


async def _session(service: ResolvedService) -> aiohttp.ClientSession:
    """This loop's pooled session for ``service``'s server and TLS files."""
    loop = asyncio.get_running_loop()
    sessions = _sessions.get(loop)
    if sessions is None:
        sessions = _sessions[loop] = _LoopSessions()
        sessions.closer = _close_at_shutdown(loop, sessions)
        await anext(sessions.closer)  # now the loop's: its shutdown_asyncgens() runs the rest
    key = (service.server_name, service.ca_bundle, service.client_cert)
    session = sessions.by_key.get(key)
    if session is None:
        session = sessions.by_key[key] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=_tls(service)),
            cookie_jar=aiohttp.DummyCookieJar(),  # a service's cookies are not kept
            trust_env=False,  # a proxy from the environment must not see decisions
        )
    return session


def _tls(service: ResolvedService) -> ssl.SSLContext | bool:
    """The TLS settings of ``service``'s server: verified with its CA bundle (default: the
    bundle requests uses), presenting its client certificate when one is registered."""
    if not service.url.startswith("https:"):
        return True  # aiohttp's default: unused for http
    try:
        context = ssl.create_default_context(cafile=service.ca_bundle or DEFAULT_CA_BUNDLE_PATH)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError; the path is not told
        raise ServiceError(service, f"its CA bundle is not usable: {reason(exc)}") from None
    if service.client_cert:
        try:
            context.load_cert_chain(service.client_cert)
        except (OSError, ValueError) as exc:
            problem = f"its client certificate is not usable: {reason(exc)}"
            raise ServiceError(service, problem) from None
    return context


async def _close_at_shutdown(
    loop: asyncio.AbstractEventLoop, sessions: _LoopSessions
) -> AsyncIterator[None]:
    """Closes ``loop``'s sessions when the loop closes its async generators."""
    try:
        yield
    finally:
        _sessions.pop(loop, None)
        for session in sessions.by_key.values():
            await session.close()
