"""The pluggy markers: ``hookimpl`` is the one name a plugin imports from fate-registry."""

from __future__ import annotations

import pluggy

PROJECT = "fate_registry"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
