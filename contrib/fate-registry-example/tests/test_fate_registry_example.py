"""The example plugin, through a dispatcher as fate-registry runs it."""

from __future__ import annotations

import fate_registry_example
from fate_registry.dispatch import Dispatcher
from fate_registry.plugins import build_plugin_manager


def dispatcher() -> Dispatcher:
    plugins = build_plugin_manager(load=set())  # no installed plugin, only ours
    plugins.register(fate_registry_example, "example")
    return Dispatcher(plugins=plugins)


def test_hook_permission_allows_known_parties_only() -> None:
    allowed = dispatcher().permission({"src_role": "guest", "src_party_id": "9999"})
    denied = dispatcher().permission({"src_role": "guest", "src_party_id": "666"})
    assert (allowed.allowed, allowed.plugin) == (True, "example")
    assert (denied.allowed, denied.code) == (False, 108)
