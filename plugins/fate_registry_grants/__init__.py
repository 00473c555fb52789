"""The ``grants`` plugin: permission from the grants in the registry database.

FATE Flow's model: per source party, the component modules (lower-case, as FATE Flow sends
them: ``reader``, ``heterolr``) and datasets ``{namespace, name}`` it may use here, ``*`` for
all; role ``local``, party id ``0`` and a party asking itself are exempt. Beyond FATE: deny
entries (a deny wins over any allow), a role condition on an entry, grants to every party
(``*``), datasets by namespace (``ns:*``), and a refusal that names what it refused.

Entries and requests are compared in one canonical form (``fate_registry.canonical``): a
request that has no such form (a party id that is not a decimal integer, a word that is no
FATE role) is refused with code 101 before any entry is looked at.

``@nonblocking``: it decides from a per-process snapshot of the grants (``fate_registry.
snapshot``), reloaded in the background when the registry's revision changes, so a decision
does no I/O (only the first one of a process, or the first after a write of its own, loads).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from fate_registry import hookimpl, nonblocking
from fate_registry.canonical import ANY, Asked, Dataset, asked, stored_dataset
from fate_registry.capabilities import (
    ARGUMENT_ERROR,
    PERMISSION_ERROR,
    Decision,
    PermissionRequest,
)
from fate_registry.context import HookContext
from fate_registry.errors import InvalidRegistration
from fate_registry.grants import Grant
from fate_registry.logsafe import printable


def _applies(entry: Grant, src_role: str | None, *, deny: bool) -> bool:
    """An entry with a role condition applies in that role. When the role is unknown (FATE
    Flow 1.11 sends none) a conditional deny still applies and a conditional allow does not."""
    if entry.role == ANY:
        return True
    if src_role is None:
        return deny
    return entry.role == src_role


def _matches(entry: Grant, value: str | Dataset, *, loose: bool = False) -> bool:
    """Whether ``entry`` covers a component name, or a dataset as its (namespace, name)
    pair: ``ns:*`` covers the namespace ``ns`` exactly, never one that only begins with it.
    ``loose`` (a deny) compares datasets as FATE's table metadata in MySQL finds them, whatever
    their case and accents: a deny then covers every spelling that reaches its table, while an
    allow covers its own spelling only."""
    if entry.value == ANY:
        return True
    if entry.kind == "component":
        return entry.value == value
    namespace, name = stored_dataset(entry.value)
    if loose:
        return _folded(namespace) == _folded(value[0]) and (
            name == ANY or _folded(name) == _folded(value[1])
        )
    return namespace == value[0] and name in (ANY, value[1])


def _folded(text: str) -> str:
    """``text`` without case or accents, as MySQL's ``_ci`` collations compare it."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _refused(
    entries: list[Grant], kind: str, values: Iterable[str | Dataset], src_role: str | None
) -> tuple[list[str], list[str]]:
    """(values denied by a deny entry, values no allow entry covers), as they are shown."""
    denied, missing = [], []
    mine = [e for e in entries if e.kind == kind]
    for value in values:
        shown = value if isinstance(value, str) else f"{value[0]}:{value[1]}"
        if any(
            e.effect == "deny"
            and _matches(e, value, loose=True)
            and _applies(e, src_role, deny=True)
            for e in mine
        ):
            denied.append(shown)
        elif not any(
            e.effect == "allow" and _matches(e, value) and _applies(e, src_role, deny=False)
            for e in mine
        ):
            missing.append(shown)
    return denied, missing


def decide(request: Asked, entries: list[Grant]) -> Decision:
    """The decision for ``request`` given the entries that apply to its source party."""
    party = request.src_party_id
    if request.role == "local" or request.party_id == "0":
        return Decision.allow("exempt: a local job")
    if request.party_id is not None and party == request.party_id:
        return Decision.allow("exempt: a party asking itself")
    if not any(entry.effect == "allow" for entry in entries):
        return Decision.deny(f"party {party} has no grants here", code=PERMISSION_ERROR)
    problems: list[str] = []
    for kind, values in (("component", request.components), ("dataset", request.datasets)):
        denied, missing = _refused(entries, kind, values, request.src_role)
        if denied:
            problems.append(f"{kind}(s) denied to party {party}: {', '.join(denied)}")
        if missing:
            problems.append(f"{kind}(s) not granted to party {party}: {', '.join(missing)}")
    if problems:
        return Decision.deny(printable("; ".join(problems)), code=PERMISSION_ERROR)
    return Decision.allow(f"granted to party {party}")


@hookimpl
@nonblocking
def permission(context: HookContext, request: PermissionRequest) -> Decision | None:
    registry = context.registry
    if registry is None or not registry.settings.grants.enabled:
        return None  # not switched on here: no opinion
    settings = registry.settings.grants
    try:
        canonical = asked(request, components=settings.components, datasets=settings.datasets)
    except InvalidRegistration as exc:
        return Decision.deny(printable(f"invalid permission request: {exc}"), code=ARGUMENT_ERROR)
    return decide(canonical, registry.grants.for_party(canonical.src_party_id))


__all__ = ["decide", "permission"]
