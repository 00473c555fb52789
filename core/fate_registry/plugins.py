"""The plugin manager: entry points of group ``fate_registry``, each loaded on its own.

``FATE_REGISTRY_LOAD_PLUGINS``: comma list of plugin (entry point) or distribution names to load,
empty loads none. ``FATE_REGISTRY_DISABLE_PLUGINS``: names never loaded. A name in either that
matches nothing installed is an error (UnknownPlugins): a typo would otherwise load nothing, and
every decision would be the default.
``FATE_REGISTRY_STRICT_PLUGINS=1``: a plugin that fails to load is fatal instead of reported.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import RegistryError
from .markers import PROJECT

log = logging.getLogger(__name__)

LOAD_ENV = "FATE_REGISTRY_LOAD_PLUGINS"
DISABLE_ENV = "FATE_REGISTRY_DISABLE_PLUGINS"
STRICT_ENV = "FATE_REGISTRY_STRICT_PLUGINS"


class PluginLoadError(RegistryError, RuntimeError):
    """A plugin could not be loaded and strict mode is on."""


class UnknownPlugins(RegistryError, ValueError):
    """FATE_REGISTRY_LOAD_PLUGINS or _DISABLE_PLUGINS names something that is not installed."""


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...] = ()
    status: str = "loaded"  # loaded, broken, disabled, not selected
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": list(self.hooks),
            "status": self.status,
            "error": self.error,
        }


@dataclass
class PluginManager:
    """A pluggy manager with what happened to every entry point, for listing and debugging."""

    pm: pluggy.PluginManager
    entries: dict[str, PluginInfo] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def register(self, plugin: object, name: str) -> None:
        """Register ``plugin`` (a module or object) under ``name``, rejecting unknown hooks."""
        _register_checked(self.pm, plugin, name)
        self.entries[name] = PluginInfo(name, None, None, hook_names(self.pm, plugin))

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.entries.pop(name, None)

    def implementations(self, hook_name: str) -> list[tuple[str, Any]]:
        """``(plugin name, HookImpl)`` of a hook, in the order they were registered."""
        caller = getattr(self.pm.hook, hook_name)
        impls = caller.get_hookimpls()
        return [(impl.plugin_name, impl) for impl in impls]

    def listing(self, all: bool = False) -> list[PluginInfo]:
        """Loaded and broken plugins; with ``all``, also those disabled or not selected."""
        shown = ("loaded", "broken")
        return [info for info in self.entries.values() if all or info.status in shown]

    @property
    def errors(self) -> dict[str, str]:
        return {i.name: i.error or "" for i in self.entries.values() if i.status == "broken"}


def hook_names(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    callers = pm.get_hookcallers(plugin) or []
    return tuple(sorted(caller.name for caller in callers))


def _register_checked(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        pm.unregister(name=name)
        raise


def _env_names(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {item.strip() for item in raw.split(",") if item.strip()}


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def build_plugin_manager(
    load: set[str] | None = None,
    disable: set[str] | None = None,
    strict: bool | None = None,
    entry_points: list[importlib.metadata.EntryPoint] | None = None,
) -> PluginManager:
    """A manager with the entry points of group ``fate_registry``, read from the environment
    unless ``load``, ``disable`` and ``strict`` are given."""
    sources = (LOAD_ENV if load is None else "load", DISABLE_ENV if disable is None else "disable")
    load = _env_names(LOAD_ENV) if load is None else load
    disable = (_env_names(DISABLE_ENV) or set()) if disable is None else disable
    if strict is None:
        strict = os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    if entry_points is None:
        entry_points = list(importlib.metadata.entry_points(group=PROJECT))
    for source, names in zip(sources, (load or set(), disable), strict=True):
        _check_installed(source, names, entry_points)
    manager = PluginManager(new_plugin_manager())
    for ep in sorted(entry_points, key=lambda e: e.name):
        _load_entry_point(manager, ep, load, disable, strict)
    return manager


def _canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): fate_registry is fate-registry."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _selects(name: str, ep: importlib.metadata.EntryPoint) -> bool:
    """Whether ``name`` is the entry point's name or its distribution's, however spelled."""
    dist = ep.dist.name if ep.dist is not None else None
    return name == ep.name or (dist is not None and _canonical(name) == _canonical(dist))


def _check_installed(
    source: str, names: set[str], entry_points: list[importlib.metadata.EntryPoint]
) -> None:
    unknown = sorted(n for n in names if not any(_selects(n, ep) for ep in entry_points))
    if not unknown:
        return
    plugins = sorted({ep.name for ep in entry_points})
    dists = sorted({ep.dist.name for ep in entry_points if ep.dist is not None})
    installed = ", ".join(plugins) or "none"
    if dists:
        installed += f" (distributions {', '.join(dists)})"
    raise UnknownPlugins(
        f"{source} names no installed plugin: {', '.join(map(repr, unknown))}; "
        f"installed: {installed}"
    )


def _load_entry_point(
    manager: PluginManager,
    ep: importlib.metadata.EntryPoint,
    load: set[str] | None,
    disable: set[str],
    strict: bool,
) -> None:
    dist = ep.dist.name if ep.dist is not None else None
    version = ep.dist.version if ep.dist is not None else None
    if any(_selects(name, ep) for name in disable):
        manager.entries[ep.name] = PluginInfo(ep.name, dist, version, status="disabled")
        return
    if load is not None and not any(_selects(name, ep) for name in load):
        manager.entries[ep.name] = PluginInfo(ep.name, dist, version, status="not selected")
        return
    if manager.pm.has_plugin(ep.name):
        error = f"another plugin is already registered as {ep.name!r}"
        manager.entries[ep.name + f" ({dist})"] = PluginInfo(
            ep.name, dist, version, status="broken", error=error
        )
        return
    try:
        plugin = ep.load()
        _register_checked(manager.pm, plugin, ep.name)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if strict:
            raise PluginLoadError(f"plugin {ep.name!r} ({dist}) failed to load: {error}") from exc
        log.warning("plugin %r (%s) failed to load and is skipped: %s", ep.name, dist, error)
        manager.entries[ep.name] = PluginInfo(ep.name, dist, version, status="broken", error=error)
        return
    manager.entries[ep.name] = PluginInfo(ep.name, dist, version, hook_names(manager.pm, plugin))


_default: PluginManager | None = None
_default_lock = threading.Lock()


def plugin_manager() -> PluginManager:
    """The process's manager, built on first use from the installed entry points."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = build_plugin_manager()
    return _default


def reset_plugin_manager() -> None:
    """Forget the process's manager (tests; after changing the environment variables)."""
    global _default
    _default = None
