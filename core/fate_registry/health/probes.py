"""One check, run on the prober's event loop: a TCP connect, or an HTTP request whose status is
compared with the expected one. Each answers ``(status, output)``; the output names the target
and the reason, never a body (a health page may say more than it should)."""

from __future__ import annotations

import asyncio
import os
import ssl
from contextlib import suppress
from http import HTTPStatus

import aiohttp

from ..logsafe import printable
from ..masking import mask_url_queries
from ..store.health import Target
from . import CRITICAL, PASSING, WARNING

MAX_OUTPUT = 512  # the column's size


async def tcp_check(target: Target, timeout: float) -> tuple[str, str]:
    host = f"[{target.host}]" if ":" in target.host else target.host
    where = f"{host}:{target.port}"
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(target.host, target.port)
    except TimeoutError:
        return CRITICAL, f"TCP connect to {where}: no answer within {timeout:g} s"
    except OSError as exc:  # asyncio's text repeats the address: the errno's is enough
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return CRITICAL, _bounded(f"TCP connect to {where}: {reason}")
    writer.close()
    with suppress(OSError):  # the peer closed first: the connect succeeded, which is checked
        await writer.wait_closed()
    return PASSING, f"TCP connect to {where}: success"


async def http_check(session: aiohttp.ClientSession, target: Target) -> tuple[str, str]:
    """``method path`` on the target; passing on the expected status, warning on 429 (too many
    requests: alive but shedding load, as Consul counts it), critical otherwise."""
    check = target.check
    assert check is not None
    what = f"HTTP {check.method} {mask_url_queries(target.url)}"
    try:
        tls = _tls(target)  # a CA bundle or certificate that cannot be loaded: critical
        async with session.request(
            check.method,
            target.url,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=check.timeout),
            ssl=tls,
        ) as response:
            status = response.status
    except TimeoutError:
        return CRITICAL, _bounded(f"{what}: no answer within {check.timeout:g} s")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return CRITICAL, _bounded(f"{what}: {_reason(exc)}")
    phrase = _phrase(status)
    if status == check.status:
        return PASSING, _bounded(f"{what}: {status} {phrase}")
    verdict = WARNING if status == HTTPStatus.TOO_MANY_REQUESTS else CRITICAL
    return verdict, _bounded(f"{what}: {status} {phrase} (expected {check.status})")


def _tls(target: Target) -> ssl.SSLContext | bool:
    """The server's registered CA bundle and client certificate for https; aiohttp's default
    (the system's CAs) otherwise."""
    if target.protocol != "https" or not (target.ca_bundle or target.client_cert):
        return True
    context = ssl.create_default_context(cafile=target.ca_bundle)
    if target.client_cert:
        context.load_cert_chain(target.client_cert)
    return context


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _reason(exc: BaseException) -> str:
    """The innermost cause's text: ``Connection refused``, a TLS error; never a URL (which
    may carry a query)."""
    if isinstance(exc, OSError) and exc.errno:  # aiohttp's connection errors are OSErrors
        return os.strerror(exc.errno)
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno)
    text = str(cause) or type(cause).__name__
    return type(cause).__name__ if "://" in text else f"{type(exc).__name__}: {text}"


def _bounded(text: str) -> str:
    text = printable(text)
    return text if len(text) <= MAX_OUTPUT else text[: MAX_OUTPUT - 3] + "..."
