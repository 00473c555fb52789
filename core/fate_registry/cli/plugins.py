"""``fate-registry plugins`` and ``fate-registry call``: the plugin framework's commands."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import (
    EXIT_INVALID,
    CliError,
    JsonFlag,
    local_only,
    open_local_registry,
    open_registry,
    settings_of,
    state_of,
)
from .output import Output, OutputOption, chosen, print_data, print_rows

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
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List plugins and the chain of each capability.

    For each plugin: name, distribution, version, status, and its hooks (or why it is broken).
    FATE_REGISTRY_LOAD_PLUGINS and FATE_REGISTRY_DISABLE_PLUGINS choose what loads. Plain output
    is the plugin lines, a blank line, then one line per capability: its name and its chain.
    """
    from ..capabilities import CAPABILITIES
    from ..dispatch import Dispatcher
    from ..plugins import plugin_manager

    local_only(ctx)
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
    fmt = chosen(output, as_json)
    if print_data(fmt, {"plugins": listing, "chains": chains}):
        return
    plugin_rows = [
        [
            info["name"],
            info["distribution"] or "-",
            info["version"] or "-",
            info["status"],
            (info["error"] if info["status"] == "broken" else ", ".join(info["hooks"])) or "-",
        ]
        for info in listing
    ]
    headers = ("plugin", "distribution", "version", "status", "hooks")
    print_rows(fmt, headers, plugin_rows, None, title="Plugins")
    if fmt is Output.plain:
        typer.echo("")
    chain_rows = [
        [capability, ", ".join(names) or "(empty: the default answers)"]
        for capability, names in chains.items()
    ]
    print_rows(fmt, ("capability", "chain (in order)"), chain_rows, None, title="Chains")


@app.command("call")
def call(
    ctx: typer.Context,
    capability: Annotated[CapabilityName, typer.Argument(help="The capability to run.")],
    json_file: Annotated[
        str, typer.Option("--json-file", metavar="FILE", help="The request as JSON; '-' for stdin.")
    ],
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a capability's chain on a request.

    Prints the answer, which plugin gave it and the time taken. Exit code 0 when a decision
    allows (or an ApiReader call succeeds), 1 when it denies. With --url, a decision goes
    through the server's hook gateway (/v1/hook/CAPABILITY).
    """
    from ..capabilities import DECISIONS

    request = _read_request(json_file)
    fmt = chosen(output, as_json)
    if state_of(ctx).url is not None:  # the HTTP API offers the decisions only
        if capability.value not in DECISIONS:
            raise CliError(
                f"{capability.value} is not offered by the hook gateway: run 'call' without --url",
                EXIT_INVALID,
            )
        _call_remote(open_registry(ctx), capability.value, request, json_file, fmt)
        return
    from ..dispatch import InvalidRequest

    dispatcher = open_local_registry(ctx).hooks
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
    if print_data(fmt, answer):
        pass
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


def _call_remote(client: Any, capability: str, request: Any, json_file: str, fmt: Output) -> None:
    """A decision through the hook gateway: the verdict, FATE's code and message, the time. A
    token the gateway refuses raises (exit 2, as every remote command); so does a request it
    cannot read, worded as ``call`` words it on the database."""
    from ..client import RemoteError

    started = time.perf_counter()
    try:
        reply = client.hook(capability, request)
    except RemoteError as exc:
        if exc.status != 400:
            raise
        message = f"{json_file}: invalid {capability} request: {exc}"
        raise CliError(message, EXIT_INVALID) from None
    elapsed = time.perf_counter() - started
    answer: dict[str, Any] = {
        "capability": capability,
        "allowed": reply.get("code") == 0,
        "code": reply.get("code"),
        "message": reply.get("msg", ""),
        "server": client.shown_url,
        "elapsed": elapsed,
    }
    if reply.get("signature"):
        answer["signature"] = reply["signature"]
    if not print_data(fmt, answer):
        verdict = "allow" if answer["allowed"] else "deny"
        typer.echo(f"{verdict}: code {answer['code']}, {answer['message']}")
        if answer.get("signature"):
            typer.echo(f"signature: {answer['signature']}")
        typer.echo(f"server: {client.shown_url}; {elapsed * 1000:.1f} ms")
    if not answer["allowed"]:
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
