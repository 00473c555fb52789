"""The request line and headers bounded on every HTTP stack ``serve`` runs (``max_header_bytes``,
``max_headers``): past a limit, a 431 that names the setting, and the connection closed.

uvicorn bounds neither on its default stack: llhttp hands httptools a header in pieces, which
httptools joins until the header ends, however long, so any client could make the server hold a
20 MiB header (and the process keep the memory). On h11 it bounds a head still incomplete (h11's
``max_incomplete_event_size``, 16 KiB) with a 400, but passes a complete one of any size and any
number of fields. So ``serve`` runs uvicorn's own protocol classes with the counts added where
each parser lets them be made: h11_protocol.py, httptools_protocol.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..settings import Settings
from .errors import error_reply

log = logging.getLogger("fate_registry.http")

STATUS_LINE = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


@dataclass(frozen=True)
class HeaderLimits:
    max_bytes: int
    max_fields: int

    @classmethod
    def of(cls, settings: Settings) -> HeaderLimits:
        return cls(settings.max_header_bytes, settings.max_headers)

    def too_large(self) -> str:
        return (
            f"request line and headers are larger than the limit of {self.max_bytes} bytes "
            "(setting max_header_bytes, FATE_REGISTRY_MAX_HEADER_BYTES); the connection is closed"
        )

    def too_many(self) -> str:
        return (
            f"request has more header fields than the limit of {self.max_fields} (setting "
            "max_headers, FATE_REGISTRY_MAX_HEADERS); the connection is closed"
        )


def head_size(method: bytes, target: bytes, fields: Iterable[tuple[bytes, bytes]]) -> int:
    """Bytes of a request line and header fields as clients write them (``GET /x HTTP/1.1``,
    ``Name: value``, each line ended by CRLF, then a blank line), give or take optional
    whitespace: the size of a head the parser has seen whole."""
    line = len(method) + 1 + len(target) + len(b" HTTP/1.1\r\n")
    return line + sum(len(name) + 2 + len(value) + 2 for name, value in fields) + 2


def refuse(transport: asyncio.Transport, client: tuple[str, int] | None, message: str) -> None:
    """Answer 431 with ``message`` and close the connection (whatever else the client sends is
    not read)."""
    log.warning("%s: 431: %s", f"{client[0]}:{client[1]}" if client else "a client", message)
    # Answered before the request is routed: the envelope of the paths outside /v1.
    reply = error_reply("/", 431, message)
    fields = [*reply.raw_headers, (b"connection", b"close")]
    head = STATUS_LINE + b"".join(name + b": " + value + b"\r\n" for name, value in fields)
    transport.write(head + b"\r\n" + bytes(reply.body))
    transport.close()


def http_stack() -> str:
    """The parser uvicorn's "auto" picks, and ``serve`` with it: httptools when installed."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def bounded_protocol(limits: HeaderLimits) -> Callable[..., asyncio.Protocol]:
    """What uvicorn's ``http`` option takes: the protocol of :func:`http_stack`, bounded. A
    partial of a module's class, so that ``--workers N`` can hand it to its processes."""
    protocol: type[asyncio.Protocol]
    if http_stack() == "httptools":
        from .httptools_protocol import HttpToolsWithLimits

        protocol = HttpToolsWithLimits
    else:
        from .h11_protocol import H11WithLimits

        protocol = H11WithLimits
    return functools.partial(protocol, limits=limits)
