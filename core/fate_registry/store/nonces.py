"""The nonce store: nonces seen within their window, shared by every node of the database.

Remembering a nonce is one ``INSERT`` that does nothing when the row exists, in a transaction of
its own that does not bump the revision counter: nonces change nothing other nodes cache.
Expired rows are deleted in passing.
"""

from __future__ import annotations

from sqlalchemy import Engine, and_, delete

from . import transactions
from .tables import nonces_t


class NonceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = transactions.insert_if_absent(engine.dialect.name, nonces_t)

    def remember(self, scope: str, nonce: str, expires_at: int, now: int) -> bool:
        """Record ``nonce`` in ``scope`` until ``expires_at`` (ms since the epoch); False when
        it is already recorded and not yet expired (a replay)."""
        row = {"scope": scope, "nonce": nonce, "expires_at": expires_at}
        with transactions.write(self.engine, bump=False) as conn:
            if transactions.inserted(conn, self._insert, row):
                return True
            # Seen before: new again only when that row has expired (not yet purged).
            expired = conn.execute(
                delete(nonces_t).where(
                    and_(
                        nonces_t.c.scope == scope,
                        nonces_t.c.nonce == nonce,
                        nonces_t.c.expires_at <= now,
                    )
                )
            ).rowcount
            if expired:
                return transactions.inserted(conn, self._insert, row)
            return False

    def purge(self, now: int) -> int:
        """Delete the nonces expired at ``now`` (ms); how many went."""
        with transactions.write(self.engine, bump=False) as conn:
            return int(conn.execute(delete(nonces_t).where(nonces_t.c.expires_at <= now)).rowcount)
