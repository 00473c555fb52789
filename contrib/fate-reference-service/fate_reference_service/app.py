"""The service's routes: ApiReader's upload, query and download, and the four decisions.

Every reply is what FATE Flow 1.11 reads and what the published contract says, at once:
``code``, ``msg`` and ``message``; the job id in ``data.jobId``; the status in ``data.status``
and ``status``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

from . import decisions
from .config import Config
from .features import FEATURES
from .jobs import Jobs
from .upload import BadUpload, save_ids

ARGUMENT_ERROR = 101
DATA_ERROR = 102
AUTHENTICATION_ERROR = 109

# service name -> (method, path), as the service registers itself with the registry
SERVICES: dict[str, tuple[str, str]] = {
    "upload": ("POST", "/v1/upload"),
    "query": ("POST", "/v1/query"),
    "download": ("GET", "/v1/download"),
    "client_authentication": ("POST", "/v1/client_authentication"),
    "signature": ("POST", "/v1/signature"),
    "site_authentication": ("POST", "/v1/site_authentication"),
    "permission": ("POST", "/v1/permission"),
}


class _LargeChunks(FileResponse):
    chunk_size = 1 << 20  # fewer, larger reads: the feature file can be gigabytes


def reply(code: int = 0, message: str = "success", **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "msg": message, "message": message, **extra})


def refuse(code: int, message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"code": code, "msg": message, "message": message}, status_code=status)


def sign(job_id: str) -> str:
    """FATE Flow's ``sign``: the MD5 of the job id (a check of integrity, not of identity)."""
    return hashlib.md5(job_id.encode(), usedforsecurity=False).hexdigest()


def request_body(request: Request) -> dict[str, Any] | str:
    """The ``requestBody`` query parameter as an object, or the reason it is not one."""
    raw = request.query_params.get("requestBody")
    if raw is None:
        return "requestBody (a JSON object in the query) is missing"
    try:
        value = json.loads(raw)
    except ValueError:
        return "requestBody is not JSON"
    return value if isinstance(value, dict) else "requestBody must be a JSON object"


def create_app(config: Config) -> FastAPI:
    """The service, keeping its jobs' files in ``config.data_dir``."""
    app = FastAPI(title="fate-reference-service", docs_url=None, redoc_url=None)
    jobs = Jobs(config.data_dir)
    app.state.jobs = jobs

    @app.post(SERVICES["upload"][1])
    async def upload(request: Request) -> JSONResponse:
        body = request_body(request)
        if isinstance(body, str):
            return refuse(ARGUMENT_ERROR, body)
        job_id, given_sign = str(body.get("job_id", "")), body.get("sign")
        if given_sign is not None and given_sign != sign(job_id):
            return refuse(AUTHENTICATION_ERROR, "sign does not match job_id")
        features = body.get("features", list(FEATURES))
        if (
            not isinstance(features, list)
            or not features
            or any(f not in FEATURES for f in features)
        ):
            return refuse(DATA_ERROR, f"features must be a list of some of {', '.join(FEATURES)}")
        job = jobs.new(features)
        try:
            with jobs.ids_path(job).open("wb") as out:
                size = await save_ids(
                    request.headers.get("content-type", ""), request.stream(), out
                )
        except BadUpload as exc:
            jobs.ids_path(job).unlink(missing_ok=True)
            return refuse(DATA_ERROR, str(exc))
        if size == 0:
            jobs.ids_path(job).unlink(missing_ok=True)
            return refuse(DATA_ERROR, "the id file is empty")
        jobs.start(job)
        return reply(data={"jobId": job.id})

    @app.post(SERVICES["query"][1])
    async def query(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return refuse(ARGUMENT_ERROR, "the body must be JSON {jobId}")
        job = jobs.get(str(body.get("jobId"))) if isinstance(body, dict) else None
        if job is None:
            return refuse(DATA_ERROR, "no such job")
        status = job.status
        return reply(message=job.message or "success", status=status, data={"status": status})

    @app.api_route(SERVICES["download"][1], methods=["GET", "POST"], response_model=None)
    async def download(request: Request) -> FileResponse | JSONResponse:
        body = request_body(request)
        if isinstance(body, str):
            return refuse(ARGUMENT_ERROR, body, 400)
        job_id = str(body.get("jobId", ""))
        if body.get("sign") is not None and body["sign"] != sign(job_id):
            return refuse(AUTHENTICATION_ERROR, "sign does not match jobId", 403)
        job = jobs.get(job_id)
        if job is None:
            return refuse(DATA_ERROR, "no such job", 404)
        if job.status != "success":
            return refuse(DATA_ERROR, f"job is {job.status}, not finished", 409)
        return _LargeChunks(jobs.features_path(job), media_type="text/csv", filename="features.csv")

    def decision(name: str, decide: Callable[[Mapping[str, Any], Config], dict[str, Any]]) -> None:
        async def route(request: Request) -> JSONResponse:
            try:
                body = await request.json()
            except ValueError:
                return refuse(ARGUMENT_ERROR, "the body must be a JSON object")
            if not isinstance(body, dict):
                return refuse(ARGUMENT_ERROR, "the body must be a JSON object")
            return JSONResponse(decide(body, config))

        app.post(SERVICES[name][1], name=name)(route)

    decision("client_authentication", decisions.client_authentication)
    decision("signature", decisions.signature)
    decision("site_authentication", decisions.site_authentication)
    decision("permission", decisions.permission)
    return app
