"""Calls to registered services: a pooled session per server, retries within the deadline,
the service's stored headers, params and data, TLS files, and optional webhook signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from fate_registry.context import HookContext
from fate_registry.models import ResolvedService

RETRY_STATUSES = frozenset({502, 503, 504})
BACKOFF_BASE = 0.05  # seconds; doubled per retry, with full jitter
MIN_ATTEMPT = 0.01  # an attempt with less time left than this is not started


class ServiceError(RuntimeError):
    """A registered service could not be called or answered something unusable."""

    def __init__(self, service: ResolvedService, problem: str) -> None:
        self.service = service
        where = f"service {service.service_name!r} of server {service.server_name!r}"
        super().__init__(f"{where} ({service.method} {service.url}): {problem}")


class SessionPool:
    """One ``requests.Session`` per server and TLS setting, shared by every thread."""

    def __init__(self, pool_size: int = 32) -> None:
        self.pool_size = pool_size
        self._sessions: dict[tuple[str, str | None, str | None], requests.Session] = {}
        self._lock = threading.Lock()

    def session(self, service: ResolvedService) -> requests.Session:
        key = (service.server_name, service.ca_bundle, service.client_cert)
        session = self._sessions.get(key)
        if session is None:
            with self._lock:
                session = self._sessions.get(key)
                if session is None:
                    session = self._new_session(service)
                    self._sessions[key] = session
        return session

    def _new_session(self, service: ResolvedService) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # a proxy from the environment must not see decisions
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = service.ca_bundle or True
        if service.client_cert:
            session.cert = service.client_cert
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()


SESSIONS = SessionPool()


def signing_headers(secret: str, message_id: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers: HMAC-SHA256 over ``id.timestamp.body``, base64, ``v1,``.

    A secret written ``whsec_<base64>`` is decoded as Standard Webhooks does; any other secret
    is used as its UTF-8 bytes.
    """
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )
    timestamp = str(int(time.time()))
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{digest}",
    }


def send(
    context: HookContext,
    service: ResolvedService,
    *,
    json_body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    retry: bool = True,
    stream: bool = False,
) -> requests.Response:
    """Call ``service`` before ``context.deadline``, retrying connection errors and 502/503/504.

    ``json_body`` is merged over the service's stored ``data``; ``params`` and ``headers`` over
    its stored params and headers. The deadline bounds every attempt and the backoff between.
    """
    all_headers = {**service.headers, **(headers or {})}
    body: Any = data
    if json_body is not None:
        body = json.dumps({**service.data, **json_body}, separators=(",", ":")).encode()
        all_headers["Content-Type"] = "application/json"
    secret = context.signing_secret
    if secret and isinstance(body, bytes | type(None)):
        all_headers.update(signing_headers(secret, context.decision_id, body or b""))
    all_params = {**service.params, **(params or {})}
    session = SESSIONS.session(service)
    retries = context.settings.retries if retry else 0
    attempt = 0
    while True:
        remaining = context.remaining()
        if remaining < MIN_ATTEMPT:
            raise ServiceError(service, "no time left in the budget")
        timeout = min(context.settings.timeout, remaining)
        try:
            response = session.request(
                service.method,
                service.url,
                params=all_params or None,
                data=body,
                headers=all_headers,
                timeout=(timeout, timeout),
                stream=stream,
            )
        except requests.ConnectionError as exc:
            if attempt >= retries or isinstance(exc, requests.ReadTimeout):
                raise ServiceError(service, f"connection failed: {exc}") from exc
        except requests.Timeout as exc:
            raise ServiceError(service, f"timed out after {timeout:.2f} s") from exc
        except requests.RequestException as exc:
            raise ServiceError(service, f"request failed: {exc}") from exc
        else:
            if response.status_code not in RETRY_STATUSES or attempt >= retries:
                return response
            response.close()
        attempt += 1
        pause = random.uniform(0, BACKOFF_BASE * 2**attempt)
        if pause > context.remaining() - MIN_ATTEMPT:
            raise ServiceError(service, f"gave up after {attempt} attempts: budget spent")
        time.sleep(pause)


def json_reply(service: ResolvedService, response: requests.Response) -> Any:
    """The JSON reply of ``response``; ServiceError naming the service when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        snippet = response.text[:80].replace("\n", " ")
        kind = response.headers.get("Content-Type", "no content type")
        raise ServiceError(
            service, f"reply is not JSON (HTTP {response.status_code}, {kind}): {snippet!r}"
        ) from None
