"""ApiReader over HTTP: streamed multipart upload, status query, streamed atomic download."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

from requests_toolbelt import MultipartEncoder

from fate_registry.capabilities import (
    DownloadAnswer,
    DownloadRequest,
    QueryAnswer,
    QueryRequest,
    UploadAnswer,
    UploadRequest,
    job_id_from_reply,
    status_from_reply,
)
from fate_registry.context import HookContext
from fate_registry.models import ResolvedService

from .client import ServiceError, iter_body, json_reply, send


def sign(job_id: str) -> str:
    """FATE Flow's ``sign``: the hex MD5 of the job id (compatibility, not security)."""
    return hashlib.md5(job_id.encode(), usedforsecurity=False).hexdigest()


def upload(context: HookContext, service: ResolvedService, request: UploadRequest) -> UploadAnswer:
    """Stream the ids file as multipart field ``file``; never retried (not idempotent)."""
    parameters = {**request.parameters, "job_id": request.job_id, "sign": sign(request.job_id)}
    with request.ids_path.open("rb") as ids:
        encoder = MultipartEncoder(fields={"file": ("id", ids, "application/octet-stream")})
        response = send(
            context,
            service,
            params={"requestBody": json.dumps(parameters)},
            data=encoder,
            headers={"Content-Type": encoder.content_type},
            retry=False,
        )
    with response:
        reply = json_reply(context, service, response)
    try:
        return job_id_from_reply(reply)
    except ValueError as exc:
        raise ServiceError(service, str(exc)) from None


def query(context: HookContext, service: ResolvedService, request: QueryRequest) -> QueryAnswer:
    with send(context, service, json_body={"jobId": request.job_id}) as response:
        reply = json_reply(context, service, response)
    try:
        return status_from_reply(reply)
    except ValueError as exc:
        raise ServiceError(service, str(exc)) from None


def download(
    context: HookContext, service: ResolvedService, request: DownloadRequest
) -> DownloadAnswer:
    """Stream the features into a temporary file beside the destination, then rename it."""
    body = json.dumps({"jobId": request.job_id, "sign": sign(request.job_id)})
    response = send(context, service, params={"requestBody": body})
    destination = request.destination
    with response:
        if not 200 <= response.status_code < 300:
            raise ServiceError(service, f"download answered HTTP {response.status_code}")
        fd, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
        size = lines = 0
        last = b"\n"
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter_body(context, service, response):
                    out.write(chunk)
                    size += len(chunk)
                    lines += chunk.count(b"\n")
                    last = chunk[-1:] or last
            os.replace(temporary, destination)
        except BaseException:
            os.unlink(temporary)
            raise
    if size and last != b"\n":
        lines += 1  # the last line has no newline
    return DownloadAnswer(path=destination, rows=max(lines - 1, 0), bytes=size)
