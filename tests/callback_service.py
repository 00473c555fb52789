"""A real callback service for the plugin tests, served by uvicorn on loopback in a thread."""

from __future__ import annotations

import asyncio
import functools
import gzip
import io
import socket
import threading
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

# The slow routes take far longer than any deadline the tests set (tests check a call returns
# near its deadline, with slack for a loaded machine, and well under these); they hold nothing
# when the test ends, since ``serve`` stops the server without waiting for them.
SLEEP_SECONDS = 10.0  # /sleep answers after this
TRICKLE_REPLY = b'{"code": 0, "msg": "' + b"x" * 40 + b'"}'
TRICKLE_PAUSE = 0.3
TRICKLE_SECONDS = len(TRICKLE_REPLY) * TRICKLE_PAUSE  # /trickle sends its last byte after this
BOMB_BYTES = 16 << 20  # what /download-gzip-bomb decodes to (about 34 KiB on the wire)
WIDE_ROW = b"1," + b"0" * 1022 + b"\n"  # a row of 1 KiB: the bomb passes a byte limit first


def feature_rows(count: int = 1000) -> bytes:
    """/download's features: a header and ``count`` rows."""
    return b"id,x0,x1\n" + b"".join(f"{i},{i * 0.5},{i % 7}\n".encode() for i in range(count))


@functools.cache
def gzip_bomb() -> bytes:
    """A real gzip body of BOMB_BYTES of text features, about 1/500 of that in size."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    block = WIDE_ROW * 1024
    parts = [packer.compress(b"id,x0\n")]
    parts += [packer.compress(block) for _ in range(BOMB_BYTES // len(block))]
    return b"".join([*parts, packer.flush()])


def zipped_features() -> bytes:
    """A zip archive holding a feature file: binary, whatever it holds."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("features.csv", feature_rows(100))
    return buffer.getvalue()


NOT_TEXT = {  # /download-body/<kind>: bodies that are not text features
    "zip": zipped_features,
    "nul": lambda: b"id,x0\n1,0.5\n2,\x00\x00\n",
    "latin1": lambda: "id,city\n1,Bogot\u00e1\n".encode("latin-1"),  # not UTF-8
    "cut": lambda: "id,city\n1,S\u00e3".encode()[:-1],  # ends inside a character
}


def callback_app() -> FastAPI:
    app = FastAPI()
    app.state.calls = Counter()
    app.state.seen = []
    app.state.redirect_to = "http://127.0.0.1:9/nowhere"  # where /redirect/<status> points

    async def record(request: Request) -> dict[str, Any]:
        body = await request.body()
        seen = {
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.url.query,  # as sent, percent-encoded
            "headers": dict(request.headers),
            "params": dict(request.query_params),
            "body": body,
            "client_port": request.client.port if request.client else None,
        }
        app.state.seen.append(seen)
        app.state.calls[request.url.path] += 1
        return seen

    @app.post("/allow")
    async def allow(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 0, "msg": "welcome"}

    @app.post("/allow-message")
    async def allow_message(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 0, "message": "welcome"}

    @app.post("/deny")
    async def deny(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 109, "msg": "who are you"}

    @app.post("/deny-message")
    async def deny_message(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 108, "message": "not this component"}

    @app.post("/forbidden")
    async def forbidden(request: Request) -> JSONResponse:
        await record(request)
        return JSONResponse({"code": 109, "msg": "forbidden"}, status_code=403)

    @app.post("/sign")
    async def sign(request: Request) -> dict[str, Any]:
        body = await request.json()
        await record(request)
        return {"code": 0, "site_signature": f"sig-{body['party_id']}"}

    @app.post("/sign-data")
    async def sign_data(request: Request) -> dict[str, Any]:
        body = await request.json()
        await record(request)
        return {"code": 0, "data": f"sig-{body['party_id']}"}

    @app.post("/sleep")
    async def sleep(request: Request) -> dict[str, Any]:
        await record(request)
        await asyncio.sleep(SLEEP_SECONDS)
        return {"code": 0, "msg": "late"}

    @app.post("/flaky/{key}")
    async def flaky(key: str, request: Request) -> JSONResponse:
        await record(request)
        if app.state.calls[request.url.path] == 1:
            return JSONResponse({"code": 503, "msg": "busy"}, status_code=503)
        return JSONResponse({"code": 0, "msg": "second time lucky"})

    @app.post("/fail-first/{status}/{key}")
    async def fail_first(status: int, key: str, request: Request) -> JSONResponse:
        """HTTP ``status`` to the first call, then an allow with a job id (so upload takes it
        too). A call is recorded, without its body, before the body is read: a retry whose
        body never comes (a stream already sent) is counted as well."""
        app.state.seen.append({"path": request.url.path, "headers": dict(request.headers)})
        app.state.calls[request.url.path] += 1
        if app.state.calls[request.url.path] == 1:
            return JSONResponse({"code": status, "msg": "not now"}, status_code=status)
        return JSONResponse({"code": 0, "msg": "second time lucky", "data": {"jobId": key}})

    @app.post("/always-503")
    async def always_503(request: Request) -> JSONResponse:
        await record(request)
        return JSONResponse({"error": "busy"}, status_code=503)

    @app.post("/garbage")
    async def garbage(request: Request) -> PlainTextResponse:
        await record(request)
        return PlainTextResponse("<html>oops</html>")

    @app.post("/wrong-types")
    async def wrong_types(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": "zero", "msg": "fine"}

    @app.post("/not-an-object")
    async def not_an_object(request: Request) -> list[int]:
        await record(request)
        return [0]

    @app.post("/sign-missing")
    async def sign_missing(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 0, "msg": "signed, honest"}

    @app.post("/trickle")
    async def trickle(request: Request) -> Response:
        """A JSON reply sent one byte every 0.3 s: each read gets data, none times out."""
        await record(request)
        reply = TRICKLE_REPLY
        headers = {"content-length": str(len(reply))} if "length" in request.query_params else {}

        async def slowly() -> Any:
            for i in range(len(reply)):
                yield reply[i : i + 1]
                await asyncio.sleep(TRICKLE_PAUSE)

        return StreamingResponse(slowly(), media_type="application/json", headers=headers)

    @app.post("/oversized")
    async def oversized(request: Request) -> Response:
        """A 2 MiB JSON reply: with a Content-Length, or streamed without one."""
        await record(request)
        reply = b'{"code": 0, "msg": "' + b"x" * (2 << 20) + b'"}'
        if "length" in request.query_params:
            return Response(reply, media_type="application/json")

        async def chunks() -> Any:
            for i in range(0, len(reply), 1 << 16):
                yield reply[i : i + (1 << 16)]

        return StreamingResponse(chunks(), media_type="application/json")

    @app.api_route("/redirect/{status}", methods=["GET", "POST"])
    async def redirect(status: int, request: Request) -> Response:
        await record(request)
        return Response(status_code=status, headers={"location": app.state.redirect_to})

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 0, "msg": "echo"}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 0, "message": "ok", "data": {"jobId": "job-42"}}

    @app.post("/upload-refused")
    async def upload_refused(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 102, "message": "bad ids"}

    @app.post("/query-data")
    async def query_data(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 0, "message": "ok", "data": {"status": "success"}}

    @app.post("/query-top")
    async def query_top(request: Request) -> dict[str, Any]:
        await record(request)
        return {"code": 0, "message": "ok", "status": "running"}

    @app.post("/download")
    async def download(request: Request) -> Response:
        await record(request)

        async def rows() -> Any:
            yield b"id,x0,x1\n"
            for i in range(1000):
                yield f"{i},{i * 0.5},{i % 7}\n".encode()

        return StreamingResponse(rows(), media_type="text/csv")

    @app.post("/download-gzip")
    async def download_gzip(request: Request) -> Response:
        """/download's features gzip-encoded, with the Content-Length of the encoded body."""
        await record(request)
        headers = {"content-encoding": "gzip"}
        return Response(gzip.compress(feature_rows()), media_type="text/csv", headers=headers)

    @app.post("/download-gzip-bomb")
    async def download_gzip_bomb(request: Request) -> Response:
        await record(request)
        headers = {"content-encoding": "gzip"}
        return Response(gzip_bomb(), media_type="text/csv", headers=headers)

    @app.post("/download-flood")
    async def download_flood(request: Request) -> Response:
        """A header, then 64 KiB of rows at a time for ever, as fast as they are taken."""
        await record(request)

        async def rows() -> Any:
            yield b"id,x0\n"
            block = WIDE_ROW * 64
            while True:
                yield block
                await asyncio.sleep(0)  # let the server see the client go, and serve others

        return StreamingResponse(rows(), media_type="text/csv")

    @app.post("/download-stalled")
    async def download_stalled(request: Request) -> Response:
        """A header, then nothing for longer than any test waits."""
        await record(request)

        async def rows() -> Any:
            yield b"id,x0\n"
            await asyncio.sleep(3600)

        return StreamingResponse(rows(), media_type="text/csv")

    @app.post("/download-split-utf8")
    async def download_split_utf8(request: Request) -> Response:
        """Text features whose two-byte characters arrive split across reads."""
        await record(request)

        async def pieces() -> Any:
            text = "id,city\n1,S\u00e3o Paulo\n2,Bogot\u00e1\n".encode()
            for cut in (text[: text.index(b"\xc3") + 1], text[text.index(b"\xc3") + 1 :]):
                yield cut
                await asyncio.sleep(0.05)

        return StreamingResponse(pieces(), media_type="text/csv")

    @app.post("/download-body/{kind}")
    async def download_body(kind: str, request: Request) -> Response:
        await record(request)
        return Response(NOT_TEXT[kind](), media_type="application/octet-stream")

    @app.post("/upload-numeric/{where}")
    async def upload_numeric(where: str, request: Request) -> dict[str, Any]:
        """The job id as a number, under ``data`` or at the top level."""
        await record(request)
        return {"code": 0, "data": {"jobId": 42}} if where == "data" else {"code": 0, "jobId": 42}

    @app.post("/query-word/{where}/{word}")
    async def query_word(where: str, word: str, request: Request) -> dict[str, Any]:
        """The status ``word`` as given, under ``data`` or at the top level."""
        await record(request)
        if where == "data":
            return {"code": 0, "data": {"status": word}}
        return {"code": 0, "status": word}

    @app.post("/query-busy")
    async def query_busy(request: Request) -> JSONResponse:
        await record(request)
        return JSONResponse(
            {"code": 503, "msg": "busy"}, status_code=503, headers={"Retry-After": "7"}
        )

    @app.post("/query-later")
    async def query_later(request: Request) -> JSONResponse:
        await record(request)
        body = {"code": 0, "data": {"status": "running"}}
        return JSONResponse(body, headers={"Retry-After": "3"})

    @app.post("/download-cut")
    async def download_cut(request: Request) -> Response:
        """Says 100,000 bytes, sends 10,000 and drops the connection."""
        await record(request)

        async def rows() -> Any:
            yield b"id,x0\n" + b"1,0.5\n" * 1666
            await asyncio.sleep(0.05)
            raise ConnectionResetError("cut")

        headers = {"content-length": "100000"}
        return StreamingResponse(rows(), media_type="text/csv", headers=headers)

    @app.post("/download-refused")
    async def download_refused(request: Request) -> JSONResponse:
        await record(request)
        return JSONResponse({"code": 102, "msg": "job is running, not finished"}, status_code=409)

    @app.post("/download-endless")
    async def download_endless(request: Request) -> Response:
        """A header, then a row every 50 ms for ever."""
        await record(request)

        async def rows() -> Any:
            yield b"id,x0\n"
            while True:
                yield b"1,0.5\n"
                await asyncio.sleep(0.05)

        return StreamingResponse(rows(), media_type="text/csv")

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_raw(reply: bytes) -> Iterator[tuple[str, int]]:
    """A loopback server that answers every request with the bytes of ``reply`` as they are
    (status line, headers and body; uvicorn would refuse to send a body that does not match its
    Content-Length), in one write, then closes the connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer(connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                data = connection.recv(65536)
                if not data:
                    return
                request += data
            connection.sendall(reply)

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the block has ended
                return
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield "127.0.0.1", int(listener.getsockname()[1])
    finally:
        listener.close()


@contextmanager
def serve(app: Any, **options: Any) -> Iterator[tuple[str, int]]:
    """Serve ``app`` on a free loopback port until the block ends; never waits for slow calls.
    ``options`` go to ``uvicorn.Config`` (e.g. the ``ssl_*`` ones)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=0,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("callback service did not start")
        time.sleep(0.01)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=5)
