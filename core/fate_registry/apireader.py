"""ApiReader's whole exchange: upload the ids, wait for the feature job, download the features.

Each step goes through the dispatcher's ``upload``, ``query`` and ``download`` chains (their
deadlines, metrics and decision ids). FATE Flow sleeps a fixed 60 s between polls for up to
12 hours and ignores a failed upload; here the pause starts at ``first_poll`` seconds and
doubles (with jitter) up to ``max_poll``, a service's ``Retry-After`` is honoured, and every
failure is a :class:`FetchFailed` naming its step. ``dest`` is only ever replaced by a complete
file: after a failure or an interruption it is as it was.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .capabilities import DownloadAnswer, DownloadRequest, QueryAnswer, QueryRequest, UploadRequest
from .dispatch import Dispatcher, HookFailed
from .errors import RegistryError
from .ids import Ids
from .models import server_name as valid_server_name

log = logging.getLogger("fate_registry.apireader")

Step = Literal["upload", "wait", "download", "done"]


class InvalidFetch(RegistryError, ValueError):
    """A fetch's server or destination is unusable; nothing was sent."""


class FetchFailed(HookFailed):
    """A fetch failed at ``step`` (upload, wait or download); the message says why."""

    def __init__(self, step: Step, message: str, job_id: str | None = None) -> None:
        self.step = step
        self.job_id = job_id
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a fetch is, passed to its ``progress`` callback (from any thread).

    ``step`` upload: ``bytes`` of the id file sent so far (``total`` when known); wait: the
    job's ``status`` and ``elapsed`` seconds of waiting; download: ``bytes`` and ``rows``
    written so far (``total`` when the service said); done: the final figures.
    """

    step: Step
    job_id: str | None = None
    bytes: int = 0
    rows: int = 0
    total: int | None = None
    status: str | None = None
    elapsed: float = 0.0
    decision_id: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A finished fetch: the service's job id, the feature file and what it took."""

    job_id: str
    path: Path
    rows: int
    bytes: int
    ids_bytes: int
    elapsed: float


ProgressCallback = Callable[[Progress], None]


def fate_job_id() -> str:
    """A job id shaped like FATE Flow's (20 digits of UTC time), sent as ``job_id``."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")


class ApiReader:
    """Fetches features from the ApiReader services of one server: ``reg.api_reader("THIRD")``.

    ``server`` is where the ``upload``, ``query`` and ``download`` services are registered;
    None uses the capabilities' own ``server_name`` setting, else ``hooks.server_name``.
    """

    def __init__(self, hooks: Dispatcher, server: str | None = None) -> None:
        self.hooks = hooks
        try:
            self.server = None if server is None else valid_server_name(server)
        except ValueError as exc:
            raise InvalidFetch(f"server {server!r}: {exc}") from None

    def fetch(
        self,
        ids: str | Path | Iterable[str],
        dest: str | Path,
        *,
        parameters: Mapping[str, Any] | None = None,
        id_column: str = "id",
        timeout: float = 12 * 3600.0,
        progress: ProgressCallback | None = None,
        job_id: str | None = None,
        first_poll: float = 1.0,
        max_poll: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> FetchResult:
        """Upload ``ids``, wait up to ``timeout`` seconds for the job, download it to ``dest``.

        ``ids``: a path (a CSV file whose header names ``id_column``) or an iterable of strings,
        read once as it is sent. ``parameters``: the feature filter the service expects (sent
        with ``job_id``, FATE's job id, generated when not given). Raises InvalidIds or
        InvalidFetch (nothing sent) for a bad ids file or ``dest``, and FetchFailed naming the
        failed step.
        """
        started = time.monotonic()
        report = progress or (lambda _: None)
        destination = _destination(Path(dest))
        source = Ids(ids, id_column=id_column)

        def on_upload(sent: int) -> None:
            elapsed = time.monotonic() - started
            report(Progress("upload", bytes=sent, total=source.length, elapsed=elapsed))

        source.progress = on_upload
        request = UploadRequest(
            ids=source, parameters=dict(parameters or {}), job_id=job_id or fate_job_id()
        )
        try:
            upload = self.hooks.answer("upload", request, server_name=self.server)
        except HookFailed as exc:
            raise FetchFailed("upload", str(exc)) from None
        job = str(upload.result.job_id)  # type: ignore[attr-defined]
        log.info("%s fetch: job %r uploaded (%d bytes)", upload.decision_id, job, source.sent)
        uploaded = Progress("upload", job, bytes=source.sent, total=source.sent)
        report(
            replace(uploaded, elapsed=time.monotonic() - started, decision_id=upload.decision_id)
        )

        self._wait(job, timeout, first_poll, max_poll, report, sleep)

        def on_download(size: int, rows: int) -> None:
            report(Progress("download", job, bytes=size, rows=rows))

        try:
            got = self.hooks.answer(
                "download",
                DownloadRequest(job_id=job, destination=destination, progress=on_download),
                server_name=self.server,
            )
        except HookFailed as exc:
            raise FetchFailed("download", f"{exc} (job {job!r})", job) from None
        answer: DownloadAnswer = got.result  # type: ignore[assignment]
        elapsed = time.monotonic() - started
        result = FetchResult(job, answer.path, answer.rows, answer.bytes, source.sent, elapsed)
        log.info("%s fetch: job %r downloaded: %s", got.decision_id, job, result)
        done = Progress("done", job, bytes=answer.bytes, rows=answer.rows, elapsed=elapsed)
        report(replace(done, decision_id=got.decision_id))
        return result

    def _wait(
        self,
        job: str,
        timeout: float,
        first_poll: float,
        max_poll: float,
        report: ProgressCallback,
        sleep: Callable[[float], None],
    ) -> None:
        """Poll ``query`` until the job succeeds; FetchFailed when it fails or times out."""
        started = time.monotonic()
        pause = first_poll
        while True:
            waited = time.monotonic() - started
            if waited >= timeout:
                raise FetchFailed(
                    "wait",
                    f"waiting for job {job!r}: still running after {timeout:g} s (timeout)",
                    job,
                )
            sleep(min(pause, timeout - waited))
            try:
                got = self.hooks.answer("query", QueryRequest(job_id=job), server_name=self.server)
            except HookFailed as exc:
                raise FetchFailed("wait", f"waiting for job {job!r}: {exc}", job) from None
            status: QueryAnswer = got.result  # type: ignore[assignment]
            elapsed = time.monotonic() - started
            report(
                Progress(
                    "wait",
                    job,
                    status=status.raw_status,
                    elapsed=elapsed,
                    decision_id=got.decision_id,
                )
            )
            if status.status == "success":
                return
            if status.status == "failed":
                raise FetchFailed(
                    "wait",
                    f"waiting for job {job!r}: the job failed, the service says "
                    f"{status.raw_status!r}",
                    job,
                )
            if status.retry_after is not None:
                pause = status.retry_after  # the service knows best; backoff resumes after
            else:
                pause = min(max_poll, pause * 2) * random.uniform(0.8, 1.2)


def _destination(dest: Path) -> Path:
    """``dest`` made absolute, refused (InvalidFetch) when it cannot be written atomically."""
    dest = dest.absolute()
    if dest.is_dir():
        raise InvalidFetch(f"dest {str(dest)!r} is a directory: give a file name")
    if not dest.parent.is_dir():
        raise InvalidFetch(f"dest {str(dest)!r}: its directory does not exist")
    return dest
