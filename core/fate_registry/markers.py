"""The pluggy markers: ``hookimpl`` (and ``nonblocking``, ``calls_service``, and ``Deferred``, the
answer of a ``@nonblocking`` plugin that needs I/O to finish) are what a plugin imports from us."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Deferred:
    """The answer of a ``@nonblocking`` plugin that, for this request, needs I/O to finish (the
    ``grants`` plugin counting a job against a grant's ``max_uses`` in the database): the
    dispatcher calls ``finish()`` in a worker thread, under what is left of the decision's
    deadline, and takes what it returns as the plugin's answer. The plugin stays inline for
    every request that needs none."""

    finish: Callable[[], Any]
