"""ASGI middleware: a request id and an access log line per request, and the body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logsafe import printable
from .errors import TOO_LARGE, error_reply
from .jsonbody import strict_json_problem

access_log = logging.getLogger("fate_registry.access")

MAX_BODY = 1024 * 1024  # TOO_LARGE says so
REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestLog:
    """Echo (or make) X-Request-ID, and log one line per request once it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            access_log.info(
                '%s %s "%s %s" %d %.1fms',
                request_id,
                f"{client[0]}:{client[1]}" if client else "-",
                scope["method"],
                printable(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )


class BodyGuard:
    """Refuse bodies over ``limit`` bytes with 413, by Content-Length up front and by counting
    while the body is read, so a chunked or lying request cannot get past it; and JSON bodies
    that are not strict JSON (see jsonbody.py) with 400, before any route sees them."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await _reply(scope, receive, send, 413, TOO_LARGE)
            return
        if _is_json(headers.get(b"content-type", b"")):
            await self._json(scope, receive, send)
        else:
            await self.app(scope, self._counting(receive), send)

    async def _json(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await _reply(scope, receive, send, 413, TOO_LARGE)
                return
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = strict_json_problem(body) if body else None
        if problem is not None:
            await _reply(scope, receive, send, 400, f"body: is not valid JSON ({problem})")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # FastAPI re-raises an HTTPException met while reading the body, so it
                    # reaches the exception handlers and gets the route's envelope.
                    raise HTTPException(413)
            return message

        return counting_receive


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


async def _reply(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    await error_reply(scope["path"], status, message)(scope, receive, send)
