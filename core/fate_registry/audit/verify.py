"""``audit verify``: the kept chain walked in order, each record's hash computed again from the
hash before it, and every break reported by the record where it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .records import Chain

if TYPE_CHECKING:
    from ..store.audit import AuditStore, Head

PAGE = 5000  # records read at a time: memory stays bounded whatever the chain's length
MAX_PROBLEMS = 100  # listed; the rest are counted


@dataclass(frozen=True, slots=True)
class Problem:
    """A break of the chain at record ``seq`` (to ``last``, for missing records): ``kind``
    changed, missing, unverifiable or head."""

    seq: int
    last: int
    kind: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "last": self.last, "kind": self.kind, "message": self.message}


@dataclass(slots=True)
class Verification:
    """What ``verify`` found: the chain's span, how many records it checked, and the breaks."""

    first_seq: int = 0
    last_seq: int = 0
    last_hash: str = ""
    checked: int = 0
    keyed: int = 0  # records hashed under audit.key
    problems: list[Problem] = field(default_factory=list)
    more: int = 0  # problems found beyond those listed

    @property
    def ok(self) -> bool:
        return not self.problems

    def found(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more += 1

    def summary(self) -> str:
        if self.first_seq > self.last_seq:
            span = "no record yet"
        else:
            span = f"records {self.first_seq} to {self.last_seq}"
        if self.ok:
            keyed = f", {self.keyed} under audit.key" if self.keyed else ""
            return (
                f"the audit chain holds: {span}, {self.checked} checked{keyed}; "
                f"last hash {self.last_hash}"
            )
        count = len(self.problems) + self.more
        return f"the audit chain is broken: {count} problem(s) in {span}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "checked": self.checked,
            "keyed": self.keyed,
            "problems": [problem.as_dict() for problem in self.problems],
            "more_problems": self.more,
        }


def verify(store: AuditStore, chain: Chain) -> Verification:
    """Walk the chain from its anchor to its head. Records pruned while it walks move the
    anchor: the walk then starts again from the new one (at most three times)."""
    for _ in range(3):
        head = store.head()
        if head is None:
            report = Verification()
            report.found(Problem(0, 0, "head", "the chain's head row (fr_audit_head) is missing"))
            return report
        report = _walk(store, chain, head)
        now = store.head()
        if now is None or now.first_seq == head.first_seq or report.ok:
            return report
    return report


def _walk(store: AuditStore, chain: Chain, head: Head) -> Verification:
    report = Verification(head.first_seq, head.last_seq, head.last_hash)
    expected = head.first_seq
    previous: str | None = head.anchor_hash or None
    if previous is None and head.last_seq >= head.first_seq:
        report.found(
            Problem(
                head.first_seq,
                head.first_seq,
                "unverifiable",
                f"record {head.first_seq} cannot be checked against the record before it: "
                "that one was already missing when the older records were pruned",
            )
        )
    was_keyed = False
    after = 0
    while True:
        records = store.page(after, head.last_seq, PAGE)
        if not records:
            break
        after = records[-1].seq
        for record in records:
            seq = record.seq
            if seq < head.first_seq:
                report.found(
                    Problem(
                        seq,
                        seq,
                        "changed",
                        f"record {seq} is before the chain's start ({head.first_seq}): it was "
                        "added or renumbered by hand",
                    )
                )
                continue
            if seq > expected:
                report.found(_missing(expected, seq - 1, "deleted"))
                previous = None  # the link into this record cannot be checked
            if record.key_id:
                report.keyed += 1
                was_keyed = True
            elif was_keyed:
                report.found(
                    Problem(
                        seq,
                        seq,
                        "changed",
                        f"record {seq} has no key although records before it have: written "
                        "without audit.key, or rewritten by someone without it",
                    )
                )
            if previous is not None:
                try:
                    computed = chain.link(previous, seq, record.content, record.key_id)
                except ValueError as exc:
                    report.found(Problem(seq, seq, "unverifiable", f"{exc}: it cannot be checked"))
                else:
                    if computed != record.hash:
                        report.found(
                            Problem(
                                seq,
                                seq,
                                "changed",
                                f"record {seq} does not match its hash: it, or the hash of "
                                "the record before it, was changed",
                            )
                        )
            previous = record.hash
            expected = seq + 1
            report.checked += 1
    if expected <= head.last_seq:
        report.found(_missing(expected, head.last_seq, "deleted: the newest records"))
    elif previous is not None and previous != head.last_hash and head.last_seq >= head.first_seq:
        report.found(
            Problem(
                head.last_seq,
                head.last_seq,
                "changed",
                f"record {head.last_seq}'s hash is not the one the chain's head recorded: the "
                "record or the head was changed",
            )
        )
    return report


def _missing(first: int, last: int, why: str) -> Problem:
    span = f"record {first} is" if first == last else f"records {first} to {last} are"
    return Problem(first, last, "missing", f"{span} missing ({why})")
