"""An upload's body, streamed to a file: the multipart field ``file`` FATE Flow sends.

The published contract's example sends that multipart body labelled
``application/octet-stream``; its boundary is then read from the body's first line. A body
that is not multipart at all is taken as the id file itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header


class BadUpload(ValueError):
    """The body is not an id file in any form this service reads."""


async def save_ids(content_type: str, chunks: AsyncIterator[bytes], out: BinaryIO) -> int:
    """Write the id file carried by ``chunks`` to ``out``; the number of bytes written."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary") if kind == b"multipart/form-data" else None
    first = b""
    if boundary is None:  # read enough to tell a multipart body by its first line
        async for chunk in chunks:
            first += chunk
            if b"\n" in first or len(first) > 256:
                break
        line = first.split(b"\n", 1)[0].rstrip(b"\r")
        if line.startswith(b"--") and 2 < len(line) <= 72:
            boundary = line[2:]
    if boundary is None:  # the id file itself
        out.write(first)
        written = len(first)
        async for chunk in chunks:
            out.write(chunk)
            written += len(chunk)
        return written
    return await _save_part(boundary, first, chunks, out)


class _FileField:
    """python-multipart callbacks that write the data of the field named ``file`` to ``out``."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.written = 0
        self.found = False
        self._name = self._value = self._disposition = b""
        self._in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        if self._name.lower() == b"content-disposition":
            self._disposition = self._value
        self._name = self._value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        self._in_file = params.get(b"name") == b"file"
        self.found = self.found or self._in_file
        self._disposition = b""

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.out.write(data[start:end])
            self.written += end - start


async def _save_part(
    boundary: bytes, first: bytes, chunks: AsyncIterator[bytes], out: BinaryIO
) -> int:
    field = _FileField(out)
    names = ("on_header_field", "on_header_value", "on_header_end", "on_headers_finished")
    callbacks = {name: getattr(field, name) for name in (*names, "on_part_data")}
    parser = MultipartParser(boundary, callbacks)
    try:
        if first:
            parser.write(first)
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except Exception as exc:  # python-multipart's errors say where the body went wrong
        raise BadUpload(f"the multipart body is malformed: {exc}") from None
    if not field.found:
        raise BadUpload("the multipart body has no field named 'file'")
    return field.written
