"""The ``grants`` plugin: permission from the grants in the registry database.

FATE Flow's model: per source party, the component modules (lower-case, as FATE Flow sends
them: ``reader``, ``heterolr``) and datasets ``{namespace, name}`` it may use here, ``*`` for
all; role ``local``, party id ``0`` and a party asking itself are exempt. Beyond FATE: deny
entries (a deny wins over any allow), a role condition on an entry, grants to every party
(``*``), datasets by namespace (``ns:*``), and a refusal that names what it refused.

Entries and requests are compared in one canonical form (``fate_registry.canonical``): a
request that has no such form (a party id that is not a decimal integer, a word that is no
FATE role) is refused with code 101 before any entry is looked at.

Limits: an entry applies from its ``not_before`` until its ``expires_at`` (by the registry's
clock); outside that window an allow does not cover and a deny does not refuse, and a request
that only such an allow covered is refused with a message that says it expired or is not yet
valid. An allow entry with ``max_uses`` admits that many jobs, each counted once by its job id
(FATE Flow 2.x sends it; a request without one, as FATE Flow 1.x sends, counts each time);
an entry without limits that covers the same value needs no count. A used-up entry refuses
with a message that says so. Every answer carries ``valid_until``, the next instant an entry it
looked at starts or ends, so the decision cache never serves it beyond a change.

``@nonblocking``: it decides from a per-process snapshot of the grants (``fate_registry.
snapshot``), reloaded in the background when the registry's revision changes, so a decision
does no I/O (only the first one of a process, or the first after a write of its own, loads).
Counting a use is I/O: the plugin then answers ``Deferred``, and the dispatcher finishes the
decision in a worker thread, where one transaction counts the job on every entry it needs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime

from fate_registry import Deferred, hookimpl, nonblocking
from fate_registry.canonical import ANY, Asked, Dataset, asked, stored_dataset
from fate_registry.capabilities import (
    ARGUMENT_ERROR,
    PERMISSION_ERROR,
    Decision,
    PermissionRequest,
)
from fate_registry.context import HookContext
from fate_registry.errors import InvalidRegistration
from fate_registry.grants import Grant, GrantKey
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


class _Found:
    """What entries with limits say of a request, as its decision is built: the uses to count
    (a use of one entry of each need) and the instants an entry looked at starts or ends."""

    __slots__ = ("changes", "needs", "now")

    def __init__(self, now: float) -> None:
        self.now = now
        self.needs: list[tuple[GrantKey, ...]] = []
        self.changes: list[float] = []

    def looked_at(self, entries: list[Grant]) -> None:
        for entry in entries:
            for instant in (entry.not_before, entry.expires_at):
                if instant is not None and instant.timestamp() > self.now:
                    self.changes.append(instant.timestamp())

    @property
    def valid_until(self) -> float | None:
        return min(self.changes) if self.changes else None


def _refused(
    entries: list[Grant],
    kind: str,
    values: Iterable[str | Dataset],
    src_role: str | None,
    found: _Found | None,
    party: str,
) -> tuple[list[str], list[str], list[str]]:
    """(values denied by a deny entry, values no allow entry covers, why values that allows
    cover only outside their window are refused), as they are shown. Entries without limits
    are compared as before limits existed; ``found`` (None when the party's entries have no
    limits) takes the uses to count and the instants of those with limits."""
    denied, missing, lapsed = [], [], []
    plain = [e for e in entries if e.kind == kind]
    bounded = [] if found is None else [e for e in plain if e.bounded]
    if bounded:
        plain = [e for e in plain if not e.bounded]
    for value in values:
        shown = value if isinstance(value, str) else f"{value[0]}:{value[1]}"
        denied_now = found is not None and bounded and _denied_now(found, bounded, value, src_role)
        if denied_now or any(
            e.effect == "deny"
            and _matches(e, value, loose=True)
            and _applies(e, src_role, deny=True)
            for e in plain
        ):
            denied.append(shown)
        elif any(
            e.effect == "allow" and _matches(e, value) and _applies(e, src_role, deny=False)
            for e in plain
        ):
            continue  # covered for good: nothing to count, nothing that expires
        elif found is None or not bounded:
            missing.append(shown)
        else:
            why = _limited(found, bounded, kind, value, shown, party, src_role)
            if why == "":
                missing.append(shown)
            elif why is not None:
                lapsed.append(why)
    return denied, missing, lapsed


def _denied_now(
    found: _Found, bounded: list[Grant], value: str | Dataset, src_role: str | None
) -> bool:
    """Whether a deny entry with a time window refuses ``value`` now (its instants noted)."""
    denies = [
        e
        for e in bounded
        if e.effect == "deny"
        and _matches(e, value, loose=True)
        and _applies(e, src_role, deny=True)
    ]
    found.looked_at(denies)
    return any(e.in_force(found.now) for e in denies)


def _limited(
    found: _Found,
    bounded: list[Grant],
    kind: str,
    value: str | Dataset,
    shown: str,
    party: str,
    src_role: str | None,
) -> str | None:
    """A value only entries with limits may cover: None when one in force covers it (its use
    added to ``found.needs`` when every such entry has max_uses); else why not: "" when none
    covers it at all, or that they expired or have not begun."""
    allows = [
        e
        for e in bounded
        if e.effect == "allow" and _matches(e, value) and _applies(e, src_role, deny=False)
    ]
    found.looked_at(allows)
    current = [e for e in allows if e.in_force(found.now)]
    if not allows:
        return ""
    if not current:
        return _lapsed(allows, kind, shown, party, found.now)
    if all(e.limited for e in current):
        found.needs.append(tuple(sorted(e.key for e in current)))
    return None


def _lapsed(allows: list[Grant], kind: str, shown: str, party: str, now: float) -> str:
    """Why no allow entry covers a value although some would outside their window."""
    waiting = [e.not_before for e in allows if e.not_before and e.not_before.timestamp() > now]
    if waiting:
        return (
            f"the grant of {kind} {shown} to party {party} is not valid before {_iso(min(waiting))}"
        )
    ended = max(e.expires_at for e in allows if e.expires_at is not None)
    return f"the grant of {kind} {shown} to party {party} expired at {_iso(ended)}"


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def decide(
    request: Asked, entries: list[Grant], now: float, bounded: bool | None = None
) -> tuple[Decision, list[tuple[GrantKey, ...]]]:
    """The decision for ``request`` given the entries that apply to its source party, at
    ``now`` (seconds since the epoch); for an allow, the uses it needs counted first (per
    value covered only by entries with ``max_uses``, those entries). ``bounded``: whether any
    entry has limits, when known (None: looked at)."""
    party = request.src_party_id
    if request.role == "local" or request.party_id == "0":
        return Decision.allow("exempt: a local job"), []
    if request.party_id is not None and party == request.party_id:
        return Decision.allow("exempt: a party asking itself"), []
    if not any(entry.effect == "allow" for entry in entries):
        return Decision.deny(f"party {party} has no grants here", code=PERMISSION_ERROR), []
    if bounded is None:
        bounded = any(entry.bounded for entry in entries)
    found = _Found(now) if bounded else None
    problems: list[str] = []
    for kind, values in (("component", request.components), ("dataset", request.datasets)):
        denied, missing, lapsed = _refused(entries, kind, values, request.src_role, found, party)
        if denied:
            problems.append(f"{kind}(s) denied to party {party}: {', '.join(denied)}")
        if missing:
            problems.append(f"{kind}(s) not granted to party {party}: {', '.join(missing)}")
        problems += lapsed
    valid_until = None if found is None else found.valid_until
    if problems:
        message = printable("; ".join(problems))
        return Decision.deny(message, code=PERMISSION_ERROR, valid_until=valid_until), []
    allowed = Decision.allow(f"granted to party {party}", valid_until=valid_until)
    return allowed, [] if found is None else found.needs


def _admit(
    context: HookContext, allowed: Decision, job_id: str | None, needs: list[tuple[GrantKey, ...]]
) -> Decision:
    """Count the job on the limited entries it needs (in the database, exact across nodes):
    ``allowed``, or a refusal naming the used-up entry. An allow counted without a job id
    holds for this request only: it is never cached."""
    registry = context.registry
    assert registry is not None
    counted, refused = registry.grants.admit(job_id, needs)
    if refused is not None:
        what = f"{refused.kind} {refused.value}"
        if refused.max_uses is not None and refused.uses >= refused.max_uses:
            reason = f"is used up: {refused.uses} of {refused.max_uses} jobs admitted"
        else:
            reason = "is no longer in force"
        return Decision.deny(
            printable(f"the grant of {what} to party {refused.party_id} {reason}"),
            code=PERMISSION_ERROR,
            valid_until=allowed.valid_until,
        )
    uses = ", ".join(f"{e.kind} {e.value} {e.uses}/{e.max_uses}" for e in counted)
    valid_until = allowed.valid_until if job_id is not None else registry.clock()
    return Decision.allow(
        printable(f"{allowed.message} (jobs counted: {uses})"), valid_until=valid_until
    )


@hookimpl
@nonblocking
def permission(context: HookContext, request: PermissionRequest) -> Decision | Deferred | None:
    registry = context.registry
    if registry is None or not registry.settings.grants.enabled:
        return None  # not switched on here: no opinion
    settings = registry.settings.grants
    try:
        canonical = asked(request, components=settings.components, datasets=settings.datasets)
    except InvalidRegistration as exc:
        return Decision.deny(printable(f"invalid permission request: {exc}"), code=ARGUMENT_ERROR)
    entries, bounded = registry.grants.applying(canonical.src_party_id)
    decision, needs = decide(canonical, entries, registry.clock(), bounded)
    if not needs:
        return decision
    job_id = request.job_id or None
    return Deferred(lambda: _admit(context, decision, job_id, needs))


__all__ = ["decide", "permission"]
