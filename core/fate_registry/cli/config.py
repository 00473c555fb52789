"""``fate-registry config show``: the effective settings, secrets masked, and where they came
from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from .common import MASK, JsonFlag, masked_url, settings_of, state_of
from .output import OutputOption, chosen, flatten, print_rows

config_app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)


@config_app.command("show")
def config_show(ctx: typer.Context, output: OutputOption = None, as_json: JsonFlag = False) -> None:
    """Show the effective settings, secrets masked.

    Also names the settings file read (config_file) and why that one (config_source): --config,
    $FATE_REGISTRY_CONFIG, or the first found of ./fate-registry.toml, the user's config folder
    and /etc/fate-registry/config.toml.
    """
    settings = settings_of(ctx)
    state = state_of(ctx)
    path, why = state.config_found or (None, "")
    shown: dict[str, Any] = {"config_file": str(path) if path else None, "config_source": why}
    if state.url is not None:
        from ..client import shown_url

        shown.update(url=shown_url(state.url), token=MASK if state.token else None)
    shown.update(
        {name: _masked(name, getattr(settings, name)) for name in type(settings).model_fields}
    )
    rows = list(flatten(shown))
    print_rows(chosen(output, as_json), ("setting", "value"), rows, shown)


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
