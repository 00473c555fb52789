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
    fmt: Annotated[Format, typer.Option("--format", help="Document format.")] = Format.yaml,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout."),
    ] = None,
) -> None:
    """Export every server and service to a file.

    In the form 'import' reads back. Not over --url: the HTTP API masks secret values.
    """
    from .. import transfer

    document = transfer.export_document(open_local_registry(ctx))
    text = transfer.dumps(document, fmt.value)
    if output is None:
        typer.echo(text, nl=False)
        return
    partial = output.with_name(f".{output.name}.partial")
    try:  # written beside, then renamed: a failure never leaves half a file at OUTPUT
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"cannot write {output}: {exc.strerror}") from None
    services = sum(len(server["services"]) for server in document["servers"])
    count = len(document["servers"])
    typer.echo(f"exported {count} server(s) and {services} service(s) to {output}", err=True)
