"""FATE Flow 2.x's HTTP API on loopback, as far as the hooks go: each request is handed to the
2.x stand-in's request handling (``fate_flow.apps.handle``) inside the flask stand-in's request
context, and its ``{code, message}`` answered with HTTP 200, as FATE Flow answers. Start it
inside a ``fate_flow_process`` of FATE Flow 2.x."""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Tuple


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        import flask
        from fate_flow.apps import handle

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        headers = list(self.headers.items())
        with flask.request_context(self.command, path, query, headers, body):
            data = json.dumps(handle()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def fate_flow_http() -> Iterator[Tuple[str, int]]:
    """(host, port) of FATE Flow 2.x's API."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
