"""``fate-registry plugins`` and ``fate-registry call``: the plugin framework's commands."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import EXIT_INVALID, CliError, JsonFlag, open_registry, settings_of
from .output import new_table, print_json, print_table

app = typer.Typer()


class CapabilityName(StrEnum):
    """capabilities.CAPABILITIES, spelt out so that help does not import the models (a test
    checks they agree)."""

    client_authentication = "client_authentication"
    signature = "signature"
    site_authentication = "site_authentication"
    permission = "permission"
    upload = "upload"
    query = "query"
    download = "download"


@app.command("plugins")
def plugins(
    ctx: typer.Context,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list plugins disabled or not selected.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List plugins (name, distribution, version, hooks, load errors) and the chain of each
    capability. FATE_REGISTRY_LOAD_PLUGINS / _DISABLE_PLUGINS choose what loads."""
    from ..capabilities import CAPABILITIES
    from ..dispatch import Dispatcher
    from ..plugins import plugin_manager

    manager = plugin_manager()
    dispatcher = Dispatcher(settings=settings_of(ctx).hooks, plugins=manager)
    listing = [info.as_dict() for info in manager.listing(all=show_all)]
    chains = {
        capability: [
            name if impl is not None else f"{name} (not loaded)"
            for name, impl in dispatcher.chain(capability)
        ]
        for capability in CAPABILITIES
    }
    if as_json:
        print_json({"plugins": listing, "chains": chains})
        return
    table = new_table(
        "plugin",
        "distribution",
        "version",
        "status",
        "hooks",
        title="Plugins",
        title_justify="left",
    )
    for info in listing:
        detail = info["error"] if info["status"] == "broken" else ", ".join(info["hooks"])
        table.add_row(
            info["name"],
            info["distribution"] or "-",
            info["version"] or "-",
            info["status"],
            detail or "-",
        )
    print_table(table)
    chain_table = new_table("capability", "chain (in order)", title="Chains", title_justify="left")
    for capability, names in chains.items():
        chain_table.add_row(capability, ", ".join(names) or "(empty: the default answers)")
    print_table(chain_table)


@app.command("call")
def call(
    ctx: typer.Context,
    capability: Annotated[CapabilityName, typer.Argument(help="The capability to run.")],
    json_file: Annotated[
        str, typer.Option("--json-file", metavar="FILE", help="The request as JSON; '-' for stdin.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Run a capability's chain on a request and print the answer, who gave it and the time.

    Exit code 0 when a decision allows (or an ApiReader call succeeds), 1 when it denies.
    """
    from ..capabilities import DECISIONS
    from ..dispatch import InvalidRequest

    request = _read_request(json_file)
    dispatcher = open_registry(ctx).hooks
    started = time.perf_counter()
    try:
        if capability.value in DECISIONS:
            outcome = dispatcher.decide(capability.value, request)
            answer: dict[str, Any] = outcome.as_dict()
        else:
            result, plugin = dispatcher.api_reader(capability.value, request)
            answer = result.model_dump(mode="json")
            answer.update(plugin=plugin, elapsed=time.perf_counter() - started)
    except InvalidRequest as exc:
        raise CliError(f"{json_file}: {exc}", EXIT_INVALID) from None
    allowed = answer.get("allowed", True)
    if as_json:
        print_json(answer)
    elif capability.value in DECISIONS:
        verdict = "allow" if allowed else "deny"
        typer.echo(f"{verdict}: code {answer['code']}, {answer['message']}")
        if answer.get("signature"):
            typer.echo(f"signature: {answer['signature']}")
        if answer["error"]:
            typer.echo(f"error: {answer['error']} (failed_open={answer['failed_open']})")
        typer.echo(
            f"plugin: {answer['plugin'] or '(none: the default answered)'}; "
            f"decision {answer['decision_id']}; {answer['elapsed'] * 1000:.1f} ms"
        )
    else:
        plugin, elapsed = answer.pop("plugin"), answer.pop("elapsed")
        typer.echo(json.dumps(answer, ensure_ascii=False))
        typer.echo(f"plugin: {plugin}; {elapsed * 1000:.1f} ms")
    if not allowed:
        raise typer.Exit(1)


def _read_request(json_file: str) -> Any:
    """The request file as a JSON object; a CliError (exit 2) naming the file otherwise."""
    try:
        text = (
            typer.get_text_stream("stdin").read()
            if json_file == "-"
            else Path(json_file).read_text(encoding="utf-8")
        )
    except OSError as exc:
        raise CliError(f"cannot read {json_file}: {exc.strerror}", EXIT_INVALID) from None
    try:
        request = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{json_file}: not valid JSON: {exc}", EXIT_INVALID) from None
    if not isinstance(request, dict):
        raise CliError(f"{json_file}: the request must be a JSON object", EXIT_INVALID)
    return request
