"""Replay protection: a nonce is accepted once within its window.

Seen nonces are kept in memory (a replay to the same process is refused without I/O) and, with
the ``database`` store, in the registry database, so a replay that reaches another node sharing
it is refused too. Recording a nonce is one ``INSERT`` in its own transaction; it does not bump
the revision counter (nonces change nothing that other nodes cache).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .registry import Registry

MAX_NONCE = 128
PURGE_EVERY = 60.0  # seconds between deletions of expired rows, per process


def valid_nonce(nonce: str) -> bool:
    return 0 < len(nonce) <= MAX_NONCE and nonce.isascii() and nonce.isprintable()


class Nonces:
    """``reg.nonces.first_use(scope, nonce, expires_at)``: True the first time only."""

    def __init__(self, registry: Registry) -> None:
        from .store.nonces import NonceStore

        self.store = NonceStore(registry.engine)
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()
        self._purged_at = time.time()

    def first_use(self, scope: str, nonce: str, expires_at: float, *, shared: bool = True) -> bool:
        """Record ``nonce`` in ``scope`` until ``expires_at`` (seconds since the epoch); False
        when it was recorded before and has not expired: a replay. ``shared`` records it in
        the database as well, where every node sees it."""
        key = (scope, nonce)
        now = time.time()
        with self._lock:
            self._forget_expired(now)
            seen = self._seen.get(key)
            if seen is not None and seen > now:
                return False
        if shared:
            if not self.store.remember(scope, nonce, int(expires_at * 1000), int(now * 1000)):
                return False
            if now - self._purged_at >= PURGE_EVERY:
                self._purged_at = now
                self.store.purge(int(now * 1000))
        with self._lock:
            if key in self._seen and self._seen[key] > now:
                return False  # another thread of this process got here first
            self._seen[key] = expires_at
            self._seen.move_to_end(key)
        return True

    def _forget_expired(self, now: float) -> None:
        # Entries arrive in about the order they expire (one window per scope): drop from the front.
        while self._seen:
            key, expires_at = next(iter(self._seen.items()))
            if expires_at > now:
                break
            del self._seen[key]

    def __len__(self) -> int:
        return len(self._seen)
