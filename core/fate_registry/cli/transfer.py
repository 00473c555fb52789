"""``fate-registry import`` and ``fate-registry export``: every registration as one document."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .common import EXIT_INVALID, CliError, JsonFlag, open_local_registry, open_registry, read_text
from .output import OutputOption, chosen, print_result

app = typer.Typer()


class Format(StrEnum):
    yaml = "yaml"
    json = "json"


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="YAML or JSON file; '-' for stdin.")],
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Import servers and services from a file.

    All of them, or none when one entry is wrong. Reads the document 'export' writes, or FATE
    Flow's legacy form {SERVER: {host, port, api: {SERVICE: {uri, method, params, data,
    headers}}}}.
    """
    from .. import transfer
    from ..errors import InvalidRegistration

    text = read_text(file)
    name = None if file == "-" else file
    try:
        document = transfer.loads(text, transfer.guess_format(name, text))
        servers, services = transfer.import_document(open_registry(ctx), document)
    except (transfer.DocumentError, InvalidRegistration) as exc:
        raise CliError(f"{file}: {exc}", EXIT_INVALID) from None
    print_result(
        chosen(output, as_json),
        f"imported {servers} server(s) and {services} service(s) from {file}",
        {"servers": servers, "services": services},
    )


@app.command("export")
def export(
    ctx: typer.Context,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="FORMAT", help="Document format: yaml (default) or json."
        ),
    ] = None,
    as_json: JsonFlag = False,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", metavar="FILE", help="Write to FILE instead of stdout."),
    ] = None,
    fmt: Annotated[
        Format | None, typer.Option("--format", help="The same as -o (kept for scripts).")
    ] = None,
) -> None:
    """Export every server and service, to stdout or a file.

    In the form 'import' reads back. Not over --url: the HTTP API masks secret values.
    """
    from .. import transfer

    chosen_format = _document_format(Format.json if as_json else output, fmt)
    document = transfer.export_document(open_local_registry(ctx))
    text = transfer.dumps(document, chosen_format.value)
    if file is None:
        typer.echo(text, nl=False)
        return
    partial = file.with_name(f".{file.name}.partial")
    try:  # written beside, then renamed: a failure never leaves half a file at FILE
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, file)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"cannot write {file}: {exc.strerror}") from None
    services = sum(len(server["services"]) for server in document["servers"])
    count = len(document["servers"])
    typer.echo(f"exported {count} server(s) and {services} service(s) to {file}", err=True)


def _document_format(output: str | None, fmt: Format | None) -> Format:
    """The format of ``-o`` (or ``--format``), yaml by default. ``-o`` once named the
    file: a value that is no format is refused with the option that names one now."""
    if output is None:
        return fmt or Format.yaml
    if output.lower() not in set(Format):
        formats = ("table", "plain")  # other commands' formats: not a document's
        hint = "" if output.lower() in formats else f"; name the file with --file {output}"
        raise CliError(
            f"export: -o/--output is the format, yaml or json, not {output!r}{hint}", EXIT_INVALID
        )
    chosen = Format(output.lower())
    if fmt is not None and fmt is not chosen:
        raise CliError(f"export: -o {chosen} and --format {fmt} disagree: give one", EXIT_INVALID)
    return chosen
