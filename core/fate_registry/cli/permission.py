"""``fate-registry permission ...``: the grants the ``grants`` plugin decides with (FATE Flow's
``flow privilege``, plus deny entries, role conditions and limits: a time window and a number
of jobs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import EXIT_INVALID, CliError, JsonFlag, open_registry, state_of
from .output import OutputOption, chosen, print_result, print_rows

if TYPE_CHECKING:
    from ..grants import Grant

permission_app = typer.Typer(
    help="Grants of the grants plugin (permission): grant, revoke, list.", no_args_is_help=True
)

GRANT_COLUMNS = ("party", "kind", "value", "role", "effect", "created", "limits")

Party = Annotated[
    str,
    typer.Option(
        "--party",
        metavar="PARTY",
        help="Source party id, e.g. 10000; '*' for every party.",
        show_default=False,
    ),
]
Components = Annotated[
    list[str] | None,
    typer.Option(
        "--component",
        metavar="NAME",
        help="Component module, lower-cased as FATE Flow sends it (reader, dataio), or '*'; "
        "repeat it or give a comma list.",
    ),
]
Datasets = Annotated[
    list[str] | None,
    typer.Option(
        "--dataset",
        metavar="NAMESPACE:NAME",
        help="Dataset as namespace:name, namespace:* or '*'; repeat it for more.",
    ),
]


def grant_row(entry: Grant) -> list[Any]:
    created = f"{entry.created_at:%F %T}" if entry.created_at else None
    return [
        entry.party_id,
        entry.kind,
        entry.value,
        entry.role,
        entry.effect,
        created,
        limits_of(entry),
    ]


def limits_of(entry: Grant) -> str | None:
    """An entry's limits in a few words (UTC): ``from ... until ...; 2 of 3 jobs``."""
    parts = []
    if entry.not_before is not None:
        parts.append(f"from {entry.not_before:%F %T}")
    if entry.expires_at is not None:
        parts.append(f"until {entry.expires_at:%F %T}")
    window = " ".join(parts)
    if entry.max_uses is None:
        return window or None
    jobs = f"{entry.uses} of {entry.max_uses} jobs"
    return f"{window}; {jobs}" if window else jobs


def _checked(
    party: str, components: list[str] | None, datasets: list[str] | None, role: str | None
) -> tuple[str, list[str], list[str], str | None]:
    """The options validated, each error naming its option."""
    from ..canonical import component_of, dataset_of, party_of, role_of

    names = [name for given in components or [] for name in given.split(",")]
    return (
        party_of(party, "--party", wildcard=True),
        [component_of(name, "--component") for name in names],
        [dataset_of(value, "--dataset") for value in datasets or []],
        None if role is None else role_of(role, "--role", wildcard=True),
    )


def _named(kind: str, values: list[str]) -> str:
    return f"{kind}{'s' if len(values) > 1 else ''} {', '.join(values)}"


def _whom(party: str) -> str:
    return "every party" if party == "*" else f"party {party}"


@permission_app.command("grant")
def permission_grant(
    ctx: typer.Context,
    party: Party,
    component: Components = None,
    dataset: Datasets = None,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="Only when the party acts in this role (guest, host, arbiter).",
        ),
    ] = None,
    deny: Annotated[
        bool,
        typer.Option(
            "--deny", help="A deny entry: refused even where a wildcard allows (not over --url)."
        ),
    ] = False,
    expires_at: Annotated[
        str | None,
        typer.Option(
            "--expires-at",
            metavar="TIME",
            help="Not in force from this time on: ISO 8601 (2027-01-31T18:00Z; UTC without an "
            "offset).",
        ),
    ] = None,
    valid_for: Annotated[
        str | None,
        typer.Option(
            "--for",
            metavar="DURATION",
            help="In force this long (30d, 12h, 1d12h) from --not-before or now; instead of "
            "--expires-at.",
        ),
    ] = None,
    not_before: Annotated[
        str | None,
        typer.Option("--not-before", metavar="TIME", help="In force from this time on."),
    ] = None,
    max_uses: Annotated[
        int | None,
        typer.Option(
            "--max-uses",
            metavar="N",
            help="Admits N jobs at most, each counted once by its job id (a request without "
            "one, as FATE Flow 1.x sends, counts each time).",
        ),
    ] = None,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Allow components and datasets to a source party, or --deny them.

    A deny entry refuses even where a wildcard allows. At least one --component or
    --dataset. An entry that exists gets the new effect and limits; the jobs it admitted stay
    counted (revoke it to count anew).
    """
    from ..errors import InvalidRegistration

    pid, components, datasets, selected_role = _checked(party, component, dataset, role)
    if not (components or datasets):
        raise CliError("give --component or --dataset (or both) to grant", EXIT_INVALID)
    if deny and state_of(ctx).url is not None:
        raise CliError(
            "--deny: deny entries cannot be granted over the HTTP API (FATE's route has no such "
            "field): run it without --url on a host that reaches the database",
            EXIT_INVALID,
        )
    try:
        entries = open_registry(ctx).grants.grant(
            pid,
            components=components,
            datasets=datasets,
            role=selected_role,
            deny=deny,
            expires_at=expires_at,
            not_before=not_before,
            max_uses=max_uses,
            valid_for=valid_for,
        )
    except InvalidRegistration as exc:
        named = [(LIMIT_OPTIONS.get(field, field), reason) for field, reason in exc.problems]
        raise CliError("; ".join(f"{f}: {r}" for f, r in named), EXIT_INVALID) from None
    what = [
        _named(kind, values)
        for kind in ("component", "dataset")
        if (values := [e.value for e in entries if e.kind == kind])
    ]
    in_role = f" in role {selected_role}" if selected_role not in (None, "*") else ""
    limits = limits_of(entries[0])
    print_result(
        chosen(output, as_json),
        f"{'denied' if deny else 'granted'} {' and '.join(what)} to {_whom(pid)}{in_role}"
        + (f" ({limits})" if limits else ""),
        [entry.as_dict() for entry in entries],
    )


# The Python API's names of a grant's limits, as the options name them in messages.
LIMIT_OPTIONS = {
    "expires_at": "--expires-at",
    "valid_for": "--for",
    "not_before": "--not-before",
    "max_uses": "--max-uses",
}


@permission_app.command("revoke")
def permission_revoke(
    ctx: typer.Context,
    party: Party,
    component: Components = None,
    dataset: Datasets = None,
    role: Annotated[
        str | None,
        typer.Option("--role", metavar="ROLE", help="Only the entries of this role condition."),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Every entry of the party (in --role if given).")
    ] = False,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a party's entries, allow and deny alike.

    In every role unless --role. '*' as --component or --dataset deletes every entry of that
    kind. Revoking what is not there is not an error: it says nothing was revoked.
    """
    pid, components, datasets, selected_role = _checked(party, component, dataset, role)
    if not (components or datasets or everything):
        raise CliError("give --component, --dataset or --all to revoke", EXIT_INVALID)
    deleted = open_registry(ctx).grants.revoke(
        pid,
        components=components,
        datasets=datasets,
        role=selected_role,
        everything=everything,
    )
    message = (
        f"revoked {deleted} entr{'y' if deleted == 1 else 'ies'} of {_whom(pid)}"
        if deleted
        else f"nothing to revoke: no entry of {_whom(pid)} matched"
    )
    print_result(chosen(output, as_json), message, {"party_id": pid, "deleted": deleted})


@permission_app.command("list")
def permission_list(
    ctx: typer.Context,
    party: Annotated[
        str | None,
        typer.Option(
            "--party",
            metavar="PARTY",
            help="Only this party's entries ('*': those for every party); required over --url.",
        ),
    ] = None,
    output: OutputOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List the grant entries, with their limits.

    Columns: party, kind, value, role, effect, created, limits.

    Plain output (the default in a pipe) is one line per entry, tab-separated, in that order.
    Entries of party '*' apply to every party beside its own.
    """
    from ..canonical import party_of

    pid = None if party is None else party_of(party, "--party", wildcard=True)
    if pid is None and state_of(ctx).url is not None:
        raise CliError(
            "--party: required over --url (the HTTP API lists one party's grants at a time)",
            EXIT_INVALID,
        )
    entries = open_registry(ctx).grants.entries(pid)
    print_rows(
        chosen(output, as_json),
        GRANT_COLUMNS,
        [grant_row(entry) for entry in entries],
        [entry.as_dict() for entry in entries],
    )
