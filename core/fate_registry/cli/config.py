"""``fate-registry config show``: the effective settings, secrets masked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from .common import MASK, JsonFlag, masked_url, settings_of
from .output import cell, flatten, new_table, print_json, print_table

config_app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the effective settings, secrets masked."""
    settings = settings_of(ctx)
    shown = {name: _masked(name, getattr(settings, name)) for name in type(settings).model_fields}
    if as_json:
        print_json(shown)
        return
    table = new_table("setting", "value")
    table.columns[0].overflow = table.columns[1].overflow = "fold"
    for name, value in flatten(shown):
        table.add_row(name, cell(value))
    print_table(table)


def _masked(name: str, value: Any) -> Any:
    """A setting as JSON data, secrets masked (a URL shows all but its password)."""
    from pydantic import BaseModel, SecretStr

    if isinstance(value, SecretStr):
        return masked_url(value.get_secret_value()) if name.endswith("_url") else MASK
    if isinstance(value, BaseModel):
        return {key: _masked(key, getattr(value, key)) for key in type(value).model_fields}
    if isinstance(value, Mapping):
        return {key: _masked(name, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(name, item) for item in value]
    return value
