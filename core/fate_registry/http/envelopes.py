"""Reply envelopes: ``{retcode, retmsg, data}`` under /v1 (FATE Flow 1.x), ``{code, message,
data}`` elsewhere (FATE Flow 2.x), ``{code, msg}`` on the hook gateway (what FATE Flow's hook
client reads), and the return codes they share."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any, Generic, TypeVar

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

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
    """An error on the hook gateway: FATE Flow's hook client reads ``code`` and ``msg``; the v1
    envelope's ``retcode`` and ``retmsg`` carry the same."""

    code: int
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
    return path.startswith("/v1/hook/")


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
        body = {"code": int(code), "msg": message, "retcode": int(code), "retmsg": message}
    elif is_v1(path):
        body = {"retcode": int(code), "retmsg": message}
        if data is not None and data != {} and data != []:
            body["data"] = jsonable_encoder(data)
    else:
        body = {"code": int(code), "message": message, "data": jsonable_encoder(data)}
    return JSONResponse(body, status_code=status, headers=headers)
