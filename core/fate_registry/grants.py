"""Permission grants: which components and datasets a source party may use here.

FATE Flow's model (per source party, allowed component modules and datasets ``{namespace,
name}``, ``*`` for all) plus explicit deny entries and an optional role condition. Entries live
in the registry database, shared by every node; the ``grants`` plugin decides with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from .errors import InvalidRegistration
from .snapshot import Snapshot

if TYPE_CHECKING:
    from .registry import Registry

# The canonical forms are fate_registry.canonical's, named here too for grants' callers.
__all__ = [
    "ANY",
    "MAX_DATASET_PART",
    "Grant",
    "Grants",
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


class Grants:
    """Grant, revoke and list entries; ``for_party`` answers the plugin from a per-process
    snapshot reloaded when the registry's revision changes, so a decision does no I/O."""

    def __init__(self, registry: Registry) -> None:
        from .store.grants import GrantStore

        self.registry = registry
        self.store = GrantStore(registry.engine)
        self._snapshot: Snapshot[dict[str, list[Grant]]] = Snapshot(registry, self._load)

    def grant(
        self,
        party_id: Any,
        *,
        components: Iterable[Any] = (),
        datasets: Iterable[Any] = (),
        role: Any = None,
        deny: bool = False,
    ) -> list[Grant]:
        """Add (or replace the effect of) entries; at least one component or dataset."""
        entries = grant_entries(party_id, components, datasets, role, deny=deny)
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
        by_party = self._snapshot.get()
        return by_party.get(party_id, []) + by_party.get(ANY, [])

    def _load(self) -> dict[str, list[Grant]]:
        by_party: dict[str, list[Grant]] = {}
        for entry in self.store.entries(None):
            by_party.setdefault(entry.party_id, []).append(entry)
        return by_party

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
) -> list[Grant]:
    """The entries a grant adds, validated (at least one component or dataset): what
    ``Grants.grant`` stores, and what a remote client checks before sending."""
    pid = party_of(party_id, wildcard=True)
    selected_role = ANY if role is None else role_of(role, wildcard=True)
    effect: Effect = "deny" if deny else "allow"
    entries = [Grant(pid, "component", component_of(c), selected_role, effect) for c in components]
    entries += [Grant(pid, "dataset", dataset_of(d), selected_role, effect) for d in datasets]
    if not entries:
        raise InvalidRegistration([("component", "give a component or a dataset to grant")])
    return _unique(entries)


def _unique(entries: Sequence[Grant]) -> list[Grant]:
    seen: dict[tuple[str, str, str, str], Grant] = {}
    for entry in entries:
        seen[(entry.party_id, entry.kind, entry.value, entry.role)] = entry
    return list(seen.values())
