"""``fate-registry status``: the registry's health, servers and services with theirs, the chains
and the decisions of each capability, locally or from a running serve (``--url``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .common import EXIT_FAILED, CliError, JsonFlag, state_of
from .output import (
    Output,
    OutputOption,
    chosen,
    is_pattern,
    matches,
    print_data,
    print_fields,
    print_rows,
)

app = typer.Typer()

STATUS_CHOICES = ("passing", "warning", "critical", "unchecked")


@app.command("status")
def status(
    ctx: typer.Context,
    minutes: Annotated[
        int, typer.Option(min=1, max=60, metavar="N", help="Decisions of the last N minutes.")
    ] = 15,
    server: Annotated[
        str | None,
        typer.Option(
            metavar="NAME", help="Only this server, or those matching a pattern ('fate*')."
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only services with this status: passing, warning, critical or unchecked.",
        ),
    ] = None,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Show health checks, chains and decisions.

    The registry's database and schema, servers and services with their health checks, the
    chain of each capability and its decisions of the last minutes. Decisions are counted by
    the serve that makes them: ask it with --url (locally the command shows the chains, not
    the decisions). Exit 1 when the database cannot be used.
    """
    if only is not None and only not in STATUS_CHOICES:
        raise CliError(f"--status: {only!r} is not one of {', '.join(STATUS_CHOICES)}", 2)
    document = _document(ctx, minutes)
    if server is not None and not is_pattern(server):
        server = server.upper()
    if "servers" in document:
        document["servers"] = [s for s in document["servers"] if matches(s["name"], server)]
        document["services"] = [
            s for s in document["services"]
            if matches(s["server"], server) and (only is None or s["status"] == only)
        ]  # fmt: skip
    fmt = chosen(output, as_json)
    if print_data(fmt, document):
        _exit_if_down(document)
        return
    _print(fmt, document)
    _exit_if_down(document)


def _document(ctx: typer.Context, minutes: int) -> dict[str, Any]:
    state = state_of(ctx)
    if state.url is not None:
        from .common import open_registry

        client = open_registry(ctx)
        return client.status(minutes)  # type: ignore[union-attr]
    from ..status import status_document
    from .common import open_local_registry

    return status_document(open_local_registry(ctx), minutes, counted=False)


def _exit_if_down(document: dict[str, Any]) -> None:
    if not document["registry"]["database_ok"]:
        raise CliError(
            f"the registry database cannot be used: {document['registry'].get('error')}",
            EXIT_FAILED,
        )


def _print(fmt: Output, document: dict[str, Any]) -> None:
    registry = document["registry"]
    schema = registry["schema"]
    fields = {
        "version": registry["version"],
        "database": f"{registry['database']} ({'answers' if registry['database_ok'] else 'DOWN'})",
        "schema": _schema(schema, registry["schema_expected"]),
        "revision": registry["revision"],
    }
    if "checker" in document:
        checker = document["checker"]
        prober = checker["prober"] or "none (no serve checks now)"
        fields["health checks"] = (
            f"every {checker['interval']:g} s, prober {prober}"
            if checker["enabled"]
            else "off (health.enabled = false)"
        )
        for kind in ("servers", "services"):
            found = document["counts"][kind]
            fields[kind] = ", ".join(f"{n} {status}" for status, n in found.items() if n) or "none"
    print_fields(fmt, "registry", fields, None)
    if "servers" not in document:
        return
    _gap(fmt)
    print_rows(
        fmt,
        ("server", "url", "status", "output", "checked"),
        [
            [s["name"], s["url"], s["status"], s["output"], _when(s["checked_at"])]
            for s in document["servers"]
        ],
        None,
        title="servers (TCP checks)",
    )
    _gap(fmt)
    print_rows(
        fmt,
        ("server", "service", "check", "status", "output", "checked"),
        [
            [
                s["server"],
                s["service"],
                s["check"],
                s["status"],
                s["output"],
                _when(s["checked_at"]),
            ]
            for s in document["services"]
        ],
        None,
        title="services",
    )
    _gap(fmt)
    minutes = document["minutes"]
    rows = []
    for cap in document["capabilities"]:
        decisions = cap["decisions"]
        counted = ["-"] * 6
        if decisions is not None:
            counted = [decisions[r] for r in ("allow", "deny", "failed_open", "failed_closed")]
            counted += [_ms(decisions["p50_ms"]), _ms(decisions["p99_ms"])]
        policy = f"{cap['failure_policy']}{', fail fast' if cap['fail_fast'] else ''}"
        rows.append([cap["capability"], ", ".join(cap["chain"]) or "-", policy, *counted])
    title = f"capabilities: decisions of the last {minutes} min" + (
        ""
        if document["capabilities"] and document["capabilities"][0]["decisions"] is not None
        else " (counted by a serve: ask it with --url)"
    )
    print_rows(
        fmt,
        (
            "capability",
            "chain",
            "on failure",
            "allowed",
            "denied",
            "failed open",
            "failed closed",
            "p50",
            "p99",
        ),
        rows,
        None,
        title=title,
    )


def _schema(current: str | None, expected: str) -> str:
    if current is None:
        return "-"
    return f"{current} ({'latest' if current == expected else 'expected ' + expected})"


def _gap(fmt: Output) -> None:
    typer.echo("")


def _when(iso: str | None) -> str | None:
    if iso is None:
        return None
    from datetime import UTC, datetime

    seconds = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    return f"{max(0, seconds):.0f} s ago"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"<= {value:g} ms"
