"""uvicorn's httptools protocol with the request line and headers bounded (see header_limits.py).

httptools tells of a header only once it has ended, having joined its pieces meanwhile, so a
head still incomplete is counted in bytes as they arrive: from where the request began to the
end of each read. A request begins where a read begins, unless it follows another in the same
read (pipelined): where is then unknown, and its count starts with the next read, one read late.
A head seen whole is counted too (fields as they end, bytes at its end), so one that arrives in
a single read is held to the same limits.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .header_limits import HeaderLimits, head_size, refuse


class HeadRefused(Exception):
    """Raised in a parser callback to stop the parser; uvicorn then calls send_400_response."""


class HttpToolsWithLimits(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: HeaderLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.received = 0  # bytes read on this connection
        self.read_start = 0  # where a request that begins in this read begins
        self.head_start: int | None = None  # where the head being read began; None between
        self.fields = 0
        self.refusal: str | None = None

    def data_received(self, data: bytes) -> None:
        self.read_start = self.received
        self.received += len(data)
        super().data_received(data)
        if (
            self.head_start is not None
            and self.received - self.head_start > self.limits.max_bytes
            and not self.transport.is_closing()
        ):
            self.refusal = self.limits.too_large()
            refuse(self.transport, self.client, self.refusal)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_start = self.read_start
        self.fields = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields += 1
        if self.fields > self.limits.max_fields:
            self.stop(self.limits.too_many())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.head_start = None
        if head_size(self.parser.get_method(), self.url, self.headers) > self.limits.max_bytes:
            self.stop(self.limits.too_large())
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.read_start = self.received  # a request pipelined after this one: see the docstring

    def stop(self, refusal: str) -> None:
        self.refusal = refusal
        raise HeadRefused(refusal)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to any parser error, the HeadRefused of a callback among them
        if self.refusal is None:
            super().send_400_response(msg)
        else:
            refuse(self.transport, self.client, self.refusal)
