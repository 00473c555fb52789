"""What a hook call gets besides its request: the registry, its settings and its deadline."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

HOP_HEADER = "X-Fate-Registry-Hop"
"""Sent by the ``http`` plugin on every call, with the decision id: a fate-registry that sees it
on a request is being called by a fate-registry, and refuses (a loop, see http/loops.py)."""

if TYPE_CHECKING:
    from .registry import Registry
    from .settings import CapabilitySettings


@dataclass(frozen=True)
class HookContext:
    """Passed to every hook as ``context``, so plugins need no global state.

    ``deadline`` is a ``time.monotonic()`` instant: a plugin that does I/O must finish by then
    (the dispatcher stops waiting for it at that instant and applies the failure policy).
    ``cancelled`` is set when the dispatcher stops waiting (the deadline passed, or its caller
    was interrupted, e.g. by Ctrl-C): a plugin doing long I/O checks it and cleans up. A
    coroutine plugin (``async def``) is cancelled instead: CancelledError at its ``await``.
    """

    capability: str
    settings: CapabilitySettings
    registry: Registry | None
    deadline: float
    decision_id: str
    server_name: str = "HOOK"
    signing_secret: str | None = field(default=None, repr=False)

    @cached_property
    def cancelled(self) -> threading.Event:
        # Made when first asked for: only ApiReader's long calls are cancelled, and a decision
        # should not pay for an Event it never uses.
        return threading.Event()

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())
