"""What the http plugin sends of a service's stored headers, seen by a real service on loopback:
never a framing or hop-by-hop header (a row stored before registration refused them), and never
over a header the plugin sets itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callback_service import serve
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from http_support import http_dispatcher
from sqlalchemy import create_engine, update

from fate_registry import Registry
from fate_registry.context import HOP_HEADER
from fate_registry.dispatch import Dispatcher
from fate_registry.settings import HooksSettings
from fate_registry.store.tables import ServiceRow

# Headers a row written before the fix may hold: each would be sent beside the client's own.
OLD_HEADERS = {
    "Content-Length": "3",
    "Transfer-Encoding": "chunked",
    "Host": "elsewhere.example",
    "Connection": "close",
    "Keep-Alive": "timeout=1",
    "Proxy-Connection": "close",
    "TE": "trailers",
    "Trailer": "X-Sum",
    "Upgrade": "h2c",
    "Proxy-Authenticate": "Basic",
    "Proxy-Authorization": "Basic eDp5",
    # the plugin's own: its value is sent, never the stored one
    "content-type": "text/plain",
    HOP_HEADER.lower(): "",
    "Webhook-Signature": "v1,forged",
    "webhook-id": "forged",
    "webhook-timestamp": "1",
    # an ordinary header: sent as stored
    "X-Api-Key": "kept",
}
NOT_SENT = {
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
}
PERMISSION = {
    "src_role": "guest",
    "src_party_id": "9999",
    "role": "host",
    "party_id": "10000",
    "initiator": {"role": "guest", "party_id": 9999},
    "roles": {"guest": [9999], "host": [10000]},
    "component_list": ["reader_0"],
    "dataset_list": [],
    "run_time_conf": {},
    "dsl": {},
    "component_parameters": {},
}


def recording_app() -> FastAPI:
    """Answers each ApiReader step and a decision; keeps every header line as it arrived."""
    app = FastAPI()
    app.state.seen = []

    @app.post("/{step}")
    async def anything(step: str, request: Request) -> Response:
        body = await request.body()
        lines = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        app.state.seen.append((step, lines, body))
        if step == "upload":
            return JSONResponse({"code": 0, "data": {"jobId": "j1"}})
        if step == "query":
            return JSONResponse({"code": 0, "data": {"status": "success"}})
        if step == "download":
            return PlainTextResponse("id,x0\n1,0.5\n", media_type="text/csv")
        return JSONResponse({"code": 0, "msg": "ok"})

    return app


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[FastAPI, str, int]]:
    app = recording_app()
    with serve(app) as (host, port):
        yield app, host, port


@pytest.fixture
def hooks(sqlite_url: str, service: tuple[FastAPI, str, int]) -> Iterator[Dispatcher]:
    """A registry whose services' rows hold OLD_HEADERS, written in the table directly as a
    registry from before the fix could have; the http plugin alone, signing on."""
    _, host, port = service
    with Registry(sqlite_url, cache_ttl=0) as registry:
        registry.register_server("HOOK", host, port)
        for name in ("upload", "query", "download", "permission"):
            registry.register_service("HOOK", name, f"/{name}")
        engine = create_engine(sqlite_url)
        with engine.begin() as connection:
            connection.execute(update(ServiceRow).values(headers=OLD_HEADERS))
        engine.dispose()
        settings = HooksSettings(signing_secrets={"HOOK": "s3cret"}, permission={"cache": False})
        yield http_dispatcher(registry, settings)


def _check(step: str, lines: list[tuple[str, str]], body: bytes, port: int) -> dict[str, str]:
    """The request's headers, after checking none came from the stored framing headers."""
    names = [name.lower() for name, _ in lines]
    assert len(names) == len(set(names)), f"{step}: a header sent twice: {names}"
    headers = dict(zip(names, (value for _, value in lines), strict=True))
    assert not NOT_SENT & set(headers), step
    assert headers["host"] == f"127.0.0.1:{port}", step
    if step != "download":  # a download asks for Connection: close itself
        assert headers.get("connection") != "close", step
    if "content-length" in headers:
        assert headers["content-length"] == str(len(body)), step
    assert headers["x-api-key"] == "kept", step
    assert headers["webhook-signature"] != "v1,forged", step
    assert headers["webhook-id"] != "forged" and headers["webhook-timestamp"] != "1", step
    assert headers.get("content-type") != "text/plain", step
    return headers


def test_a_decision_sends_no_stored_framing_header_nor_one_over_its_own(
    hooks: Dispatcher, service: tuple[FastAPI, str, int]
) -> None:
    app, _, port = service
    for _ in range(2):  # the second call reuses the pooled connection
        outcome = hooks.permission(PERMISSION)
        assert outcome.allowed, outcome.error
        step, lines, body = app.state.seen[-1]
        headers = _check(step, lines, body, port)
        assert "transfer-encoding" not in headers
        assert headers["content-type"] == "application/json"
        assert headers[HOP_HEADER.lower()] == outcome.decision_id


def test_apireader_steps_send_no_stored_framing_header_nor_one_over_their_own(
    hooks: Dispatcher, service: tuple[FastAPI, str, int], tmp_path: Path
) -> None:
    app, _, port = service
    del app.state.seen[:]
    request: dict[str, Any] = {"ids": ["1"], "id_column": "id", "parameters": {}, "job_id": "j"}
    assert hooks.upload(request, server_name="HOOK").job_id == "j1"
    assert hooks.query({"job_id": "j1"}, server_name="HOOK").status == "success"
    destination = tmp_path / "features.csv"
    hooks.download({"job_id": "j1", "destination": destination}, server_name="HOOK")
    assert destination.read_text() == "id,x0\n1,0.5\n"
    assert [step for step, _, _ in app.state.seen] == ["upload", "query", "download"]
    for step, lines, body in app.state.seen:
        headers = _check(step, lines, body, port)
        assert headers[HOP_HEADER.lower()] != ""
