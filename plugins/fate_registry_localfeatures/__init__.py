"""The ``localfeatures`` plugin: ApiReader served from a local feature table, no service called.

The table is a CSV file (a header, the id in column ``LOCALFEATURES_ID_COLUMN``, default the
first) or a SQLite table (``path.db#table``), named by ``LOCALFEATURES_TABLE``; it answers for
the server ``LOCALFEATURES_SERVER`` (default ``LOCAL``) only, and has no opinion otherwise. A
job is a small SQLite file of the uploaded ids; the download joins it with the table, in upload
order, so memory does not grow with the ids or the table (a CSV table is imported into SQLite
once per change of the file). Ids not in the table get no row. This is the plugin's own data,
not the registry's, so it uses ``sqlite3`` directly rather than the registry's store.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fate_registry import hookimpl
from fate_registry.capabilities import (
    DownloadAnswer,
    DownloadRequest,
    QueryAnswer,
    QueryRequest,
    UploadAnswer,
    UploadRequest,
)
from fate_registry.context import HookContext
from fate_registry.features import FeatureFile

BATCH = 10_000  # ids or rows per statement


class FeatureTableError(RuntimeError):
    """The feature table is missing or unreadable; the message names it."""


@dataclass(frozen=True)
class Table:
    """A feature table: a SQLite database, its table and its id column."""

    database: Path
    name: str
    id_column: str


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class LocalFeatures:
    """The configured table and this process's jobs."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.gettempdir()) / f"fate-registry-localfeatures-{os.getpid()}"
        self._lock = threading.Lock()
        self._imported: tuple[str, float, int, Table] | None = None  # a CSV, its mtime and size

    # The settings are read at each call, so a change of them needs no restart.
    @property
    def server(self) -> str:
        return os.environ.get("LOCALFEATURES_SERVER", "LOCAL").upper()

    @property
    def source(self) -> str:
        return os.environ.get("LOCALFEATURES_TABLE", "")

    @property
    def id_column(self) -> str:
        return os.environ.get("LOCALFEATURES_ID_COLUMN", "")

    def serves(self, context: HookContext) -> bool:
        return bool(self.source) and context.server_name.upper() == self.server

    def table(self) -> Table:
        """The feature table as SQLite: the configured one, or the CSV imported."""
        path, _, name = self.source.partition("#")
        source = Path(path)
        if not source.is_file():
            raise FeatureTableError(f"feature table {path!r} (LOCALFEATURES_TABLE) is not a file")
        if name:
            columns = self._columns(source, name)
            return Table(source, name, self.id_column or columns[0])
        return self._import_csv(source)

    def _columns(self, database: Path, name: str) -> list[str]:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({_quote(name)})")]
        if not columns:
            raise FeatureTableError(f"feature table {database}#{name}: no such table")
        if self.id_column and self.id_column not in columns:
            raise FeatureTableError(
                f"feature table {database}#{name}: no column {self.id_column!r}"
            )
        return columns

    def _import_csv(self, source: Path) -> Table:
        stat = source.stat()
        key = (str(source.absolute()), stat.st_mtime, stat.st_size)
        with self._lock:
            if self._imported and self._imported[:3] == key:
                return self._imported[3]
            self.workdir.mkdir(exist_ok=True)
            target = self.workdir / f"table-{uuid.uuid4().hex}.db"
            with source.open(newline="", encoding="utf-8-sig") as file:
                rows = csv.reader(file)
                header = next(rows, None)
                if not header:
                    raise FeatureTableError(f"feature table {str(source)!r} has no header line")
                id_column = self.id_column or header[0]
                if id_column not in header:
                    raise FeatureTableError(
                        f"feature table {str(source)!r}: no column {id_column!r}"
                    )
                columns = ", ".join(_quote(c) for c in header)
                marks = ", ".join("?" * len(header))
                with sqlite3.connect(target) as db:
                    db.execute(f"CREATE TABLE features ({columns})")
                    while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
                        db.executemany(f"INSERT INTO features VALUES ({marks})", batch)
                    db.execute(f"CREATE INDEX by_id ON features ({_quote(id_column)})")
            table = Table(target, "features", id_column)
            if self._imported is not None:
                self._imported[3].database.unlink(missing_ok=True)
            self._imported = (*key, table)
            return table

    def job_path(self, job_id: str) -> Path:
        return self.workdir / f"job-{uuid.UUID(hex=job_id).hex}.db"


LOCAL = LocalFeatures()


def _check(context: HookContext) -> None:
    if context.cancelled.is_set():
        raise RuntimeError("cancelled")
    if context.remaining() <= 0:
        raise TimeoutError("not finished at the deadline")


@hookimpl
def upload(context: HookContext, request: UploadRequest) -> UploadAnswer | None:
    """Keep the ids in a job file, in the order given."""
    if not LOCAL.serves(context):
        return None
    LOCAL.table()  # a missing table fails the upload, not the download an hour later
    LOCAL.workdir.mkdir(exist_ok=True)
    job_id = uuid.uuid4().hex
    path = LOCAL.job_path(job_id)
    try:
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE ids (position INTEGER PRIMARY KEY, id TEXT)")
            ids = iter(request.ids)
            while batch := [(i,) for _, i in zip(range(BATCH), ids, strict=False)]:
                _check(context)
                db.executemany("INSERT INTO ids (id) VALUES (?)", batch)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return UploadAnswer(job_id=job_id)


@hookimpl
def query(context: HookContext, request: QueryRequest) -> QueryAnswer | None:
    """A job is done as soon as its ids are kept: the features are joined at download."""
    if not LOCAL.serves(context):
        return None
    try:
        done = LOCAL.job_path(request.job_id).is_file()
    except ValueError:
        done = False
    status = "success" if done else "failed"
    return QueryAnswer(status=status, raw_status=status if done else "no such job")


def _rows(table: Table, job: Path) -> Iterator[tuple[str, ...]]:
    with sqlite3.connect(f"file:{job}?mode=ro", uri=True) as db:
        db.execute("ATTACH DATABASE ? AS t", (f"file:{table.database}?mode=ro",))
        names = [row[1] for row in db.execute(f"PRAGMA t.table_info({_quote(table.name)})")]
        features = [n for n in names if n != table.id_column]
        yield (table.id_column, *features)  # the header: the uploaded ids' column comes first
        selected = ", ".join(f"f.{_quote(n)}" for n in features)
        cursor = db.execute(
            f"SELECT ids.id{', ' + selected if selected else ''} FROM ids "
            f"JOIN t.{_quote(table.name)} AS f ON f.{_quote(table.id_column)} = ids.id "
            "ORDER BY ids.position"
        )
        while batch := cursor.fetchmany(BATCH):
            yield from (tuple("" if v is None else str(v) for v in row) for row in batch)


@hookimpl
def download(context: HookContext, request: DownloadRequest) -> DownloadAnswer | None:
    """Write the job's features into a FeatureFile (``hooks.download``'s limits, renamed into
    place when complete), a batch of rows at a time."""
    if not LOCAL.serves(context):
        return None
    job = LOCAL.job_path(request.job_id)
    if not job.is_file():
        raise FeatureTableError(f"no such job {request.job_id!r}")
    rows = _rows(LOCAL.table(), job)
    with FeatureFile(context, request) as features:
        while batch := list(itertools.islice(rows, BATCH)):
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows(batch)
            features.write(text.getvalue().encode())
        answer = features.commit()
    job.unlink(missing_ok=True)
    return answer
