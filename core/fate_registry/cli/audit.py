"""``fate-registry audit ...``: the decision audit trail: list, export, verify."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import (
    EXIT_FAILED,
    EXIT_INVALID,
    CliError,
    JsonFlag,
    open_local_registry,
    open_registry,
)
from .output import OutputOption, chosen, print_data, print_rows

if TYPE_CHECKING:
    from ..audit.records import AuditRecord

audit_app = typer.Typer(
    help="The decision audit trail: list, export, verify.", no_args_is_help=True
)

LIST_COLUMNS = ("seq", "at", "capability", "src", "dest", "job", "result", "code", "plugin", "ms")
# The Python API's names of the filters, as the options name them in messages.
OPTION_NAMES = {
    "capability": "--capability",
    "party": "--party",
    "job_id": "--job",
    "result": "--result",
    "since": "--since",
    "until": "--until",
    "before": "--before",
    "limit": "--limit",
}

Capability = Annotated[
    str | None,
    typer.Option(
        metavar="CAPABILITY",
        help="client_authentication, signature, site_authentication or permission.",
    ),
]
Party = Annotated[
    str | None,
    typer.Option(metavar="PARTY", help="A party id: decisions where it is source or destination."),
]
Job = Annotated[str | None, typer.Option("--job", metavar="JOB_ID", help="A job id.")]
Result = Annotated[
    str | None,
    typer.Option(metavar="RESULT", help="allow, deny, failed_open or failed_closed."),
]
Since = Annotated[
    str | None,
    typer.Option(
        metavar="TIME",
        help="From this time: ISO 8601 (2026-01-31T12:00Z; UTC without an offset), or this "
        "long ago (30m, 24h, 7d).",
    ),
]
Until = Annotated[
    str | None, typer.Option(metavar="TIME", help="Before this time, as --since takes it.")
]


@contextmanager
def _options_named() -> Iterator[None]:
    """Bad filters are reported by the option that gave them."""
    from ..errors import InvalidRegistration

    try:
        yield
    except InvalidRegistration as exc:
        problems = [(OPTION_NAMES.get(field, field), reason) for field, reason in exc.problems]
        raise CliError("; ".join(f"{f}: {r}" for f, r in problems), EXIT_INVALID) from None


def _row(record: AuditRecord) -> list[Any]:
    return [
        record.seq,
        record.at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        record.capability,
        record.src_party,
        record.dest_party,
        record.job_id,
        record.result,
        record.code,
        record.plugin,
        f"{record.latency_us / 1000:.1f}",
    ]


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    capability: Capability = None,
    party: Party = None,
    job: Job = None,
    result: Result = None,
    since: Since = None,
    until: Until = None,
    before: Annotated[
        int | None,
        typer.Option(metavar="SEQ", help="Only records before this seq: the next page."),
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="Records at most (1 to 10000).")] = 100,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List decisions of the audit trail, newest first.

    Columns: seq (the place in the hash chain), time (UTC), capability, source and destination
    party, job, result, code, deciding plugin, latency in ms. JSON and YAML carry every field
    (roles, components, datasets, cached, hash). Page on with --before and the last seq shown.
    Over --url it reads the server's GET /audit.
    """
    registry = open_registry(ctx)
    with _options_named():
        records = registry.audit.list(
            capability=capability,
            party=party,
            job_id=job,
            result=result,
            since=since,
            until=until,
            before=before,
            limit=limit,
        )
    print_rows(
        chosen(output, as_json),
        LIST_COLUMNS,
        [_row(record) for record in records],
        [record.as_dict() for record in records],
    )


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@audit_app.command("export")
def audit_export(
    ctx: typer.Context,
    capability: Capability = None,
    party: Party = None,
    job: Job = None,
    result: Result = None,
    since: Since = None,
    until: Until = None,
    output: Annotated[
        ExportFormat,
        typer.Option(
            "--output", "-o", metavar="FORMAT", case_sensitive=False, help="jsonl or csv."
        ),
    ] = ExportFormat.jsonl,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", metavar="FILE", help="Write to FILE instead of stdout."),
    ] = None,
) -> None:
    """Export the matching decisions as JSON lines or CSV, newest first.

    Every field of each record, lists as JSON (in CSV too). With --file the file appears
    complete or not at all. Over --url it pages through the server's GET /audit.
    """
    registry = open_registry(ctx)
    filters: dict[str, Any] = {
        "capability": capability,
        "party": party,
        "job_id": job,
        "result": result,
        "since": since,
        "until": until,
    }
    with _options_named():
        registry.audit.list(**filters, limit=1)  # a bad filter fails before any file is made
        if file is None:
            registry.audit.export(sys.stdout, output.value, **filters)
            return
        partial = file.with_name(f".{file.name}.partial")
        try:  # written beside, then renamed: a failure never leaves half a file at FILE
            with partial.open("w", encoding="utf-8", newline="") as out:
                count = registry.audit.export(out, output.value, **filters)
            os.replace(partial, file)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CliError(f"cannot write {file}: {exc.strerror}") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    typer.echo(f"exported {count} record(s) to {file}", err=True)


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Check the hash chain; report what was changed or deleted.

    Each record changed, deleted or not checkable is reported by its seq.
    Walks the kept chain from its anchor (where pruning left it) to its head. Exit 1 when
    the chain is broken. Needs audit.key when the chain was written with one. Not over --url:
    it reads every record where the database is.
    """
    registry = open_local_registry(ctx, "reads every record and needs audit.key")
    report = registry.audit.verify()
    fmt = chosen(output, as_json)
    if not print_data(fmt, report.as_dict()):
        typer.echo(report.summary())
        for problem in report.problems:
            typer.echo(f"  {problem.message}")
        if report.more:
            typer.echo(f"  ... and {report.more} more")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)
