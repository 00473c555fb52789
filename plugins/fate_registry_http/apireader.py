"""ApiReader over HTTP, as FATE Flow 1.11's ApiReader calls it: a streamed multipart upload,
the status query, and a streamed download checked as it arrives and renamed into place only
when complete."""

from __future__ import annotations

import email.utils
import hashlib
import json
import time
from collections.abc import Iterator

import requests
from requests_toolbelt import MultipartEncoder

from fate_registry.capabilities import (
    DownloadAnswer,
    DownloadRequest,
    QueryAnswer,
    QueryRequest,
    UploadAnswer,
    UploadRequest,
    callback_reply,
    job_id_from_reply,
    status_from_reply,
)
from fate_registry.context import HookContext
from fate_registry.features import DownloadFailed, FeatureFile
from fate_registry.ids import Ids
from fate_registry.models import ResolvedService

from .client import ServiceError, iter_body, json_reply, send

CHUNK = 1 << 20  # bytes handed to the socket at once


def sign(job_id: str) -> str:
    """FATE Flow's ``sign``: the hex MD5 of the job id (compatibility, not security)."""
    return hashlib.md5(job_id.encode(), usedforsecurity=False).hexdigest()


class _IdsReader:
    """The id file as MultipartEncoder reads its part: ``read(n)``, and ``len``, the bytes
    left, which it asks before each read. With the total unknown (ids from an iterable), one
    chunk is held ahead, so ``len`` is 0 exactly at the end."""

    def __init__(self, ids: Ids) -> None:
        self._chunks = ids.chunks(CHUNK)
        self._total = ids.length
        self._buffer = memoryview(b"")
        self._read = 0

    @property
    def len(self) -> int:
        if self._total is not None:
            return self._total - self._read
        if not self._buffer:
            self._buffer = memoryview(next(self._chunks, b""))
        return len(self._buffer)

    def read(self, size: int = -1) -> bytes:
        if not self._buffer:
            self._buffer = memoryview(next(self._chunks, b""))
        if size is None or size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        self._read += len(data)
        return bytes(data)


class _Body:
    """The multipart body as requests sends it, in chunks (``Transfer-Encoding: chunked``, as
    the length is unknown). Each chunk is made as the socket takes the previous one, and none
    after the deadline or a cancellation."""

    def __init__(self, context: HookContext, service: ResolvedService, ids: Ids) -> None:
        self.context = context
        self.service = service
        self.encoder = MultipartEncoder(
            fields={"file": ("id", _IdsReader(ids), "application/octet-stream")}
        )
        self.content_type = self.encoder.content_type

    def __iter__(self) -> Iterator[bytes]:
        while True:
            if self.context.cancelled.is_set():
                raise ServiceError(self.service, "upload cancelled")
            if self.context.remaining() <= 0:
                raise ServiceError(self.service, "upload not finished at the deadline")
            chunk = self.encoder.read(CHUNK)
            if not chunk:
                return
            yield chunk


class _SizedBody(_Body):
    """The body of ids of known length (a file sent as it is): requests sends its
    ``Content-Length``."""

    def __len__(self) -> int:
        return int(self.encoder.len)


def upload(context: HookContext, service: ResolvedService, request: UploadRequest) -> UploadAnswer:
    """Stream the ids as multipart field ``file``; never retried (not idempotent)."""
    parameters = {**request.parameters, "job_id": request.job_id, "sign": sign(request.job_id)}
    body = (_Body if request.ids.length is None else _SizedBody)(context, service, request.ids)
    response = send(
        context,
        service,
        params={"requestBody": json.dumps(parameters)},
        data=body,
        headers={"Content-Type": body.content_type},
        retry=False,
    )
    with response:
        reply = json_reply(context, service, response)
    try:
        return job_id_from_reply(reply)
    except ValueError as exc:
        if not 200 <= response.status_code < 300:
            raise ServiceError(service, f"upload answered HTTP {response.status_code}") from None
        raise ServiceError(service, str(exc)) from None


def query(context: HookContext, service: ResolvedService, request: QueryRequest) -> QueryAnswer:
    """Post ``{jobId}``; a 429 or 503 with ``Retry-After`` means "still running, ask later"."""
    with send(context, service, json_body={"jobId": request.job_id}) as response:
        wait = retry_after(response)
        if response.status_code in (429, 503) and wait is not None:
            return QueryAnswer(
                status="running", raw_status=f"HTTP {response.status_code}", retry_after=wait
            )
        reply = json_reply(context, service, response)
    try:
        answer = status_from_reply(reply)
    except ValueError as exc:
        raise ServiceError(service, str(exc)) from None
    return answer if wait is None else answer.model_copy(update={"retry_after": wait})


def retry_after(response: requests.Response) -> float | None:
    """Seconds of a ``Retry-After`` header (a number or an HTTP date), None when absent."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def download(
    context: HookContext, service: ResolvedService, request: DownloadRequest
) -> DownloadAnswer:
    """Stream the features, decoded, into a FeatureFile (UTF-8 text, ``hooks.download``'s
    limits, renamed into place when complete); the bytes on the wire must be as many as the
    service's ``Content-Length`` says, whatever its ``Content-Encoding``."""
    body = json.dumps({"jobId": request.job_id, "sign": sign(request.job_id)})
    # Connection: close: whatever a service sends past its Content-Length goes with the
    # connection, never read by a later call as its reply (a download is one long transfer:
    # reusing the connection saves nothing).
    headers = {"Connection": "close"}
    response = send(context, service, params={"requestBody": body}, headers=headers)
    with response:
        if not 200 <= response.status_code < 300 or _is_json(response):
            raise ServiceError(service, _refusal(context, service, response))
        expected = _content_length(service, response)
        try:
            with FeatureFile(context, request) as features:
                try:
                    for chunk in iter_body(context, service, response, chunk_size=CHUNK):
                        features.write(chunk)
                except ServiceError as exc:
                    if expected is None:
                        raise
                    wire = response.raw.tell()  # bytes received, before decoding
                    raise ServiceError(
                        service, f"download cut after {wire} of {expected} bytes ({exc})"
                    ) from None
                return features.commit()
        except DownloadFailed as exc:
            raise ServiceError(service, str(exc)) from None


def _content_length(service: ResolvedService, response: requests.Response) -> int | None:
    """The body's length on the wire, as its ``Content-Length`` says (None without one).

    urllib3 counts the bytes received against it before they are decoded, and raises when the
    connection ends short of it; it never reads past it: what follows is not this reply, and
    goes with the connection (``Connection: close``). A header it cannot use as a length is
    refused here, where urllib3 would read to the end of the connection instead."""
    header = response.headers.get("Content-Length")
    if header is None:
        return None
    length: int | None = response.raw.length_remaining
    if length is not None:
        return length
    if response.raw.chunked:
        problem = "download has both a Content-Length and Transfer-Encoding: chunked"
    else:
        problem = f"download's Content-Length {header!r} is not a number of bytes"
    raise ServiceError(service, problem)


def _is_json(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"


def _refusal(context: HookContext, service: ResolvedService, response: requests.Response) -> str:
    """What a download that is not a feature file says: its code and message when it is a
    JSON reply, else its HTTP status."""
    status = f"HTTP {response.status_code}"
    try:
        code, message = callback_reply(json_reply(context, service, response))
    except (ServiceError, ValueError):
        return f"download answered {status}, not a feature file"
    if code == 0:
        return f"download answered JSON ({status}, code 0), not a feature file"
    return f"download refused ({status}) with code {code}: {message or '(no message)'}"
