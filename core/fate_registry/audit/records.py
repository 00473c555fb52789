"""An audit record, one decision as the audit trail keeps it, and the hash chain that links
each record to the one before it."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..recording import result_of, subject_of

if TYPE_CHECKING:
    from ..dispatch import Outcome

GENESIS = "0" * 64  # the hash before a chain's first record
# A record's fields in the order its hash covers them (after the previous hash and ``seq``).
CONTENT = (
    "decided_at",
    "decision_id",
    "capability",
    "src_party",
    "dest_party",
    "src_role",
    "role",
    "job_id",
    "components",
    "datasets",
    "result",
    "code",
    "plugin",
    "cached",
    "latency_us",
)
Content = tuple[Any, ...]  # a record's values in CONTENT's order
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once, not per call


def content_of(outcome: Outcome, request: BaseModel, at: float) -> Content:
    """The fields of a decision's record (``at``: seconds since the epoch), from what the
    recording seam lets a sink keep: the outcome's ``decided`` fields and ``subject_of``."""
    subject = subject_of(request)
    plugin = outcome.plugin[:255] if outcome.plugin is not None else None
    return (
        int(at * 1000),
        outcome.decision_id,
        outcome.capability,
        *subject[:5],
        subject.components,
        subject.datasets,
        result_of(outcome),
        outcome.code,
        plugin,
        outcome.cached,
        round(outcome.elapsed * 1_000_000),
    )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One record as stored: ``decided_at`` in ms since the epoch, ``latency_us`` in µs,
    ``components`` and ``datasets`` JSON lists; ``key_id`` empty when the chain was unkeyed."""

    seq: int
    decided_at: int
    decision_id: str
    capability: str
    src_party: str | None
    dest_party: str | None
    src_role: str | None
    role: str | None
    job_id: str | None
    components: str | None
    datasets: str | None
    result: str
    code: int
    plugin: str | None
    cached: bool
    latency_us: int
    key_id: str
    hash: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AuditRecord:
        return cls(
            seq=int(row["seq"]),
            decided_at=int(row["decided_at"]),
            decision_id=row["decision_id"],
            capability=row["capability"],
            src_party=row["src_party"],
            dest_party=row["dest_party"],
            src_role=row["src_role"],
            role=row["role"],
            job_id=row["job_id"],
            components=row["components"],
            datasets=row["datasets"],
            result=row["result"],
            code=int(row["code"]),
            plugin=row["plugin"],
            cached=bool(row["cached"]),
            latency_us=int(row["latency_us"]),
            key_id=row["key_id"],
            hash=row["hash"],
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditRecord:
        """A record from ``as_dict``'s form (a remote registry's reply)."""
        at = datetime.fromisoformat(data["at"])
        lists = {
            name: None if data.get(name) is None else json.dumps(data[name], ensure_ascii=False)
            for name in ("components", "datasets")
        }
        return cls.from_row(
            {
                **data,
                **lists,
                "decided_at": round(at.timestamp() * 1000),
                "latency_us": round(float(data["latency_ms"]) * 1000),
            }
        )

    @property
    def content(self) -> Content:
        return tuple(getattr(self, name) for name in CONTENT)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.decided_at / 1000, UTC)

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON: its time in ISO 8601 (UTC, ms), lists as lists."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(timespec="milliseconds"),
            "decision_id": self.decision_id,
            "capability": self.capability,
            "src_party": self.src_party,
            "dest_party": self.dest_party,
            "src_role": self.src_role,
            "role": self.role,
            "job_id": self.job_id,
            "components": _list(self.components),
            "datasets": _list(self.datasets),
            "result": self.result,
            "code": self.code,
            "plugin": self.plugin,
            "cached": self.cached,
            "latency_ms": self.latency_us / 1000,
            "key_id": self.key_id,
            "hash": self.hash,
        }


def _list(text: str | None) -> list[str] | None:
    return None if text is None else list(json.loads(text))


class Chain:
    """How a record's hash is made: SHA-256 of the previous record's hash, the record's place
    and its fields as compact JSON; with a key (``audit.key``), HMAC-SHA-256 under it, so that
    only a holder of the key can compute a valid hash. ``key_id`` names the key without
    revealing it (empty: no key)."""

    def __init__(self, key: str | None = None) -> None:
        self._key = None if key is None else key.encode()
        self.key_id = "" if self._key is None else _fingerprint(self._key)

    def link(self, previous: str, seq: int, content: Content, key_id: str) -> str:
        """The hash of record ``seq`` after ``previous``, under the key ``key_id`` names ("":
        none). ValueError when that is a key this chain does not hold."""
        payload = _JSON.encode([previous, seq, *content, key_id]).encode()
        if not key_id:
            return hashlib.sha256(payload).hexdigest()
        if self._key is None or key_id != self.key_id:
            raise ValueError(f"record {seq} is keyed with key {key_id}, which is not audit.key")
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()


def _fingerprint(key: bytes) -> str:
    return hmac.new(key, b"fate-registry audit key", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which records to list, every field already checked and canonical: a party matches the
    source or the destination; ``since_ms`` (inclusive) and ``until_ms`` (exclusive) bound the
    decision's time in ms since the epoch."""

    capability: str | None = None
    party: str | None = None
    job_id: str | None = None
    result: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
