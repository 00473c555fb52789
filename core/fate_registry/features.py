"""A download's feature file as it is written: a temporary file beside the destination, checked
as it grows (UTF-8 text, ``hooks.download``'s byte and row limits), renamed into place only
when complete; every ``download`` plugin writes through one, so the limits hold for all."""

from __future__ import annotations

import atexit
import codecs
import os
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from .capabilities import DownloadAnswer, DownloadRequest
from .context import HookContext
from .settings import DownloadSettings


class DownloadFailed(RuntimeError):
    """A download stopped by its feature file: cancelled, late, past a limit, or not text
    features; the message says which. Nothing is kept."""


class FeatureFile:
    """Features written as they arrive; ``commit()`` renames them into place and answers.

    Use it as a context manager: leaving the block without ``commit()`` (an error, a
    cancellation) removes the temporary file. A chunk that would pass ``max_bytes`` or
    ``max_rows`` is refused before it is written, so the disk never holds more than the limit.
    """

    def __init__(self, context: HookContext, request: DownloadRequest) -> None:
        limits = context.settings
        if not isinstance(limits, DownloadSettings):  # a context made by hand: the defaults
            limits = DownloadSettings()
        self.max_bytes = limits.max_bytes
        self.max_rows = limits.max_rows
        self.context = context
        self.request = request
        self.bytes = 0
        self._newlines = 0
        self._last = b"\n"
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._kept = False
        destination = request.destination
        fd, self.temporary = tempfile.mkstemp(
            dir=destination.parent, prefix=f".{destination.name}."
        )
        _PARTS.add(self.temporary)
        self._out = os.fdopen(fd, "wb")

    def __enter__(self) -> FeatureFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()

    @property
    def rows(self) -> int:
        """Rows so far: lines after the header, a last line without its newline included."""
        lines = self._newlines + (self._last != b"\n")
        return max(lines - 1, 0)

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; DownloadFailed when the download is cancelled or late, or when the
        chunk is not UTF-8 text or would pass a limit (then it is not written)."""
        self._check_time()
        if not chunk:
            return
        self._check_text(chunk)
        if self.bytes + len(chunk) > self.max_bytes:
            raise self._over("max_bytes", f"{self.max_bytes:,} bytes")
        newlines = self._newlines + chunk.count(b"\n")
        if newlines - 1 > self.max_rows:  # complete rows after the header
            raise self._over("max_rows", f"{self.max_rows:,} rows")
        self._out.write(chunk)
        self.bytes += len(chunk)
        self._newlines = newlines
        self._last = chunk[-1:]
        if self.request.progress is not None:
            self.request.progress(self.bytes, self.rows)

    def commit(self) -> DownloadAnswer:
        """Rename the complete file into place; DownloadFailed (nothing kept) when it is empty,
        ends inside a UTF-8 character, or the download was cancelled meanwhile."""
        self._check_time()
        held = len(self._utf8.getstate()[0])
        if held:
            offset = self.bytes - held
            raise self._not_text(f"a UTF-8 character cut short at offset {offset:,}, the end")
        if self.bytes == 0:
            raise DownloadFailed("the download is empty: not even a header line")
        if self.rows > self.max_rows:  # its last line, without a newline, was one too many
            raise self._over("max_rows", f"{self.max_rows:,} rows")
        self._out.close()
        destination = self.request.destination
        os.replace(self.temporary, destination)
        self._kept = True
        _PARTS.discard(self.temporary)
        if self.context.cancelled.is_set():  # cancelled as it was renamed: the caller has gone
            destination.unlink(missing_ok=True)
            raise DownloadFailed("download cancelled")
        return DownloadAnswer(path=destination, rows=self.rows, bytes=self.bytes)

    def discard(self) -> None:
        """Remove the temporary file (nothing once committed)."""
        self._out.close()
        if not self._kept:
            Path(self.temporary).unlink(missing_ok=True)
            _PARTS.discard(self.temporary)

    def _check_time(self) -> None:
        if self.context.cancelled.is_set():
            raise DownloadFailed("download cancelled")
        if self.context.remaining() <= 0:
            raise DownloadFailed(f"download not finished at the deadline ({self.bytes} bytes)")

    def _check_text(self, chunk: bytes) -> None:
        """Refuse a NUL byte or bytes that are not UTF-8, as they arrive: a character cut
        between two chunks is completed by the next (the decoder keeps its first bytes)."""
        nul = chunk.find(b"\0")
        if nul >= 0:
            offset = self.bytes + nul
            raise self._not_text(f"a NUL byte at offset {offset:,}, as in a binary file (a zip)")
        held = len(self._utf8.getstate()[0])  # bytes of a character begun in the last chunk
        if chunk.isascii() and not held:
            return  # the common case, checked at C speed without decoding
        try:
            self._utf8.decode(chunk)
        except UnicodeDecodeError as exc:
            offset = self.bytes - held + exc.start
            problem = f"invalid UTF-8 at offset {offset:,}: a binary file, or another encoding"
            raise self._not_text(problem) from None

    def _over(self, setting: str, limit: str) -> DownloadFailed:
        return DownloadFailed(
            f"the features pass the limit hooks.download.{setting} = {limit}: download "
            "stopped, nothing kept"
        )

    @staticmethod
    def _not_text(problem: str) -> DownloadFailed:
        return DownloadFailed(f"the download is not text features (UTF-8 CSV): {problem}")


class _Parts:
    """The temporary files this process is writing, removed when it exits: a worker stuck in
    a read when its caller gave up (Ctrl-C, SIGTERM) cannot remove its own in time."""

    def __init__(self) -> None:
        self._paths: set[str] = set()
        self._lock = threading.Lock()

    def add(self, path: str) -> None:
        with self._lock:
            self._paths.add(path)

    def discard(self, path: str) -> None:
        with self._lock:
            self._paths.discard(path)

    def remove_all(self) -> None:
        with self._lock:
            paths, self._paths = self._paths, set()
        for path in paths:
            Path(path).unlink(missing_ok=True)


_PARTS = _Parts()
atexit.register(_PARTS.remove_all)
