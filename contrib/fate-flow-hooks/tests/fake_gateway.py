"""A stand-in for fate-registry's hook gateway on loopback (the package cannot import
fate-registry, which needs Python 3.11): it records each request and answers what a test set."""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List


class FakeGateway:
    def __init__(self) -> None:
        self.seen: List[Dict[str, Any]] = []
        self.replies: Dict[str, Any] = {}  # capability -> (status, body bytes or JSON, delay)
        self.url = ""
        self.released = threading.Event()  # ends every delay at once when the test is over

    def answer(self, capability: str, reply: Any, status: int = 200, delay: float = 0) -> None:
        """Answer ``capability`` so, at either line's route (/v1/hook, /v2/hook)."""
        self.replies[capability] = (status, reply, delay)

    def last(self) -> Dict[str, Any]:
        return self.seen[-1]


def _handler(gateway: FakeGateway) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real server does

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            gateway.seen.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "json": json.loads(body) if body else None,
                    "client_port": self.client_address[1],
                }
            )
            capability = self.path.rsplit("/", 1)[-1]
            status, reply, delay = gateway.replies.get(capability, (200, {"code": 0}, 0))
            if delay:
                gateway.released.wait(delay)
            data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def fake_gateway() -> Iterator[FakeGateway]:
    gateway = FakeGateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gateway))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield gateway
    finally:
        gateway.released.set()
        server.shutdown()
        server.server_close()
