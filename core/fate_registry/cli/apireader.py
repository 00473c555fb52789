"""``fate-registry api-reader fetch``: the features of a file of ids, from a server's ApiReader
services, with progress (rich on a terminal, plain lines otherwise)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    CliError,
    JsonFlag,
    open_local_registry,
)
from .output import print_json

if TYPE_CHECKING:
    from ..apireader import Progress
    from ..registry import Registry

EXIT_CANCELLED = 130  # as a shell reports a process ended by Ctrl-C
EXIT_TERMINATED = 143  # as a shell reports a process ended by SIGTERM

api_reader_app = typer.Typer(
    help="Fetch features from ApiReader services.",
    no_args_is_help=True,
)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt: the fetch stops
    as for Ctrl-C, and its download removes its temporary file."""


@contextmanager
def sigterm_stops_the_fetch() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated: by default it would end the process at
    once, leaving a download's temporary file behind."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parameters(values: list[str]) -> dict[str, str]:
    """``--param key=value`` options as a dict; a CliError naming a malformed one."""
    result = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--param {value!r}: give key=value", EXIT_INVALID)
        result[key.strip()] = text
    return result


class PlainProgress:
    """Progress as plain lines on stderr: each step once, then at most one line a second."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Progress) -> None:
        now = time.monotonic()
        final = event.step == "done" or (event.step == "upload" and event.job_id is not None)
        with self._lock:
            if not final and now - self._last.get(event.step, float("-inf")) < 1.0:
                return
            self._last[event.step] = now
        typer.echo(describe(event), err=True)

    def close(self) -> None:
        pass


def describe(event: Progress) -> str:
    if event.step == "upload":
        done = f", job {event.job_id}" if event.job_id else ""
        return f"upload: {event.bytes:,} bytes sent{done}"
    if event.step == "wait":
        return f"wait: job {event.job_id} {event.status} after {event.elapsed:.0f} s"
    if event.step == "download":
        return f"download: {event.bytes:,} bytes, {event.rows:,} rows"
    return f"done: {event.rows:,} rows, {event.bytes:,} bytes in {event.elapsed:.1f} s"


def _size(count: int, total: int | None = None) -> str:
    text = f"{count / 1e6:,.1f}"
    return f"{text}/{total / 1e6:,.1f} MB" if total else f"{text} MB"


class RichProgress:
    """Progress bars on stderr: upload (bytes), waiting (status, elapsed), download (bytes,
    rows)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bars = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            TextColumn("{task.fields[size]:>16}"),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.bars.start()
        self.tasks: dict[str, Any] = {}

    def _show(self, step: str, **fields: Any) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.bars.add_task(step, total=None, size="", note="")
        self.bars.update(self.tasks[step], **fields)

    def __call__(self, event: Progress) -> None:
        if event.step == "upload":
            note = f"job {event.job_id}" if event.job_id else ""
            total = event.bytes if event.job_id else event.total
            size = _size(event.bytes, event.total if not event.job_id else None)
            self._show("upload", completed=event.bytes, total=total, size=size, note=note)
        elif event.step == "wait":
            self._show("waiting", note=f"job {event.status}")
        elif event.step == "download":
            self._show("download", completed=event.bytes, size=_size(event.bytes),
                       note=f"{event.rows:,} rows")  # fmt: skip
        else:
            if "waiting" in self.tasks:
                self._show("waiting", total=1, completed=1)
            self._show("download", total=event.bytes, completed=event.bytes,
                       size=_size(event.bytes), note=f"{event.rows:,} rows")  # fmt: skip

    def close(self) -> None:
        for task in self.tasks.values():
            self.bars.stop_task(task)  # elapsed times stop where they are
        self.bars.stop()


@api_reader_app.command("fetch")
def fetch(
    ctx: typer.Context,
    server: Annotated[
        str, typer.Option("--server", metavar="NAME", help="Server of the ApiReader services.")
    ],
    ids: Annotated[
        Path,
        typer.Option(
            "--ids", metavar="FILE", help="CSV file of ids; its header names the id column."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Where the features go (CSV).")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", metavar="KEY=VALUE", help="A feature-filter parameter (repeatable)."
        ),
    ] = None,
    id_column: Annotated[
        str, typer.Option("--id-column", help="The id column of the ids file.")
    ] = "id",
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, help="Seconds to wait for the feature job."),
    ] = 12 * 3600.0,
    as_json: JsonFlag = False,
) -> None:
    """Fetch the features of a file of ids.

    Uploads the ids, waits for the feature job, downloads its features to --out. --out is
    written only when complete: after a failure, Ctrl-C or SIGTERM it is as it was.
    """
    from ..apireader import FetchFailed, InvalidFetch
    from ..ids import InvalidIds

    filters = parameters(param or [])
    registry = open_local_registry(ctx)
    reader = registry.api_reader(server)
    view: PlainProgress | RichProgress = RichProgress() if sys.stderr.isatty() else PlainProgress()
    try:
        with sigterm_stops_the_fetch():
            result = reader.fetch(
                ids, out, parameters=filters, id_column=id_column, timeout=timeout, progress=view
            )
    except (InvalidIds, InvalidFetch) as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    except FetchFailed as exc:
        if exc.step == "upload" and reader.server is not None:
            _registered(registry, reader.server, exc)
        raise CliError(str(exc), EXIT_FAILED) from None  # it names its step
    except KeyboardInterrupt:
        raise CliError(f"cancelled: nothing written to {out}", EXIT_CANCELLED) from None
    except Terminated:
        raise CliError(f"terminated: nothing written to {out}", EXIT_TERMINATED) from None
    finally:
        view.close()
    if as_json:
        print_json(
            {
                "job_id": result.job_id,
                "path": str(result.path),
                "rows": result.rows,
                "bytes": result.bytes,
                "ids_bytes": result.ids_bytes,
                "elapsed": result.elapsed,
            }
        )
    else:
        typer.echo(
            f"{result.path}: {result.rows:,} rows, {result.bytes:,} bytes "
            f"(job {result.job_id}, {result.elapsed:.1f} s)"
        )


def _registered(registry: Registry, server: str, failure: Exception) -> None:
    """Nothing when ``server`` is registered; otherwise a CliError (exit 3) saying it is not,
    then the failure (a plugin such as localfeatures may answer for a server not registered)."""
    from ..errors import ServerNotFound

    try:
        registry.server(server)
    except ServerNotFound as exc:
        raise CliError(f"{exc}: {failure}", EXIT_NOT_FOUND) from None
