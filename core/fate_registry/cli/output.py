"""How commands print: JSON for scripts, rich tables for people."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.table import Table


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_table(table: Table) -> None:
    from rich.console import Console

    Console().print(table)


def new_table(*headers: str, **options: Any) -> Table:
    """A rich table (rich imported only by commands that print one)."""
    from rich.table import Table

    return Table(*headers, **options)


def fields_table(title: str, rows: Mapping[str, Any]) -> Table:
    """One record as a two-column table: field name, value."""
    table = new_table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows.items():
        table.add_row(key, cell(value))
    return table


def cell(value: Any) -> str:
    """A value as table text: strings as they are, None as '-', anything else as JSON."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def flatten(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested mappings as dotted names: {"a": {"b": 1}} gives ("a.b", 1)."""
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
