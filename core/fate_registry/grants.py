"""Permission grants: which components and datasets a source party may use here.

FATE Flow's model (per source party, allowed component modules and datasets ``{namespace,
name}``, ``*`` for all) plus explicit deny entries, an optional role condition, and limits: a
time window (``not_before``, ``expires_at``) and a number of jobs (``max_uses``). Entries live
in the registry database, shared by every node; the ``grants`` plugin decides with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from .canonical import (
    ANY,
    MAX_DATASET_PART,
    component_of,
    dataset_of,
    party_of,
    role_of,
    stored_dataset,
)
from .errors import InvalidRegistration, Problems
from .snapshot import Snapshot
from .times import duration, instant

if TYPE_CHECKING:
    from .registry import Registry

# The canonical forms are fate_registry.canonical's, named here too for grants' callers.
__all__ = [
    "ANY",
    "MAX_DATASET_PART",
    "MAX_USES",
    "Grant",
    "GrantKey",
    "Grants",
    "Limits",
    "component_of",
    "dataset_object",
    "dataset_of",
    "fate_components",
    "fate_datasets",
    "grant_entries",
    "party_of",
    "role_of",
]

Kind = Literal["component", "dataset"]
Effect = Literal["allow", "deny"]
GrantKey = tuple[str, str, str, str]  # (party_id, kind, value, role): an entry's identity
MAX_USES = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    """A grant's limits, each optional: in force from ``not_before`` until ``expires_at``
    (UTC, whole seconds), for at most ``max_uses`` jobs."""

    not_before: datetime | None = None
    expires_at: datetime | None = None
    max_uses: int | None = None


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Grant:
    """One entry, every field in its canonical form (``fate_registry.canonical``): a party id
    or ``*``; ``value`` a component module (lower-case), ``namespace:name``, ``namespace:*`` or
    ``*``; ``role`` guest, host, arbiter, local, or ``*`` for every role."""

    party_id: str
    kind: Kind
    value: str
    role: str = ANY
    effect: Effect = "allow"
    created_at: datetime | None = None
    not_before: datetime | None = None
    expires_at: datetime | None = None
    max_uses: int | None = None
    uses: int = 0  # jobs admitted (as last read: the database counts them)

    @property
    def key(self) -> GrantKey:
        return (self.party_id, self.kind, self.value, self.role)

    @property
    def limited(self) -> bool:
        return self.max_uses is not None

    @property
    def bounded(self) -> bool:
        """Whether it has any limit: a time window or a number of jobs."""
        return not (self.not_before is None and self.expires_at is None and self.max_uses is None)

    def in_force(self, now: float) -> bool:
        """Whether the entry applies at ``now`` (seconds since the epoch)."""
        if self.not_before is not None and now < self.not_before.timestamp():
            return False
        return self.expires_at is None or now < self.expires_at.timestamp()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "party_id": self.party_id,
            "kind": self.kind,
            "value": self.value,
            "role": self.role,
            "effect": self.effect,
        }
        if self.created_at is not None:
            out["created_at"] = self.created_at.isoformat()
        if self.not_before is not None:
            out["not_before"] = self.not_before.isoformat()
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at.isoformat()
        if self.max_uses is not None:
            out["max_uses"] = self.max_uses
            out["uses"] = self.uses
        return out


def fate_components(value: Any) -> list[str]:
    """FATE's ``component`` field: ``"reader,dataio"``, a list, or ``*``."""
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InvalidRegistration([("component", "must be a comma list, a list or '*'")])
    return [component_of(item, f"component[{i}]") for i, item in enumerate(items)]


def fate_datasets(value: Any) -> list[str]:
    """FATE's ``dataset`` field: one ``{namespace, name}``, a list of them, or ``*``."""
    if value is None or value == {} or value == [] or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    return [dataset_of(item, f"dataset[{i}]") for i, item in enumerate(items)]


def dataset_object(value: str) -> dict[str, str] | str:
    """``{namespace, name}`` of a stored dataset value (``*`` stays ``*``)."""
    if value == ANY:
        return ANY
    namespace, name = stored_dataset(value)
    return {"namespace": namespace, "name": name}


@dataclass(frozen=True, slots=True)
class _Loaded:
    """The grants as a process keeps them: entries by party, and the parties with limits."""

    by_party: dict[str, list[Grant]]
    bounded: frozenset[str]


class Grants:
    """Grant, revoke and list entries; ``for_party`` answers the plugin from a per-process
    snapshot reloaded when the registry's revision changes, so a decision does no I/O."""

    def __init__(self, registry: Registry) -> None:
        from .store.grants import GrantStore

        self.registry = registry
        self.store = GrantStore(registry.engine)
        self._snapshot: Snapshot[_Loaded] = Snapshot(registry, self._load)

    def grant(
        self,
        party_id: Any,
        *,
        components: Iterable[Any] = (),
        datasets: Iterable[Any] = (),
        role: Any = None,
        deny: bool = False,
        expires_at: Any = None,
        not_before: Any = None,
        max_uses: int | None = None,
        valid_for: Any = None,
    ) -> list[Grant]:
        """Add entries, or replace the effect and limits of those that exist (the jobs they
        admitted stay counted); at least one component or dataset. Limits: ``not_before`` and
        ``expires_at`` (datetimes or ISO 8601 text; UTC when naive), or ``valid_for`` (a
        duration: seconds, or text such as ``30d``) from ``not_before`` or now; ``max_uses``
        jobs at most, each counted once by its job id (a request without one counts each
        time)."""
        limits = grant_limits(
            expires_at, not_before, max_uses, valid_for, now=self.registry.clock(), deny=deny
        )
        entries = grant_entries(party_id, components, datasets, role, deny=deny, limits=limits)
        self.store.upsert(entries)
        self._changed()
        return entries

    def revoke(
        self,
        party_id: Any,
        *,
        components: Iterable[Any] = (),
        datasets: Iterable[Any] = (),
        role: Any = None,
        everything: bool = False,
    ) -> int:
        """Delete entries of a party (in every role unless ``role`` is given); ``*`` deletes
        every entry of its kind, ``everything`` every entry of the party. How many went."""
        pid = party_of(party_id, wildcard=True)
        selected_role = None if role is None else role_of(role, wildcard=True)
        comps = [component_of(c) for c in components]
        sets = [dataset_of(d) for d in datasets]
        if not (comps or sets or everything):
            raise InvalidRegistration([("component", "give a component or a dataset to revoke")])
        targets: list[tuple[Kind | None, str | None]] = []
        if everything:
            targets.append((None, None))
        targets += [("component", None if c == ANY else c) for c in comps]
        targets += [("dataset", None if d == ANY else d) for d in sets]
        count = self.store.delete(pid, targets, selected_role)
        self._changed()
        return count

    def entries(self, party_id: Any = None) -> list[Grant]:
        pid = None if party_id is None else party_of(party_id, wildcard=True)
        return self.store.entries(pid)

    def for_party(self, party_id: str) -> list[Grant]:
        """The entries that apply to ``party_id``: its own and those of ``*``."""
        return self.applying(party_id)[0]

    def applying(self, party_id: str) -> tuple[list[Grant], bool]:
        """``for_party``'s entries, and whether any of them has limits (known from the
        snapshot: a party without is decided without looking for any)."""
        loaded = self._snapshot.get()
        by_party, bounded = loaded.by_party, loaded.bounded
        entries = by_party.get(party_id, []) + by_party.get(ANY, [])
        return entries, party_id in bounded or ANY in bounded

    def admit(
        self, job_id: str | None, needs: Sequence[Sequence[GrantKey]]
    ) -> tuple[list[Grant], Grant | None]:
        """Count a use of a limited entry for each need (its first candidate with a use left),
        all in one transaction: the job counted once per entry, exactly across nodes. The
        entries that counted it, and None; or, when a need has no use left, the entry that
        refused it (as read then: used up, out of its window, or revoked meanwhile, then
        without limits) and nothing counted."""
        return self.store.admit(job_id, needs, self.registry.clock())

    def _load(self) -> _Loaded:
        by_party: dict[str, list[Grant]] = {}
        for entry in self.store.entries(None):
            by_party.setdefault(entry.party_id, []).append(entry)
        bounded = {party for party, entries in by_party.items() if any(e.bounded for e in entries)}
        return _Loaded(by_party, frozenset(bounded))

    def _changed(self) -> None:
        self._snapshot.invalidate()
        self.registry.changed()


def grant_entries(
    party_id: Any,
    components: Iterable[Any],
    datasets: Iterable[Any],
    role: Any = None,
    *,
    deny: bool = False,
    limits: Limits = NO_LIMITS,
) -> list[Grant]:
    """The entries a grant adds, validated (at least one component or dataset): what
    ``Grants.grant`` stores, and what a remote client checks before sending."""
    pid = party_of(party_id, wildcard=True)
    selected_role = ANY if role is None else role_of(role, wildcard=True)
    effect: Effect = "deny" if deny else "allow"
    made = [("component", component_of(c)) for c in components]
    made += [("dataset", dataset_of(d)) for d in datasets]
    if not made:
        raise InvalidRegistration([("component", "give a component or a dataset to grant")])
    entries = [
        Grant(
            pid,
            kind,  # type: ignore[arg-type]
            value,
            selected_role,
            effect,
            not_before=limits.not_before,
            expires_at=limits.expires_at,
            max_uses=limits.max_uses,
        )
        for kind, value in made
    ]
    return _unique(entries)


def grant_limits(
    expires_at: Any = None,
    not_before: Any = None,
    max_uses: Any = None,
    valid_for: Any = None,
    *,
    now: float,
    deny: bool = False,
) -> Limits:
    """A grant's limits, checked (``InvalidRegistration`` names the field): times in UTC,
    in whole seconds as every database keeps them; ``valid_for`` counts from ``not_before``,
    or from ``now``; the window must end after it starts and after ``now``."""
    problems = Problems()
    start = problems.checked(_whole_second_instant, not_before, "not_before")
    end = problems.checked(_whole_second_instant, expires_at, "expires_at")
    span = problems.checked(duration, valid_for, "valid_for")
    if valid_for is not None and expires_at is not None:
        problems.add("valid_for", "give an expiry time or a duration, not both")
    elif span is not None:
        origin = start or datetime.fromtimestamp(now, UTC)
        end = (origin + timedelta(seconds=span)).replace(microsecond=0)
    if max_uses is not None:
        if isinstance(max_uses, bool) or not isinstance(max_uses, int):
            problems.add("max_uses", "must be a whole number of jobs")
        elif not 1 <= max_uses <= MAX_USES:
            problems.add("max_uses", f"must be from 1 to {MAX_USES:,}")
        elif deny:
            problems.add("max_uses", "a deny entry has no uses to count")
    if end is not None and start is not None and end <= start:
        problems.add("expires_at", "must be after not_before")
    elif end is not None and end.timestamp() <= now:
        problems.add("expires_at", f"is not in the future ({end.isoformat()})")
    problems.raise_if_any()
    return Limits(start, end, max_uses)


def _whole_second_instant(value: Any, field: str) -> datetime:
    return instant(value, field).replace(microsecond=0)


def _unique(entries: Sequence[Grant]) -> list[Grant]:
    seen: dict[GrantKey, Grant] = {}
    for entry in entries:
        seen[entry.key] = entry
    return list(seen.values())
