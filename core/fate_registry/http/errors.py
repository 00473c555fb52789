"""Every error becomes the envelope of its API version with a 4xx and a message that names the
field; a database that cannot be used now gives 503 with a message that names no connection
detail; only a bug gives a 500, and its reply says nothing about the cause."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    Conflict,
    InvalidRegistration,
    RegistryUnavailable,
    ServerNotFound,
    ServiceNotFound,
)
from ..logsafe import printable
from .envelopes import Code, reply
from .schemas import BODY_FORMS

log = logging.getLogger("fate_registry.http")

_HTTP_CODES = {
    400: Code.ARGUMENT_ERROR,
    401: Code.AUTHENTICATION_ERROR,
    403: Code.PERMISSION_ERROR,
    404: Code.NOT_FOUND,
    405: Code.ARGUMENT_ERROR,
    409: Code.OPERATING_ERROR,
    413: Code.ARGUMENT_ERROR,
    415: Code.ARGUMENT_ERROR,
    422: Code.CONNECTION_ERROR,
}
# The registry's field names, as the HTTP API names them (a body's own fields keep theirs).
_FIELD_NAMES = {"name": "server_name"}


TOO_LARGE = "request body is larger than the limit of 1 MiB"


class APIError(Exception):
    """An error the client caused, with the HTTP status and code to answer."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error_reply(
    request: Request | str, status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    path = request if isinstance(request, str) else request.url.path
    code = _HTTP_CODES.get(status, Code.EXCEPTION if status >= 500 else Code.ARGUMENT_ERROR)
    return reply(path, status=status, code=code, message=message, headers=headers)


def problems_message(problems: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{field}: {reason}" for field, reason in problems)


def _location(loc: Sequence[Any]) -> str:
    """("body", "port") -> "port"; the union tag of /v1/service/registry is dropped."""
    parts = list(loc[1:]) if len(loc) > 1 else list(loc)
    if parts and parts[0] in BODY_FORMS:
        parts = parts[1:]
    return ".".join(str(part) for part in parts) or "body"


def _reason(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "too_short" and error.get("input") == {}:
        return "must not be empty"
    if kind == "json_invalid":
        return f"is not valid JSON ({error.get('ctx', {}).get('error', 'decode error')})"
    if kind in ("model_attributes_type", "dict_type") and isinstance(error.get("input"), bytes):
        return "must be a JSON object sent with Content-Type: application/json"
    return str(error["msg"]).removeprefix("Value error, ")


def validation_problems(exc: RequestValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        field = "body" if error["type"] == "json_invalid" else _location(loc)
        problems.append((field, _reason(error)))
    return problems


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_reply(request, 400, problems_message(validation_problems(exc)))


async def _on_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidRegistration)
    prefix = f"{exc.entry}." if exc.entry else ""  # one entry of a batch: SERVER.api.upload
    problems = [(f"{prefix}{_FIELD_NAMES.get(f, f)}", reason) for f, reason in exc.problems]
    return error_reply(request, 400, problems_message(problems))


async def _on_not_found(request: Request, exc: Exception) -> JSONResponse:
    return error_reply(request, 404, str(exc))


async def _on_conflict(request: Request, exc: Exception) -> JSONResponse:
    return error_reply(request, 409, str(exc))


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_reply(request, exc.status, exc.message, exc.headers)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    messages = {
        404: f"no route {request.url.path!r}: see /docs for the routes",
        405: f"method {request.method} is not allowed on {request.url.path!r}",
        413: TOO_LARGE,
    }
    message = messages.get(exc.status_code, str(exc.detail))
    return error_reply(request, exc.status_code, message, exc.headers)


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryUnavailable)
    # Not a bug: no traceback. The driver's error class and code, never its text (it names
    # the host, port and database).
    log.warning(
        "%s %s: %s [%s]", request.method, printable(request.url.path), exc, exc.driver_error
    )
    return error_reply(request, 503, str(exc))


async def _on_bug(request: Request, exc: Exception) -> JSONResponse:
    # The cause goes to the log only: it may hold a database URL or a file path.
    log.exception("unhandled error on %s %s", request.method, printable(request.url.path))
    return error_reply(request, 500, "internal error: see the server log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(InvalidRegistration, _on_invalid)
    app.add_exception_handler(ServerNotFound, _on_not_found)
    app.add_exception_handler(ServiceNotFound, _on_not_found)
    app.add_exception_handler(Conflict, _on_conflict)
    app.add_exception_handler(RegistryUnavailable, _on_unavailable)
    app.add_exception_handler(APIError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_bug)
