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
) -> None:
    """See the registry and a reference service at work.

    Starts both on free loopback ports, fetches features for a few thousand ids, asks each of
    the four decisions once through the hook gateway, prints each step, then stops both.
    """
    from ..demo import DemoFailed, run

    try:
        run(ids, say=lambda line: typer.echo(line))
    except DemoFailed as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
