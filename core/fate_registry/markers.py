"""The pluggy markers: ``hookimpl`` (and ``nonblocking``, ``calls_service``) are what a plugin
imports from us."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pluggy

F = TypeVar("F", bound=Callable[..., Any])
NONBLOCKING = "fate_registry_nonblocking"
CALLS_SERVICE = "fate_registry_calls_service"

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


def calls_service(function: F) -> F:
    """Mark a hook implementation that calls the service registered for its capability
    (``context.server_name``, the capability's name), as the ``http`` plugin's do.

    With the capability's ``fail_fast`` on, the dispatcher does not call it while that
    service's health check is critical: the failure policy answers at once. Put it under
    ``@hookimpl``.
    """
    setattr(function, CALLS_SERVICE, True)
    return function
