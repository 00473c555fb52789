"""Keys' and grants' party ids and roles in their canonical form (fate_registry.canonical).

Earlier versions stored a party id as given ("010000", or letters), so "010000" and "10000"
were two parties to the grants plugin. This rewrites every party id that is a decimal integer
without its leading zeros (merging grant entries that become one: a deny wins) and checks the
roles. What has no canonical form (a party id with letters, a role that is no FATE role, two
keys that become one party's) stops the upgrade with the rows named, and nothing is changed.
Components and datasets were stored in their canonical form already.

The rules are written out here, not imported: a migration keeps meaning what it meant.

Revision ID: 0003
Revises: 0002
"""

import re
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from fate_registry.errors import SchemaOutOfDate

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_DIGITS = re.compile(r"[0-9]{1,18}")
_ROLES = ("guest", "host", "arbiter", "local", "*")

keys_t = sa.table("fr_site_key", sa.column("party_id"), sa.column("kind"))
grants_t = sa.table(
    "fr_grant",
    sa.column("party_id"),
    sa.column("kind"),
    sa.column("value"),
    sa.column("role"),
    sa.column("effect"),
    sa.column("created_at"),
)


def _party(value: str) -> str | None:
    if _DIGITS.fullmatch(value):
        return value.lstrip("0") or "0"
    return None


def _why(value: str) -> str:
    if value.isascii() and value.isdigit():
        return "is not a decimal integer of at most 18 digits"
    return "is not a decimal integer"


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def upgrade() -> None:
    conn = op.get_bind()
    problems: list[str] = []
    example: str | None = None

    groups: dict[tuple[str, str, str, str], list[Any]] = defaultdict(list)
    bad_parties: dict[str, int] = defaultdict(int)
    bad_roles: dict[str, int] = defaultdict(int)
    for row in conn.execute(sa.select(grants_t)):
        new = row.party_id if row.party_id == "*" else _party(row.party_id)
        if new is None:
            bad_parties[row.party_id] += 1
        if row.role not in _ROLES:
            bad_roles[row.role] += 1
        if new is not None and row.role in _ROLES:
            groups[new, row.kind, row.value, row.role].append(row)
    for party, count in sorted(bad_parties.items()):
        problems.append(f"fr_grant: party id {party!r} ({_entries(count)}) {_why(party)}")
        example = example or f"DELETE FROM fr_grant WHERE party_id = {party!r}"
    for role, count in sorted(bad_roles.items()):
        problems.append(
            f"fr_grant: role {role!r} ({_entries(count)}) is not guest, host, arbiter, local or '*'"
        )
        example = example or f"DELETE FROM fr_grant WHERE role = {role!r}"

    key_moves: list[tuple[str, str, str]] = []  # (old party, kind, new party)
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)
    for party, kind in conn.execute(sa.select(keys_t.c.party_id, keys_t.c.kind)):
        new = _party(party)
        if new is None:
            problems.append(f"fr_site_key: party id {party!r} ({kind} key) {_why(party)}")
            example = example or f"DELETE FROM fr_site_key WHERE party_id = {party!r}"
            continue
        owners[new, kind].append(party)
        if new != party:
            key_moves.append((party, kind, new))
    for (new, kind), parties in sorted(owners.items()):
        if len(parties) > 1:
            named = " and ".join(repr(p) for p in sorted(parties))
            problems.append(
                f"fr_site_key: party ids {named} are both party {new}, and each has a {kind} key"
            )

    if problems:
        raise SchemaOutOfDate(
            "cannot upgrade the registry database to 0003: "
            + "; ".join(problems)
            + f"; nothing was changed: delete or correct these rows ({example}, say), then "
            "run `fate-registry db upgrade` again"
        )

    for old, kind, new in key_moves:
        conn.execute(
            sa.update(keys_t)
            .where(keys_t.c.party_id == old, keys_t.c.kind == kind)
            .values(party_id=new)
        )
    for (party, kind, value, role), rows in groups.items():
        if all(row.party_id == party for row in rows):
            continue  # stored in its canonical form already, and alone
        for row in rows:
            conn.execute(
                sa.delete(grants_t).where(
                    grants_t.c.party_id == row.party_id,
                    grants_t.c.kind == kind,
                    grants_t.c.value == value,
                    grants_t.c.role == role,
                )
            )
        conn.execute(
            sa.insert(grants_t).values(
                party_id=party,
                kind=kind,
                value=value,
                role=role,
                effect="deny" if any(row.effect == "deny" for row in rows) else "allow",
                created_at=min(row.created_at for row in rows),
            )
        )


def downgrade() -> None:
    pass  # the canonical form is a form 0002 accepts: nothing to undo
