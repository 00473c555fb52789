"""The ``grants`` plugin: permission from the grants in the registry database.

FATE Flow's model: per source party, the component modules (lower-case, as FATE Flow sends
them: ``reader``, ``heterolr``) and datasets ``{namespace, name}`` it may use here, ``*`` for
all; role ``local``, party id ``0`` and a party asking itself are exempt. Beyond FATE: deny
entries (a deny wins over any allow), a role condition on an entry, grants to every party
(``*``), datasets by namespace (``ns:*``), and a refusal that names what it refused.

``@nonblocking``: it decides from a per-process snapshot of the grants (``fate_registry.
snapshot``), reloaded in the background when the registry's revision changes, so a decision
does no I/O (only the first one of a process, or the first after a write of its own, loads).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fate_registry import hookimpl, nonblocking
from fate_registry.capabilities import PERMISSION_ERROR, Decision, PermissionRequest
from fate_registry.context import HookContext
from fate_registry.grants import ANY, Grant
from fate_registry.logsafe import printable


def _applies(entry: Grant, src_role: str | None, *, deny: bool) -> bool:
    """An entry with a role condition applies in that role. When the role is unknown (FATE
    Flow 1.11 sends none) a conditional deny still applies and a conditional allow does not."""
    if entry.role == ANY:
        return True
    if src_role is None:
        return deny
    return entry.role == src_role


def _matches(entry: Grant, value: str) -> bool:
    if entry.value in (ANY, value):
        return True
    if entry.kind == "dataset" and entry.value.endswith(":*"):
        return value.startswith(entry.value[:-1])
    return False


def _refused(
    entries: list[Grant], kind: str, values: Iterable[str], src_role: str | None
) -> tuple[list[str], list[str]]:
    """(values denied by a deny entry, values no allow entry covers)."""
    denied, missing = [], []
    mine = [e for e in entries if e.kind == kind]
    for value in values:
        if any(
            e.effect == "deny" and _matches(e, value) and _applies(e, src_role, deny=True)
            for e in mine
        ):
            denied.append(value)
        elif not any(
            e.effect == "allow" and _matches(e, value) and _applies(e, src_role, deny=False)
            for e in mine
        ):
            missing.append(value)
    return denied, missing


def _dataset(item: Any) -> str | None:
    if isinstance(item, dict):
        namespace, name = item.get("namespace"), item.get("name")
        if isinstance(namespace, str) and isinstance(name, str) and namespace and name:
            return f"{namespace}:{name}"
    if isinstance(item, str) and ":" in item:
        return item
    return None


def decide(
    request: PermissionRequest, entries: list[Grant], *, components: bool, datasets: bool
) -> Decision:
    """The decision for ``request`` given the entries that apply to its source party."""
    party = request.src_party_id
    if request.role == "local" or request.party_id == "0":
        return Decision.allow("exempt: a local job")
    if request.party_id is not None and party == request.party_id:
        return Decision.allow("exempt: a party asking itself")
    if not any(entry.effect == "allow" for entry in entries):
        return Decision.deny(f"party {party} has no grants here", code=PERMISSION_ERROR)
    role = request.src_role
    problems: list[str] = []
    if components:
        names = [str(c).lower() for c in request.component_list]
        denied, missing = _refused(entries, "component", names, role)
        if denied:
            problems.append(f"component(s) denied to party {party}: {', '.join(denied)}")
        if missing:
            problems.append(f"component(s) not granted to party {party}: {', '.join(missing)}")
    if datasets:
        values = []
        for index, item in enumerate(request.dataset_list):
            value = _dataset(item)
            if value is None:
                problems.append(f"dataset_list[{index}] is not {{namespace, name}}")
            else:
                values.append(value)
        denied, missing = _refused(entries, "dataset", values, role)
        if denied:
            problems.append(f"dataset(s) denied to party {party}: {', '.join(denied)}")
        if missing:
            problems.append(f"dataset(s) not granted to party {party}: {', '.join(missing)}")
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
    entries = registry.grants.for_party(request.src_party_id)
    return decide(request, entries, components=settings.components, datasets=settings.datasets)


__all__ = ["decide", "permission"]
