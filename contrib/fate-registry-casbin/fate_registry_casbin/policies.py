"""Policies in a table of the registry database, read and written through casbin's SQLAlchemy
adapter on the registry's own engine (its URL, pool and timeouts).

Decisions read a casbin enforcer held in memory per process, reloaded when the registry's
revision changes; every write through :class:`Policies` (or through ``Policies.enforcer()``,
casbin's own API) bumps that revision, so every node reloads within ``cache_ttl``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import casbin
from casbin.persist.watcher import Watcher
from casbin_sqlalchemy_adapter import Adapter
from sqlalchemy import Column, Engine, Integer, String, Table, inspect
from sqlalchemy.orm import DeclarativeBase

from fate_registry.canonical import ANY, component_of, dataset_of, party_of, stored_dataset
from fate_registry.errors import InvalidRegistration
from fate_registry.snapshot import Snapshot
from fate_registry.store import reported

if TYPE_CHECKING:
    from fate_registry import Registry

log = logging.getLogger(__name__)

TABLE_ENV = "FATE_CASBIN_TABLE"
DEFAULT_TABLE = "fr_casbin_rule"
COMPONENT, DATASET = "component", "dataset"
MAX_VALUE = 255  # the adapter's columns
REMEMBERED = 10_000  # answers of casbin kept per load of the policies
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_ROLE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
# casbin's adapter reads a row back as "p, v0, v1, v2" and splits it at commas outside
# brackets, stripping spaces: a value with these would come back as something else.
_UNSAFE = re.compile(r"[,()\[\]]|^\s|\s$")


@dataclass(frozen=True, slots=True, order=True)
class Policy:
    """One policy: ``party`` (a party id, a role or ``*``) may use ``value`` of ``type``.
    A dataset's value reads ``namespace:name`` here; the table holds FATE Flow's form."""

    party: str
    type: str
    value: str


# -- values as FATE Flow 1.11 writes them ----------------------------------------------------


def fate_dataset(namespace: str, name: str) -> str:
    """A dataset as FATE Flow 1.11's casbin rows hold it: JSON with sorted keys and the
    separators ``;`` and ``-`` (``{"name"-"breast";"namespace"-"experiment"}``), a form with no
    comma, which casbin's adapter would split at."""
    return json.dumps({"namespace": namespace, "name": name}, sort_keys=True, separators=(";", "-"))


def dataset_label(value: str) -> str:
    """``namespace:name`` of a stored dataset value (anything else as it is)."""
    decoder = json.JSONDecoder()
    prefix, middle = '{"name"-', ';"namespace"-'
    try:
        if value.startswith(prefix):
            name, end = decoder.raw_decode(value, len(prefix))
            if value.startswith(middle, end):
                namespace, end = decoder.raw_decode(value, end + len(middle))
                if value[end:] == "}" and isinstance(name, str) and isinstance(namespace, str):
                    return f"{namespace}:{name}"
    except json.JSONDecodeError:
        pass
    return value


def _dataset_value(value: Any, field: str) -> str:
    stored = dataset_of(value, field)
    if stored == ANY:
        return ANY
    namespace, name = stored_dataset(stored)
    if name == ANY:
        raise InvalidRegistration(
            [(field, "casbin matches a dataset whole: give namespace:name, or '*' for all")]
        )
    stored = fate_dataset(namespace, name)
    if _UNSAFE.search(namespace) or _UNSAFE.search(name):
        raise InvalidRegistration(
            [(field, "namespace and name must not hold ',', brackets or outer spaces")]
        )
    if len(stored) > MAX_VALUE:
        raise InvalidRegistration([(field, f"is {len(stored)} characters stored, at most 255")])
    return stored


def _role(value: Any, field: str = "role") -> str:
    name = value.strip() if isinstance(value, str) else value
    if not isinstance(name, str) or not _ROLE.fullmatch(name):
        raise InvalidRegistration(
            [
                (
                    field,
                    "must be a role name: a letter, then up to 63 letters, digits, '_', '.' or "
                    "'-' (a letter first, so that a role is never taken for a party id)",
                )
            ]
        )
    return name


def _subject(value: Any, field: str = "party", *, wildcard: bool = True) -> str:
    """Whom a policy is for: a party id (canonical: ``010000`` is ``10000``), a role name (a
    letter first), or ``*`` (every party) with ``wildcard``."""
    text = value.strip() if isinstance(value, str) else ""
    if text[:1].isascii() and text[:1].isalpha():
        return _role(text, field)
    return party_of(value, field, wildcard=wildcard)


def table_name(value: str | None = None) -> str:
    """The policy table: ``value``, else $FATE_CASBIN_TABLE, else ``fr_casbin_rule``."""
    name = value if value is not None else os.environ.get(TABLE_ENV, "").strip() or DEFAULT_TABLE
    if not _TABLE.fullmatch(name):
        raise ValueError(
            f"{TABLE_ENV}: {name!r} is not a table name (a letter or '_', then letters, digits "
            "or '_', at most 63)"
        )
    return name


# -- the table ---------------------------------------------------------------------------------


RULE_COLUMNS = ("id", "ptype", "v0", "v1", "v2", "v3", "v4", "v5")


def rule_class(table: str, engine: Engine) -> type[Any]:
    """The adapter's row class for ``table``, on a metadata of its own (so the adapter creates
    this table and no other, not casbin's default ``casbin_rule``). A table that exists is
    taken as it is (FATE Flow's ``fate_casbin`` has a TEXT and an INTEGER column)."""

    class Base(DeclarativeBase):
        pass

    def __str__(self: Any) -> str:  # the adapter reads a row back as this line
        values = (self.v0, self.v1, self.v2, self.v3, self.v4, self.v5)
        present = [str(v) for v in values if v is not None]
        return ", ".join([self.ptype, *present])

    body: dict[str, Any] = {"__str__": __str__}
    if inspect(engine).has_table(table):
        existing = Table(table, Base.metadata, autoload_with=engine)
        missing = [name for name in RULE_COLUMNS if name not in existing.columns]
        if missing:
            raise ValueError(
                f"{TABLE_ENV}: table {table!r} is not a casbin policy table (it has no column "
                f"{', '.join(missing)})"
            )
        body["__table__"] = existing
    else:
        body["__tablename__"] = table
        body["id"] = Column(Integer, primary_key=True)
        body["ptype"] = Column(String(255))
        body.update({f"v{i}": Column(String(MAX_VALUE)) for i in range(6)})
    return type(f"CasbinRule_{table}", (Base,), body)


@cache
def _model_text() -> str:
    return (files(__package__) / "model.conf").read_text(encoding="utf-8")


def new_model() -> casbin.Model:
    """The casbin model of this plugin (``model.conf``)."""
    model = casbin.Model()
    model.load_model_from_text(_model_text())
    return model


class RevisionWatcher(Watcher):  # type: ignore[misc]
    """casbin's watcher interface on the registry's revision counter: a write through an
    enforcer bumps it, and every node reloads its policies at its next revision check."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies

    def set_update_callback(self, func: Any) -> None:
        pass  # nodes reload through the registry's revision, not a callback

    def update(self) -> None:
        self.policies.changed()


# -- the policies of one registry --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Loaded:
    """The policies as one process decides by them: casbin's enforcer and its answers so far."""

    enforcer: casbin.Enforcer
    answers: dict[tuple[str, str, str], bool]


class Policies:
    """Grant, revoke and list the casbin policies of one registry, and decide with them.

    ``grant``/``revoke``/``assign``/``unassign`` validate what they are given (a clear error
    naming the field, nothing written); ``enforcer()`` is casbin's own API on the same table.
    """

    def __init__(self, registry: Registry, table: str | None = None) -> None:
        self.registry = registry
        self.table = table_name(table)
        self._adapter: Adapter | None = None
        self._adapter_lock = threading.Lock()
        self._snapshot: Snapshot[_Loaded] = Snapshot(registry, self._load)
        # casbin's role manager records every name it is asked about: one check at a time
        self._checking = threading.Lock()

    # -- casbin ---------------------------------------------------------------------------

    @property
    def adapter(self) -> Adapter:
        """casbin's SQLAlchemy adapter on the registry's engine; made (and the table created
        when missing) on first use."""
        with self._adapter_lock:
            if self._adapter is None:
                engine = self.registry.engine
                with reported(engine):
                    self._adapter = Adapter(engine, rule_class(self.table, engine))
            return self._adapter

    def enforcer(self) -> casbin.Enforcer:
        """A casbin enforcer on the policy table, loaded now. Its writes are saved to the table
        at once (casbin's auto-save) and bump the registry's revision (its watcher), so every
        node's decisions follow."""
        enforcer = self._new_enforcer()
        enforcer.set_watcher(RevisionWatcher(self))
        return enforcer

    def changed(self) -> None:
        """After a write: this process decides by the new policies from its next decision on,
        and every other node once it sees the revision this bumps (within ``cache_ttl``)."""
        self._snapshot.invalidate()
        self.registry.announce_change()

    def _new_enforcer(self) -> casbin.Enforcer:
        adapter = self.adapter
        with reported(self.registry.engine):
            return casbin.Enforcer(new_model(), adapter)

    def _load(self) -> _Loaded:
        enforcer = self._new_enforcer()
        odd = [rule for rule in enforcer.get_policy() if not _canonical(rule)]
        odd += [rule for rule in enforcer.get_grouping_policy() if not _canonical(rule)]
        if odd:
            log.warning(
                "%d casbin %s no request: a party or component not in the form "
                "requests are compared in (party ids without leading zeros, components "
                "lower-case): %s; remove it through enforcer() and grant it again",
                len(odd),
                "policy matches" if len(odd) == 1 else "policies match",
                ", ".join(repr(rule) for rule in odd[:5]) + (", ..." if len(odd) > 5 else ""),
            )
        return _Loaded(enforcer, {})

    # -- decisions ------------------------------------------------------------------------

    def refused(self, party: str, asked: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The ``(type, value)`` pairs of ``asked`` that no policy lets ``party`` use, from the
        policies held in memory (loaded on first use, then reloaded on a revision change).

        casbin evaluates its matcher once per policy, so a check's cost grows with the number
        of policies: each answer is remembered until the policies change."""
        loaded = self._snapshot.get()
        refused = []
        with self._checking:
            for kind, value in asked:
                key = (party, kind, value)
                allowed = loaded.answers.get(key)
                if allowed is None:
                    if len(loaded.answers) >= REMEMBERED:
                        loaded.answers.clear()
                    allowed = loaded.answers[key] = bool(loaded.enforcer.enforce(*key))
                if not allowed:
                    refused.append((kind, value))
        return refused

    # -- writes ---------------------------------------------------------------------------

    def grant(
        self, party: Any, *, components: Iterable[Any] = (), datasets: Iterable[Any] = ()
    ) -> list[Policy]:
        """Let ``party`` (a party id, a role, or ``*`` for every party) use these components
        (lower-case module names, ``*`` for all) and datasets (``namespace:name`` or
        ``{namespace, name}``, ``*`` for all). Answers the policies that were new."""
        rules = self._rules(party, components, datasets)
        if not rules:
            raise InvalidRegistration([("component", "give a component or a dataset to grant")])
        return [_policy(rule) for rule in self._write(rules, add=True)]

    def revoke(
        self,
        party: Any,
        *,
        components: Iterable[Any] = (),
        datasets: Iterable[Any] = (),
        everything: bool = False,
    ) -> int:
        """Remove policies of ``party``: ``*`` as a component (or dataset) removes every
        component (dataset) policy of the party, ``everything`` all of its policies. Answers
        how many went."""
        subject = _subject(party)
        comps = [component_of(c, f"components[{i}]") for i, c in enumerate(components)]
        sets = [_dataset_value(d, f"datasets[{i}]") for i, d in enumerate(datasets)]
        if not (comps or sets or everything):
            raise InvalidRegistration([("component", "give a component or a dataset to revoke")])
        with reported(self.registry.engine):
            current = self._new_enforcer().get_filtered_policy(0, subject)
        wanted = {(COMPONENT, c) for c in comps} | {(DATASET, d) for d in sets}
        every = {kind for kind, value in wanted if value == ANY}
        gone = [
            rule
            for rule in current
            if everything or rule[1] in every or (rule[1], rule[2]) in wanted
        ]
        return len(self._write(gone, add=False))

    def assign(self, party: Any, role: Any) -> bool:
        """Give ``party`` the role ``role`` (casbin's ``g`` policy): every policy of the role
        applies to the party. False when it had it."""
        rule = [_subject(party, wildcard=False), _role(role)]
        return bool(self._write([rule], add=True, ptype="g"))

    def unassign(self, party: Any, role: Any) -> bool:
        """Take the role away. False when the party did not have it."""
        rule = [_subject(party, wildcard=False), _role(role)]
        return bool(self._write([rule], add=False, ptype="g"))

    def _write(self, rules: Sequence[list[str]], *, add: bool, ptype: str = "p") -> list[list[str]]:
        """Add (or remove) each rule that is missing (present) through casbin, one
        announcement of the change for all. Answers the rules that changed."""
        if not rules:
            return []
        changed: list[list[str]] = []
        try:
            with reported(self.registry.engine):
                enforcer = self._new_enforcer()
                apply = getattr(enforcer, _WRITES[ptype, add])
                for rule in rules:
                    if apply(ptype, *rule):
                        changed.append(list(rule))
        finally:
            if changed:
                self.changed()
        return changed

    def _rules(
        self, party: Any, components: Iterable[Any], datasets: Iterable[Any]
    ) -> list[list[str]]:
        subject = _subject(party)
        rules = [
            [subject, COMPONENT, component_of(c, f"components[{i}]")]
            for i, c in enumerate(components)
        ]
        rules += [
            [subject, DATASET, _dataset_value(d, f"datasets[{i}]")] for i, d in enumerate(datasets)
        ]
        unique = {tuple(rule): rule for rule in rules}
        return list(unique.values())

    # -- reads ----------------------------------------------------------------------------

    def policies(self, party: Any = None) -> list[Policy]:
        """The policies in the table (of ``party`` alone when given), datasets as
        ``namespace:name``; read from the database now."""
        with reported(self.registry.engine):
            enforcer = self._new_enforcer()
        if party is None:
            rules = enforcer.get_policy()
        else:
            rules = enforcer.get_filtered_policy(0, _subject(party))
        return sorted(_policy(rule) for rule in rules if len(rule) == 3)

    def roles(self, party: Any = None) -> list[tuple[str, str]]:
        """``(party, role)`` assignments (of ``party`` alone when given)."""
        with reported(self.registry.engine):
            enforcer = self._new_enforcer()
        if party is None:
            rules = enforcer.get_grouping_policy()
        else:
            rules = enforcer.get_filtered_grouping_policy(0, _subject(party, wildcard=False))
        return sorted((rule[0], rule[1]) for rule in rules if len(rule) == 2)


def _canonical(rule: Sequence[str]) -> bool:
    """Whether a policy (party, type, value) or a role (party, role) is written as requests
    are compared: casbin's own API, FATE Flow and older versions wrote what they were given."""
    try:
        if _subject(rule[0], wildcard=len(rule) == 3) != rule[0]:
            return False
        return not (len(rule) == 3 and rule[1] == COMPONENT and component_of(rule[2]) != rule[2])
    except InvalidRegistration:
        return False


def _policy(rule: Sequence[str]) -> Policy:
    party, kind, value = rule[0], rule[1], rule[2]
    return Policy(party, kind, dataset_label(value) if kind == DATASET else value)


_WRITES = {  # casbin's method that adds (True) or removes a policy ('p') or a role ('g')
    ("p", True): "add_named_policy",
    ("p", False): "remove_named_policy",
    ("g", True): "add_named_grouping_policy",
    ("g", False): "remove_named_grouping_policy",
}
_by_registry: weakref.WeakKeyDictionary[Registry, Policies] = weakref.WeakKeyDictionary()
_by_registry_lock = threading.Lock()


def policies_of(registry: Registry) -> Policies:
    """The :class:`Policies` of ``registry`` (one per registry object, made on first use, on
    the table $FATE_CASBIN_TABLE names then)."""
    with _by_registry_lock:
        policies = _by_registry.get(registry)
        if policies is None:
            policies = _by_registry[registry] = Policies(registry)
        return policies
