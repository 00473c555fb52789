"""Calls to registered services: a pooled session per server, retries within the deadline,
the service's stored headers, params and data, TLS files, optional webhook signing, and
replies read in chunks that stop at the deadline and at a size cap.

This module is the blocking client (requests), which ApiReader's calls use in worker threads;
the decisions' client (``async_client``, aiohttp on the event loop) shares its policy: how a
request is built and signed, the retries and their backoff, how a reply is judged, the errors.

Redirects are never followed: a 3xx is an error, so nothing (no stored header, no decision
request) is sent to an address the registry did not validate.

Error messages name the service, its method and ``scheme://host:port/path``, never the query
(the stored params may hold tokens), and never the text of a requests or urllib3 error,
which quotes the URL with its query."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import random
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from fate_registry.context import HOP_HEADER, HookContext
from fate_registry.models import CONNECTION_HEADERS, ResolvedService

RETRY_STATUSES = frozenset({502, 503, 504})
BACKOFF_BASE = 0.05  # seconds; doubled per retry, with full jitter
MIN_ATTEMPT = 0.01  # an attempt with less time left than this is not started
MAX_REPLY = 1 << 20  # bytes a JSON reply may have
CHUNK = 1 << 16  # bytes read at most at once
# Headers this plugin sets on its requests: the body's type, the hop header, the signing
# headers. A stored header of one of these names is never sent, whether or not the request at
# hand carries the plugin's own: sent beside it or in its place, it would misdescribe the
# body, hide a loop or forge a signature.
OWN_HEADERS = frozenset(
    {
        "content-type",
        HOP_HEADER.lower(),
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "webhook-body",
    }
)
# Registration refuses the framing and hop-by-hop ones; a row stored before it did may hold
# them, and they are not sent either.
NOT_SENT = OWN_HEADERS | CONNECTION_HEADERS


def describe(service: ResolvedService) -> str:
    """The service, its server, its method and its URL without query: safe to log."""
    url = urlsplit(service.url)
    return (
        f"service {service.service_name!r} of server {service.server_name!r} "
        f"({service.method} {url.scheme}://{url.netloc}{url.path})"
    )


def without_query(url: str) -> str:
    """``url`` without its query, fragment or user info: ``scheme://host:port/path``, or only
    the path of a relative URL."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port out of range: leave it out
        port = None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    origin = f"{parts.scheme}://{host}{f':{port}' if port else ''}" if parts.scheme else ""
    return origin + parts.path


class ServiceError(RuntimeError):
    """A registered service could not be called or answered something unusable."""

    def __init__(self, service: ResolvedService, problem: str) -> None:
        self.service = service
        super().__init__(f"{describe(service)}: {problem}")


def reason(exc: BaseException) -> str:
    """``exc``'s class and the cause underneath (``ConnectionError: Connection refused``).

    The cause is the innermost TLS reason or operating-system message, found through the
    exceptions requests and urllib3 wrap; their own messages quote the URL and its query."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cause = todo.pop(0)
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError):
            tls_reason = getattr(cause, "reason", None)
            if isinstance(tls_reason, str):
                return f"{type(exc).__name__}: TLS {tls_reason}"
            # else aiohttp's wrapper: the ssl module's error is among its args
        elif isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
            # the system's text for it: asyncio's own names the address as well
            return f"{type(exc).__name__}: {os.strerror(cause.errno)}"
        elif isinstance(cause, OSError) and isinstance(cause.strerror, str):
            return f"{type(exc).__name__}: {cause.strerror}"
        nested = (getattr(cause, "reason", None), cause.__cause__, cause.__context__, *cause.args)
        todo.extend(e for e in nested if isinstance(e, BaseException))
    return type(exc).__name__


class SessionPool:
    """One connection pool (requests' ``HTTPAdapter``) per server and TLS setting, shared by
    every thread. Calls go to the adapter itself, not through a ``requests.Session``: a
    session's cookie jar, redirect handling and settings merge cost about a fifth of a call
    (docs/performance.md), and none of it applies (no cookies kept, no redirect followed)."""

    def __init__(self, pool_size: int = 32) -> None:
        self.pool_size = pool_size
        self._adapters: dict[tuple[str, str | None, str | None], HTTPAdapter] = {}
        self._lock = threading.Lock()

    def adapter(self, service: ResolvedService) -> HTTPAdapter:
        key = (service.server_name, service.ca_bundle, service.client_cert)
        adapter = self._adapters.get(key)
        if adapter is None:
            with self._lock:
                adapter = self._adapters.get(key)
                if adapter is None:
                    adapter = HTTPAdapter(
                        pool_connections=4, pool_maxsize=self.pool_size, max_retries=0
                    )
                    self._adapters[key] = adapter
        return adapter

    def close(self) -> None:
        with self._lock:
            for adapter in self._adapters.values():
                adapter.close()
            self._adapters.clear()


SESSIONS = SessionPool()
DEFAULT_HEADERS = dict(requests.utils.default_headers())  # what a requests.Session sends


class _Prepared(requests.PreparedRequest):
    """requests' prepared request, with the URL prepared by :func:`prepared_url`."""

    def prepare_url(self, url: Any, params: Any) -> None:
        self.url = prepared_url(url, params)


def prepared_url(url: str, params: dict[str, Any]) -> str:
    """``url`` with ``params`` in its query, as requests prepares it (what is sent and signed).

    Prepared once per (URL, params): requests parses, IDNA-encodes and re-quotes it on every
    call, most of what preparing a decision's request costs (docs/performance.md)."""
    try:
        return _prepared_url(url, tuple(params.items()))
    except TypeError:  # a value that cannot be a key (a list): prepared as requests does
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, params)
        return str(prepared.url)


@functools.lru_cache(maxsize=1024)
def _prepared_url(url: str, params: tuple[tuple[str, Any], ...]) -> str:
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, dict(params))
    return str(prepared.url)


def signing_headers(
    secret: str, message_id: str, method: str, url: str, body: bytes | None
) -> dict[str, str]:
    """Standard Webhooks headers over the request's method, path, sorted query and body.

    The signed content is ``id.timestamp.METHOD\\npath\\nquery\\nbody``: ``path`` as sent
    (percent-encoded), ``query`` its pairs sorted and URL-encoded again. A ``body`` of None
    (a stream, as upload's multipart body) is left out and ``webhook-body: unsigned`` says so.
    A secret written ``whsec_<base64>`` is decoded as Standard Webhooks does; any other secret
    is used as its UTF-8 bytes.
    """
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    timestamp = str(int(time.time()))
    signed = f"{message_id}.{timestamp}.{method}\n{parts.path}\n{query}\n".encode() + (body or b"")
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{digest}",
    }
    if body is None:
        headers["webhook-body"] = "unsigned"
    return headers


def request_headers(
    context: HookContext, service: ResolvedService, headers: dict[str, str] | None = None
) -> dict[str, str]:
    """The service's stored headers but those NOT_SENT, then ``headers``, then the hop header:
    a fate-registry refuses a call that carries it (a loop, http/loops.py)."""
    stored = {
        name: value for name, value in service.headers.items() if name.lower() not in NOT_SENT
    }
    return {**stored, **(headers or {}), HOP_HEADER: context.decision_id}


def json_payload(service: ResolvedService, json_body: dict[str, Any]) -> bytes:
    """``json_body`` merged over the service's stored ``data``, as compact JSON."""
    return json.dumps({**service.data, **json_body}, separators=(",", ":")).encode()


def attempt_timeout(context: HookContext, service: ResolvedService) -> float:
    """The next attempt's timeout: the capability's, or less, what is left of the budget;
    ServiceError when too little is left to start one."""
    remaining = context.remaining()
    if remaining < MIN_ATTEMPT:
        raise ServiceError(service, "no time left in the budget")
    return min(context.settings.timeout, remaining)


def backoff(context: HookContext, service: ResolvedService, attempt: int) -> float:
    """The pause before retry ``attempt`` (1, 2, ...): exponential with full jitter;
    ServiceError when the budget would be spent before the retry could start."""
    pause = random.uniform(0, BACKOFF_BASE * 2**attempt)
    if pause > context.remaining() - MIN_ATTEMPT:
        raise ServiceError(service, f"gave up after {attempt} attempts: budget spent")
    return pause


def redirect_problem(status: int, location: str | None) -> str:
    target = f" to {without_query(location)}" if location else ""
    return f"answered HTTP {status}, a redirect{target}: redirects are not followed"


def parse_json_reply(
    service: ResolvedService, status: int, content_type: str | None, content: bytes
) -> Any:
    """The JSON in a reply's ``content``; ServiceError naming the service when it is not."""
    try:
        return json.loads(content)
    except ValueError:
        snippet = content[:80].decode("utf-8", "replace").replace("\n", " ")
        kind = content_type or "no content type"
        raise ServiceError(
            service, f"reply is not JSON (HTTP {status}, {kind}): {snippet!r}"
        ) from None


def over_the_cap(length: str | int | None) -> str | None:
    """The problem with a reply whose Content-Length is ``length``, or None."""
    if length is not None and str(length).isdigit() and int(length) > MAX_REPLY:
        return f"reply of {length} bytes is over the {MAX_REPLY}-byte cap"
    return None


def send(
    context: HookContext,
    service: ResolvedService,
    *,
    json_body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    retry: bool = True,
) -> requests.Response:
    """Call ``service`` before ``context.deadline``, retrying connection errors and 502/503/504.

    ``json_body`` is merged over the service's stored ``data``; ``params`` and ``headers`` over
    its stored params and headers. The deadline bounds every attempt and the backoff between.
    The reply's body is not read yet: read it with :func:`json_reply` or :func:`iter_body`,
    which stop at the deadline, inside ``with response:``.
    """
    all_headers = request_headers(context, service, headers)
    body: Any = data
    if json_body is not None:
        body = json_payload(service, json_body)
        all_headers["Content-Type"] = "application/json"
    adapter = SESSIONS.adapter(service)
    prepared = _Prepared()
    prepared.prepare(
        method=service.method,
        url=service.url,
        headers={**DEFAULT_HEADERS, **all_headers},
        data=body,
        params={**service.params, **(params or {})},
    )
    if context.signing_secret:
        signed_body = body if isinstance(body, bytes) else None if body is not None else b""
        prepared.headers.update(
            signing_headers(
                context.signing_secret,
                context.decision_id,
                service.method,
                prepared.url or service.url,
                signed_body,
            )
        )
    retries = context.settings.retries if retry else 0
    attempt = 0
    while True:
        timeout = attempt_timeout(context, service)
        try:
            response = adapter.send(
                prepared,
                stream=True,
                timeout=(timeout, timeout),
                verify=service.ca_bundle or True,
                cert=service.client_cert,
                proxies={},  # a proxy from the environment must not see decisions
            )
        except requests.ConnectionError as exc:  # connect timeouts included: retried
            if attempt >= retries:
                raise ServiceError(service, f"connection failed: {reason(exc)}") from None
        except requests.Timeout:
            raise ServiceError(service, f"timed out after {timeout:.2f} s") from None
        except requests.RequestException as exc:
            raise ServiceError(service, f"request failed: {reason(exc)}") from None
        else:
            if 300 <= response.status_code < 400:
                response.close()
                location = response.headers.get("Location")
                raise ServiceError(service, redirect_problem(response.status_code, location))
            if response.status_code not in RETRY_STATUSES or attempt >= retries:
                return response
            response.close()
        attempt += 1
        time.sleep(backoff(context, service, attempt))


def iter_body(
    context: HookContext,
    service: ResolvedService,
    response: requests.Response,
    limit: int | None = None,
    chunk_size: int = CHUNK,
) -> Iterator[bytes]:
    """The body of ``response`` (from :func:`send`) as it arrives, decoded; ServiceError at
    ``context.deadline`` or past ``limit`` bytes.

    Each read returns what has arrived (at most ``chunk_size`` bytes) and waits no longer than the
    deadline, so a service that trickles its reply holds the worker thread no longer than the
    decision's budget. The headers are read by requests, each read bounded by the timeout.
    """
    raw = response.raw
    size = 0
    try:
        while True:
            remaining = context.remaining()
            if remaining <= 0:
                raise ServiceError(service, f"reply not finished at the deadline ({size} bytes)")
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(remaining)  # the next read waits until the deadline at most
            chunk = raw.read1(chunk_size, decode_content=True)
            if not chunk:
                return
            size += len(chunk)
            if limit is not None and size > limit:
                raise ServiceError(service, f"reply larger than the {limit}-byte cap")
            yield chunk
    except urllib3.exceptions.ReadTimeoutError:
        raise ServiceError(service, f"reply not finished at the deadline ({size} bytes)") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ServiceError(service, f"reading the reply failed: {reason(exc)}") from None


def json_reply(context: HookContext, service: ResolvedService, response: requests.Response) -> Any:
    """The JSON reply of ``response``, at most MAX_REPLY bytes read by the deadline;
    ServiceError naming the service when it is too large, late or not JSON."""
    problem = over_the_cap(response.headers.get("Content-Length"))
    if problem is not None:
        raise ServiceError(service, problem)
    content = b"".join(iter_body(context, service, response, MAX_REPLY))
    content_type = response.headers.get("Content-Type")
    return parse_json_reply(service, response.status_code, content_type, content)
