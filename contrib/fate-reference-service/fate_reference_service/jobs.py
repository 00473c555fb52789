"""Feature jobs: the uploaded ids on disk, features written in a background thread.

A job's files live in the data directory: ``<job>.ids`` (the upload, as sent), then
``<job>.csv`` (renamed into place when complete). Memory does not grow with the number of ids.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .features import feature_row

log = logging.getLogger("fate_reference_service.jobs")
BATCH = 4096  # rows written at once


@dataclass
class Job:
    id: str
    features: tuple[str, ...]
    status: str = "running"  # running, success or failed
    message: str = ""
    rows: int = 0


class Jobs:
    """Every job of this process, by id."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def new(self, features: Sequence[str]) -> Job:
        job = Job(uuid.uuid4().hex, tuple(features))
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def ids_path(self, job: Job) -> Path:
        return self.data_dir / f"{job.id}.ids"

    def features_path(self, job: Job) -> Path:
        return self.data_dir / f"{job.id}.csv"

    def start(self, job: Job) -> None:
        """Compute the job's features in a background thread."""
        threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}", daemon=True).start()

    def _run(self, job: Job) -> None:
        target = self.features_path(job)
        partial = target.with_suffix(".part")
        try:
            with self.ids_path(job).open(encoding="utf-8") as ids, partial.open("w") as out:
                id_column = ids.readline().rstrip("\r\n")
                if not id_column:
                    raise ValueError("the id file has no header line (the id column's name)")
                out.write(",".join([id_column, *job.features]) + "\n")
                batch: list[str] = []
                for line in ids:
                    identifier = line.rstrip("\r\n")
                    if not identifier:
                        continue
                    batch.append(feature_row(identifier, job.features))
                    if len(batch) >= BATCH:
                        out.write("".join(batch))
                        job.rows += len(batch)
                        batch.clear()
                out.write("".join(batch))
                job.rows += len(batch)
            os.replace(partial, target)
            job.status = "success"
            log.info("job %s: %d rows", job.id, job.rows)
        except (OSError, ValueError) as exc:
            partial.unlink(missing_ok=True)
            job.status, job.message = "failed", str(exc)
            log.warning("job %s failed: %s", job.id, exc)
        finally:
            self.ids_path(job).unlink(missing_ok=True)
