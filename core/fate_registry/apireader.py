"""ApiReader's whole exchange: upload the ids, poll the job with backoff, download the features.

FATE Flow sleeps a fixed 60 s between polls for up to 12 hours and ignores a failed upload; here
the first poll comes after ``first_poll`` seconds, the pause doubles (with jitter) up to
``max_poll``, and every failure is an exception naming the job.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .capabilities import DownloadAnswer
from .dispatch import Dispatcher, HookFailed


def fetch_features(
    hooks: Dispatcher,
    ids_path: Path,
    destination: Path,
    *,
    job_id: str,
    parameters: dict[str, Any] | None = None,
    first_poll: float = 1.0,
    max_poll: float = 60.0,
    max_wait: float = 12 * 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadAnswer:
    """Upload ``ids_path``, wait for the feature job, download it to ``destination``.

    Raises HookFailed when a step fails, the job fails, or it is still running after
    ``max_wait`` seconds.
    """
    upload = hooks.upload({"ids_path": ids_path, "parameters": parameters or {}, "job_id": job_id})
    started = time.monotonic()
    pause = first_poll
    while True:
        sleep(min(pause, max(0.0, max_wait - (time.monotonic() - started))))
        status = hooks.query({"job_id": upload.job_id})
        if status.status == "success":
            break
        if status.status == "failed":
            raise HookFailed(f"feature job {upload.job_id!r} failed: status {status.raw_status!r}")
        if time.monotonic() - started >= max_wait:
            raise HookFailed(f"feature job {upload.job_id!r} still running after {max_wait:.0f} s")
        pause = min(max_poll, pause * 2) * random.uniform(0.8, 1.2)
    return hooks.download({"job_id": upload.job_id, "destination": destination})
