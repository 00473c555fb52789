"""The ids of an ApiReader upload, read once, as FATE's id file or as strings.

FATE's id file is the id column's name on the first line, then one id per line. ``Ids`` makes
it from a file or from any iterable of strings, a chunk at a time, so no copy of the ids is
ever made and memory does not grow with their number.
"""

from __future__ import annotations

import csv
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import RegistryError

CHUNK = 1 << 20  # bytes per chunk of the id file
MAX_BATCH = 1 << 16  # ids taken from the source at once


class InvalidIds(RegistryError, ValueError):
    """The ids or their file cannot make an id file; the message says which and why."""


class Ids:
    """The ids of one upload, from ``source``: a path, or an iterable of strings (consumed once).

    A path names a CSV file with a header line. When its only column is ``id_column`` it is
    sent as it is (its length is known: ``length``); when it has several columns, the
    ``id_column`` one is picked out. Every byte handed out is counted in ``sent`` and reported
    to ``progress(sent)``. ``chunks()`` and ``__iter__`` may be used once, in any one thread.
    """

    def __init__(
        self,
        source: str | Path | Iterable[str],
        id_column: str = "id",
        progress: Callable[[int], None] | None = None,
    ) -> None:
        if not id_column or any(c in id_column for c in "\r\n,"):
            raise InvalidIds(
                f"id_column {id_column!r} must be a non-empty name without , or newlines"
            )
        self.id_column = id_column
        self.progress = progress
        self.sent = 0
        self.path: Path | None = None
        self.length: int | None = None  # bytes of the id file, when known before sending
        self._column = 0  # the id column's index when a CSV file's columns are picked
        self._iterable: Iterable[str] | None = None
        self._used = False
        self._lock = threading.Lock()
        if isinstance(source, str | Path):
            self._open_file(Path(source))
        elif isinstance(source, bytes):
            raise InvalidIds("ids must be a path or an iterable of strings, not bytes")
        else:
            self._iterable = source

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else type(self._iterable).__name__
        return f"Ids({where!r}, id_column={self.id_column!r})"

    def _open_file(self, path: Path) -> None:
        try:
            with path.open("rb") as file:
                header = file.readline()
                size = path.stat().st_size
        except OSError as exc:
            raise InvalidIds(f"ids file {str(path)!r}: {exc.strerror or exc}") from None
        try:
            names = next(csv.reader([header.decode("utf-8-sig").rstrip("\r\n")]), [])
        except UnicodeDecodeError:
            raise InvalidIds(f"ids file {str(path)!r}: its header is not UTF-8 text") from None
        if self.id_column not in names:
            raise InvalidIds(
                f"ids file {str(path)!r}: no column {self.id_column!r} in its header "
                f"{header[:80].decode('utf-8', 'replace').strip()!r} (the first line names the "
                "columns; give the id column's name)"
            )
        self.path = path
        if names == [self.id_column] and not header.startswith(b"\xef\xbb\xbf"):
            self.length = size  # already an id file: sent as it is
        else:
            self._column = names.index(self.id_column)

    # -- reading, once ---------------------------------------------------------------------

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The id file's bytes, about ``size`` at a time (the header first)."""
        self._claim()
        if self.path is not None and self.length is not None:
            with self.path.open("rb") as file:
                while chunk := file.read(size):
                    self._count(len(chunk))
                    yield chunk
            return
        header = f"{self.id_column}\n".encode()
        self._count(len(header))
        yield header
        pending: list[bytes] = []
        held = 0
        for _, data in self._batches(size // 4):
            pending.append(data)
            held += len(data)
            if held >= size:
                yield self._counted(b"".join(pending))
                pending, held = [], 0
        if pending:
            yield self._counted(b"".join(pending))

    def __iter__(self) -> Iterator[str]:
        """The ids as strings (for plugins that serve features themselves)."""
        self._claim()
        if self.path is not None and self.length is not None:
            with self.path.open("rb") as file:
                self._count(len(file.readline()))
                for line in file:
                    self._count(len(line))
                    if text := line.decode().rstrip("\r\n"):
                        yield text
            return
        self._count(len(self.id_column) + 1)  # the header line, as chunks() counts it
        for batch, data in self._batches(CHUNK // 4):
            self._counted(data)
            yield from batch

    # -- helpers ---------------------------------------------------------------------------

    def _claim(self) -> None:
        with self._lock:
            if self._used:
                raise InvalidIds(f"{self!r} was already read: ids are read once")
            self._used = True

    def _batches(self, target: int) -> Iterator[tuple[list[str], bytes]]:
        """The ids in lists of about ``target`` bytes, checked, with their lines. A list's
        length follows the ids' size, so a slow source yields its first ids soon and a fast
        one is handled thousands of ids per Python step."""
        items = iter(self._iterable) if self._iterable is not None else self._picked()
        count = 16
        while batch := list(itertools.islice(items, count)):
            if not all(map(isinstance, batch, itertools.repeat(str))):
                bad = next(item for item in batch if not isinstance(item, str))
                raise InvalidIds(f"ids must be strings, got a {type(bad).__name__}: {bad!r:.40}")
            data = _lines(batch)
            yield batch, data
            count = max(1, min(MAX_BATCH, count * target // len(data)))

    def _picked(self) -> Iterator[str]:
        """The id column of a CSV file with several columns."""
        assert self.path is not None
        with self.path.open(encoding="utf-8-sig", newline="") as file:
            rows = csv.reader(file)
            next(rows, None)  # the header
            for line, row in enumerate(rows, start=2):
                if not row:
                    continue
                if len(row) <= self._column:
                    raise InvalidIds(f"ids file {str(self.path)!r}, line {line}: no id column")
                yield row[self._column]

    def _counted(self, data: bytes) -> bytes:
        self._count(len(data))
        return data

    def _count(self, size: int) -> None:
        self.sent += size
        if self.progress is not None:
            self.progress(self.sent)


def _lines(batch: list[str]) -> bytes:
    """``batch`` one per line, checked at C speed: an empty id or one with a line break shows
    in the joined text."""
    text = "\n".join(batch)
    if (
        text.count("\n") != len(batch) - 1
        or "\r" in text
        or "\n\n" in text
        or text.startswith("\n")
        or text.endswith("\n")
        or not text
    ):
        _refuse(batch)
    return text.encode() + b"\n"


def _refuse(batch: list[str]) -> None:
    for item in batch:
        if not item:
            raise InvalidIds("an id is empty")
        if "\n" in item or "\r" in item:
            raise InvalidIds(f"id {item!r:.60} has a line break: ids are one per line")
    raise AssertionError("no bad id in the batch")  # pragma: no cover
