"""The pluggy markers: ``hookimpl`` (and ``nonblocking``) are what a plugin imports from us."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pluggy

F = TypeVar("F", bound=Callable[..., Any])
NONBLOCKING = "fate_registry_nonblocking"

PROJECT = "fate_registry"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


def nonblocking(function: F) -> F:
    """Mark a hook implementation that does no I/O and returns promptly (an HMAC check, a rule).

    The dispatcher calls it in the caller's thread instead of handing it to a worker thread,
    which saves the hand-off (see docs/performance.md); its deadline is still checked when it
    returns. Put it under ``@hookimpl``.
    """
    setattr(function, NONBLOCKING, True)
    return function
