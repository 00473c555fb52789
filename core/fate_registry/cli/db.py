"""``fate-registry db ...``: create the registry's tables, upgrade them, show their revision."""

from __future__ import annotations

import typer

from .common import JsonFlag, open_engine
from .output import OutputOption, chosen, print_result

db_app = typer.Typer(help="Create and upgrade the registry database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, output: OutputOption = None, as_json: JsonFlag = False) -> None:
    """Create or upgrade the registry's tables.

    Brings the database to this version's schema; processes doing the same at once wait for
    each other.
    """
    from .. import schema

    engine = open_engine(ctx)
    before = schema.current(engine)
    schema.upgrade(engine)
    after = schema.current(engine)
    if before == after:
        message = f"database already at revision {after} (latest)"
    else:
        message = f"database upgraded from revision {before or 'none'} to {after}"
    print_result(chosen(output, as_json), message, {"from": before, "to": after})


@db_app.command("current")
def db_current(ctx: typer.Context, output: OutputOption = None, as_json: JsonFlag = False) -> None:
    """Show the database's schema revision.

    And the revision this version of fate-registry needs.
    """
    from .. import schema

    current, head = schema.current(open_engine(ctx)), schema.head()
    if current == head:
        message = f"{current} (latest)"
    else:
        message = f"{current or 'none'} (this version needs {head}: run 'fate-registry db upgrade')"
    print_result(chosen(output, as_json), message, {"current": current, "head": head})
