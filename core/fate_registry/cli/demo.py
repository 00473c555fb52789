"""``fate-registry demo``: the registry and the reference service at work, in one command."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import EXIT_FAILED, CliError

app = typer.Typer()


@app.command("demo")
def demo(
    ids: Annotated[
        int, typer.Option("--ids", min=1, max=1_000_000, help="How many ids to fetch.")
    ] = 5000,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            help="Leave the registry and the service running until Ctrl-C: open the console, "
            "run status, stop the service and watch it turn critical.",
        ),
    ] = False,
) -> None:
    """See the registry and a reference service at work.

    Starts both on free loopback ports, fetches features for a few thousand ids, asks each of
    the four decisions once through the hook gateway, prints each step, then stops both.
    """
    from ..demo import DemoFailed, run

    try:
        run(ids, say=lambda line: typer.echo(line), keep=keep)
    except DemoFailed as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
