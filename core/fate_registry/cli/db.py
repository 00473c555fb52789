"""``fate-registry db ...``: create the registry's tables, upgrade them, show their revision."""

from __future__ import annotations

import typer

from .common import JsonFlag, open_engine
from .output import print_json

db_app = typer.Typer(help="Create and upgrade the registry database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Create the registry's tables, or upgrade them to this version's schema."""
    from .. import schema

    engine = open_engine(ctx)
    before = schema.current(engine)
    schema.upgrade(engine)
    after = schema.current(engine)
    if as_json:
        print_json({"from": before, "to": after})
    elif before == after:
        typer.echo(f"database already at revision {after} (latest)")
    else:
        typer.echo(f"database upgraded from revision {before or 'none'} to {after}")


@db_app.command("current")
def db_current(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the database's schema revision and the one this version needs."""
    from .. import schema

    current, head = schema.current(open_engine(ctx)), schema.head()
    if as_json:
        print_json({"current": current, "head": head})
    elif current == head:
        typer.echo(f"{current} (latest)")
    else:
        typer.echo(
            f"{current or 'none'} (this version needs {head}: run 'fate-registry db upgrade')"
        )
