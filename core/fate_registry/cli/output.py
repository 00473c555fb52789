"""How commands print: a table for people, tab-separated plain text for pipes, JSON or YAML for
scripts (``--output``/``-o``; ``--json`` is ``-o json``). No value is ever cut: table cells
wrap, plain and JSON carry them whole.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.table import Table


class Output(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    plain = "plain"


OutputOption = Annotated[
    Output | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FORMAT",
        case_sensitive=False,
        help="table, json, yaml or plain (tab-separated); default: table on a terminal, "
        "plain otherwise.",
    ),
]


def chosen(output: Output | None, as_json: bool = False) -> Output:
    """The format asked for: ``--json``, else ``--output``, else by where stdout goes."""
    if as_json:
        return Output.json
    if output is not None:
        return output
    return Output.table if sys.stdout.isatty() else Output.plain


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_yaml(data: Any) -> None:
    import yaml

    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def print_data(fmt: Output, data: Any) -> bool:
    """Print ``data`` as JSON or YAML when that is the format; False for table and plain."""
    if fmt is Output.json:
        print_json(data)
    elif fmt is Output.yaml:
        print_yaml(data)
    else:
        return False
    return True


def print_result(fmt: Output, message: str, data: Any) -> None:
    """What a command did: ``message`` for people (table, plain), ``data`` for scripts."""
    if not print_data(fmt, data):
        typer.echo(message)


def print_rows(
    fmt: Output,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    data: Any,
    title: str | None = None,
) -> None:
    """A list: a table (one column per header), tab-separated lines without a header (plain),
    or ``data`` (JSON, YAML)."""
    if print_data(fmt, data):
        return
    if fmt is Output.plain:
        for row in rows:
            typer.echo("\t".join(plain_cell(value) for value in row))
        return
    table = new_table(*headers, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(cell(value) for value in row))
    print_table(table)


def print_fields(fmt: Output, title: str, fields: Mapping[str, Any], data: Any) -> None:
    """One record: a two-column table of its fields, ``name<TAB>value`` lines, or ``data``."""
    if print_data(fmt, data):
        return
    if fmt is Output.plain:
        for key, value in fields.items():
            typer.echo(f"{key}\t{plain_cell(value)}")
        return
    table = new_table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in fields.items():
        table.add_row(key, cell(value))
    print_table(table)


def print_table(table: Table) -> None:
    from rich.console import Console

    Console().print(table)


def new_table(*headers: str, **options: Any) -> Table:
    """A rich table whose columns wrap long values instead of cutting them."""
    from rich.table import Table

    table = Table(*headers, **options)
    for column in table.columns:
        column.overflow = "fold"
    return table


def cell(value: Any) -> str:
    """A value as table text: strings as they are, None as '-', anything else as JSON."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def plain_cell(value: Any) -> str:
    """A value as one field of a tab-separated line: tabs and line breaks escaped."""
    text = cell(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def flatten(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested mappings as dotted names: {"a": {"b": 1}} gives ("a.b", 1)."""
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def is_pattern(text: str) -> bool:
    return any(char in text for char in "*?[")


def matches(name: str, pattern: str | None) -> bool:
    """Whether ``name`` matches a shell-style ``pattern`` (``*``, ``?``, ``[...]``), ignoring
    case as server and service names do; None matches everything."""
    return pattern is None or fnmatchcase(name.lower(), pattern.lower())
