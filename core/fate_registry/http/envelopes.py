"""Reply envelopes: ``{retcode, retmsg, data}`` under /v1 (FATE Flow 1.x), ``{code, message,
data}`` elsewhere (FATE Flow 2.x), ``{code, msg}`` on the hook gateway (what FATE Flow's hook
client reads) and ``{code, message}`` in 2.x's codes on its /v2/hook side, and the return codes
they share.

The hook gateway answers every POST with HTTP 200: FATE Flow 1.11's hooks turn any other status
into a generic "status code 400" failure, and read a refusal's reason only from the ``code`` and
``msg`` of a 200. Only a wrong method keeps its 405, as HTTP says (FATE Flow always POSTs)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any, Generic, TypeVar

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..fate2 import fate2_code

T = TypeVar("T")


class Code(IntEnum):
    """FATE Flow 1.x return codes, which our v2 envelope uses as well."""

    SUCCESS = 0
    EXCEPTION = 100
    ARGUMENT_ERROR = 101
    NOT_FOUND = 102  # FATE Flow's DATA_ERROR, which it answers for "no such thing"
    OPERATING_ERROR = 103
    CONNECTION_ERROR = 105
    PERMISSION_ERROR = 108
    AUTHENTICATION_ERROR = 109


class V1Reply(BaseModel, Generic[T]):
    """FATE Flow 1.x envelope; ``data`` is left out when there is none."""

    retcode: int = Field(description="0 on success, see docs/server.md for the others")
    retmsg: str
    data: T | None = None


class V2Reply(BaseModel, Generic[T]):
    """FATE Flow 2.x envelope."""

    code: int = Field(description="0 on success, see docs/server.md for the others")
    message: str
    data: T | None = None


class V1Error(BaseModel):
    retcode: int
    retmsg: str


class HookError(BaseModel):
    """A request the hook gateway refused before any decision (a body it cannot validate, a
    missing token): FATE Flow's hook client reads ``code`` and ``msg``; the v1 envelope's
    ``retcode`` and ``retmsg`` carry the same. Always with HTTP 200."""

    code: int = Field(description="a FATE Flow code, never 0: 101 argument error, 109 ...")
    msg: str
    retcode: int
    retmsg: str


class V2Error(BaseModel):
    code: int
    message: str
    data: None = None


def is_v1(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def is_hook(path: str) -> bool:
    return path.startswith(("/v1/hook/", "/v2/hook/"))


def reply(
    path: str,
    data: Any = None,
    *,
    status: int = 200,
    code: int = Code.SUCCESS,
    message: str = "success",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The envelope of the API version that ``path`` belongs to."""
    body: dict[str, Any]
    if is_hook(path):
        if path.startswith("/v2/"):  # contrib/fate-flow-hooks for FATE Flow 2.x reads 2.x's codes
            body = {"code": fate2_code(int(code)), "message": message}
        else:
            body = {"code": int(code), "msg": message, "retcode": int(code), "retmsg": message}
        status = 405 if status == 405 else 200  # see the module docstring
    elif is_v1(path):
        body = {"retcode": int(code), "retmsg": message}
        if data is not None and data != {} and data != []:
            body["data"] = jsonable_encoder(data)
    else:
        body = {"code": int(code), "message": message, "data": jsonable_encoder(data)}
    return JSONResponse(body, status_code=status, headers=headers)
