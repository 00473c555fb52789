"""uvicorn's h11 protocol with the request line and headers bounded (see header_limits.py).

h11 keeps what it has not parsed yet in a buffer, and parses a head only once it is whole: an
incomplete head is bounded by h11 itself (``max_incomplete_event_size``, the buffer it may hold
without a complete event), a whole one is counted here, fields and bytes, before uvicorn sees it.
"""

from __future__ import annotations

from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .header_limits import HeaderLimits, head_size, refuse


class LimitedConnection(h11.Connection):
    """h11's server side that refuses a head past ``limits``; ``refusal`` says why."""

    def __init__(self, limits: HeaderLimits) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=limits.max_bytes)
        self.limits = limits
        self.refusal: str | None = None

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        reading_head = self.their_state is h11.IDLE
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            # h11's 431: a head still incomplete past max_incomplete_event_size
            if reading_head and exc.error_status_hint == 431:
                self.refusal = self.limits.too_large()
            raise
        if isinstance(event, h11.Request):
            if len(event.headers) > self.limits.max_fields:
                self.refusal = self.limits.too_many()
            elif head_size(event.method, event.target, event.headers) > self.limits.max_bytes:
                self.refusal = self.limits.too_large()
            if self.refusal is not None:
                raise h11.RemoteProtocolError(self.refusal, error_status_hint=431)
        return event


class H11WithLimits(H11Protocol):
    conn: LimitedConnection

    def __init__(self, *args: Any, limits: HeaderLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = LimitedConnection(limits)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to any RemoteProtocolError, ours among them
        if self.conn.refusal is None:
            super().send_400_response(msg)
        else:
            refuse(self.transport, self.client, self.conn.refusal)
