"""The one canonical form of party ids, roles, components and datasets: what grants, site keys
and casbin policies store, and what a permission request is compared in.

Each function takes a value as a user or FATE Flow gives it and answers its canonical form, or
raises ``InvalidRegistration`` naming the field and the reason. Whitespace around a value is
ignored everywhere; nothing else is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import InvalidRegistration, Problems

if TYPE_CHECKING:
    from .capabilities import PermissionRequest

ANY = "*"
ROLES = ("guest", "host", "arbiter", "local")  # FATE's roles, as FATE writes them
MAX_PARTY_DIGITS = 18  # every such integer fits in 64 bits, and 10**18 is exact as a float
MAX_DATASET_PART = 120  # namespace and name: "ns:name" fits the 255 of the column
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: \d would take full-width digits too
_PARTY_LIMIT = 10**MAX_PARTY_DIGITS
_COMPONENT = re.compile(r"[a-z0-9_.-]{1,64}")

Dataset = tuple[str, str]  # (namespace, name); in a grant, name "*" is every dataset of it
T = TypeVar("T")


def _shown(value: Any) -> str:
    """A value in an error message: its repr, cut short (an outsider chose it)."""
    text = repr(value)
    return text if len(text) <= 42 else f"{text[:40]}..."


def party_of(value: Any, field: str = "party_id", *, wildcard: bool = False) -> str:
    """A FATE party id, a decimal integer: an int, or a string of ASCII digits (``9999.0``
    from JSON too), without leading zeros (``"010000"`` is ``"10000"``; ``"0"``, FATE's local
    party, stays). ``*`` (every party) only with ``wildcard``."""
    expected = "a decimal integer such as 10000" + (", or '*' for every party" if wildcard else "")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidRegistration([(field, f"{_shown(value)} is not a party id: {expected}")])
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < _PARTY_LIMIT:
            raise InvalidRegistration([(field, f"{_shown(value)} is not a party id: {expected}")])
        return str(value)
    if not isinstance(value, str):
        raise InvalidRegistration([(field, f"must be a party id: {expected}")])
    text = value.strip()
    if wildcard and text == ANY:
        return ANY
    if not _DIGITS.fullmatch(text):
        if any(c.isdigit() and not c.isascii() for c in text):
            expected = "its digits must be ASCII 0-9, not full-width or another script's"
        raise InvalidRegistration([(field, f"{_shown(value)} is not a party id: {expected}")])
    if len(text) > MAX_PARTY_DIGITS:
        raise InvalidRegistration([(field, f"has more than {MAX_PARTY_DIGITS} digits")])
    return text.lstrip("0") or "0"


def role_of(value: Any, field: str = "role", *, wildcard: bool = False) -> str:
    """A FATE role, lower-case: guest, host, arbiter or local (``*``, every role, only with
    ``wildcard``). Another word is refused, so that no spelling can miss a role condition."""
    allowed = ", ".join(ROLES) + (" or '*'" if wildcard else "")
    if not isinstance(value, str):
        raise InvalidRegistration([(field, f"must be a role: {allowed}")])
    name = value.strip().lower()
    if name in ROLES or (wildcard and name == ANY):
        return name
    raise InvalidRegistration([(field, f"{_shown(value)} is not a role: {allowed}")])


def component_of(value: Any, field: str = "component", *, wildcard: bool = True) -> str:
    """A component module, lower-cased as FATE Flow sends them (``reader``, ``heterolr``), or
    ``*`` (with ``wildcard``). FATE's modules are ASCII names: any other character is refused
    rather than folded, so that no look-alike spelling names a component."""
    if not isinstance(value, str):
        raise InvalidRegistration([(field, "must be a string")])
    text = value.strip()
    if wildcard and text == ANY:
        return ANY
    name = text.lower() if text.isascii() else text
    if not _COMPONENT.fullmatch(name):
        reason = "is not a component name (ASCII letters, digits, '_', '.', '-')"
        raise InvalidRegistration([(field, f"{_shown(value)} {reason}")])
    return name


def dataset_pair(value: Any, field: str = "dataset") -> Dataset:
    """A dataset of a request: ``{namespace, name}`` or ``"namespace:name"``, each part
    stripped. Compared as a pair: a namespace that holds ':' is a namespace of its own."""
    if isinstance(value, Mapping):
        namespace, name = value.get("namespace"), value.get("name")
    elif isinstance(value, str) and ":" in value:
        namespace, _, name = value.partition(":")
    else:
        raise InvalidRegistration([(field, "must be {namespace, name} or 'namespace:name'")])
    if not isinstance(namespace, str) or not namespace.strip():
        raise InvalidRegistration([(field, "namespace must be a non-empty string")])
    if not isinstance(name, str) or not name.strip():
        raise InvalidRegistration([(field, "name must be a non-empty string")])
    if len(namespace) > MAX_DATASET_PART or len(name) > MAX_DATASET_PART:
        raise InvalidRegistration(
            [(field, f"namespace and name have at most {MAX_DATASET_PART} characters each")]
        )
    return namespace.strip(), name.strip()


def dataset_of(value: Any, field: str = "dataset") -> str:
    """A dataset as a grant stores it: ``namespace:name``, ``namespace:*`` (every dataset of
    the namespace) or ``*`` (every dataset). The namespace may not hold ':', so the stored
    string splits back into its pair at its first ':' (``stored_dataset``)."""
    if isinstance(value, str) and value.strip() == ANY:
        return ANY
    try:
        namespace, name = dataset_pair(value, field)
    except InvalidRegistration:
        if isinstance(value, Mapping) or (isinstance(value, str) and ":" in value):
            raise
        raise InvalidRegistration(
            [(field, "must be {namespace, name}, 'namespace:name', 'namespace:*' or '*'")]
        ) from None
    if ":" in namespace:
        raise InvalidRegistration([(field, "namespace must not hold ':'")])
    return f"{namespace}:{name}"


def stored_dataset(value: str) -> Dataset:
    """The (namespace, name) of a dataset value ``dataset_of`` made (not ``*``)."""
    namespace, _, name = value.partition(":")
    return namespace, name


# -- a permission request ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Asked:
    """A permission request in the canonical form, as the permission plugins compare it."""

    src_party_id: str
    src_role: str | None  # None: unknown (FATE Flow 1.11 sends none, and roles did not say)
    role: str | None
    party_id: str | None
    components: tuple[str, ...]
    datasets: tuple[Dataset, ...]


def asked(request: PermissionRequest, *, components: bool, datasets: bool) -> Asked:
    """The canonical form of ``request``: its parties, roles and, when checked, its components
    and datasets. ``InvalidRegistration`` names every malformed field (``src_party_id``,
    ``component_list[2]``, ...): such a request is refused, never compared."""
    problems = Problems()
    checked = problems.checked

    def each(convert: Callable[[Any, str], T], values: list[Any], field: str) -> tuple[T, ...]:
        found = [checked(convert, value, f"{field}[{i}]") for i, value in enumerate(values)]
        return tuple(value for value in found if value is not None)

    module = partial(component_of, wildcard=False)  # a job runs modules, never "*"
    src_role_field = "roles" if request.src_role_derived else "src_role"
    result = Asked(
        src_party_id=checked(party_of, request.src_party_id, "src_party_id") or "",
        src_role=checked(role_of, request.src_role, src_role_field),
        role=checked(role_of, request.role, "role"),
        party_id=checked(party_of, request.party_id, "party_id"),
        components=each(module, request.component_list, "component_list") if components else (),
        datasets=each(dataset_pair, request.dataset_list, "dataset_list") if datasets else (),
    )
    problems.raise_if_any()
    return result
