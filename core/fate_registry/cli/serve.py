"""``fate-registry serve``: the registration HTTP API and the hook gateway, under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import EXIT_FAILED, EXIT_INVALID, CliError, local_only, settings_of, state_of

app = typer.Typer()


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Address to listen on (default: FATE_REGISTRY_HOST, 127.0.0.1).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, metavar="N", help="Port (default: FATE_REGISTRY_PORT, 9390)."
        ),
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", metavar="URL", help="Database URL (as the global --db).")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, metavar="N", help="Worker processes, 1 to 64.")
    ] = 1,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Listen beyond loopback although writes or the hook gateway are open to anyone.",
        ),
    ] = False,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="critical, error, warning, info, debug or trace.")
    ] = "info",
) -> None:
    """Serve the registration HTTP API and the hook gateway.

    FATE Flow 1.x routes under /v1, 2.x under /v2, the hook gateway under /v1/hook, and the API's
    pages at /docs and /redoc. Logs one start-up summary, then one line per request.
    """
    from ..http.serve import CannotListen, ServeError, serve_with

    local_only(ctx)
    if db is not None:
        state_of(ctx).db = db
    try:
        serve_with(
            settings_of(ctx),
            host=host,
            port=port,
            workers=workers,
            insecure=insecure,
            log_level=log_level,
        )
    except CannotListen as exc:  # the options are fine; the machine refused
        raise CliError(str(exc), EXIT_FAILED) from None
    except ServeError as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
