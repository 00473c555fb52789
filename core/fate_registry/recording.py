"""What becomes of a decision once it is decided: its metrics, its log line, and the sinks that
keep what may be kept of it (the console's window of recent decisions; an audit trail plugs in
as one more sink). ``Recorder.record`` is the one seam; the dispatcher calls it for every
decision, cached or not."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from pydantic import BaseModel

from .logsafe import printable
from .masking import mask_secrets
from .metrics import HookMetrics

if TYPE_CHECKING:
    from .dispatch import Outcome

log = logging.getLogger("fate_registry.decisions")


class Decided(NamedTuple):  # a tuple: built once per decision, the cheapest record there is
    """What a sink gets of a decision: never a secret, a signature, a header value or a body.

    ``result``: allow, deny, failed_open or failed_closed. ``party``: the requesting party
    (permission, site_authentication) or the signing one (signature); None for client
    authentication, whose only name is a header's value. ``at``: seconds since the epoch.
    """

    decision_id: str
    capability: str
    party: str | None
    result: str
    code: int
    plugin: str | None
    elapsed: float
    cached: bool
    at: float


# A sink is called with the outcome, the request and the time (seconds since the epoch). What it
# keeps is ``decided(...)``'s record, or less: never the request, the outcome's signature,
# message or error. It is called on the decision's thread: it must be cheap (a deque append,
# an atomic count), and do anything more (a database write) on a thread of its own.
Sink = Callable[["Outcome", BaseModel, float], None]


def decided(
    outcome: Outcome, request: BaseModel | None, at: float, party: str | None = None
) -> Decided:
    """What may be kept of a decision (``party``: when already read from the request)."""
    return Decided(
        outcome.decision_id,
        outcome.capability,
        party if request is None else party_of(request),
        result_of(outcome),
        outcome.code,
        outcome.plugin,
        outcome.elapsed,
        outcome.cached,
        at,
    )


def result_of(outcome: Outcome) -> str:
    if outcome.failed:
        return "failed_open" if outcome.allowed else "failed_closed"
    return "allow" if outcome.allowed else "deny"


def party_of(request: BaseModel) -> str | None:
    party = getattr(request, "src_party_id", None) or getattr(request, "party_id", None)
    return party if isinstance(party, str) else None


class Recorder:
    """Records each decision: metrics, the decision log, then every sink in turn (see Sink).
    A sink that raises is logged and the decision goes on."""

    def __init__(self, metrics: HookMetrics, sinks: list[Sink] | None = None) -> None:
        self.metrics = metrics
        self.sinks: list[Sink] = list(sinks or [])

    def record(self, outcome: Outcome, request: BaseModel) -> None:
        result = result_of(outcome)
        self.metrics.decision(outcome.capability, result)
        if outcome.failed:
            log.warning(
                "decision %s %s %s by %s in %.1f ms: %s",
                outcome.decision_id,
                outcome.capability,
                result,
                outcome.plugin,
                outcome.elapsed * 1000,
                printable(outcome.error or ""),
            )
        elif log.isEnabledFor(logging.INFO):
            log.info(
                "decision %s %s %s by %s in %.1f ms%s",
                outcome.decision_id,
                outcome.capability,
                result,
                outcome.plugin,
                outcome.elapsed * 1000,
                " (cached)" if outcome.cached else "",
            )
        if log.isEnabledFor(logging.DEBUG):
            shown = mask_secrets(request.model_dump())
            log.debug("decision %s request %s", outcome.decision_id, shown)
        if not self.sinks:
            return
        at = time.time()
        for sink in self.sinks:
            try:
                sink(outcome, request, at)
            except Exception:
                log.exception("a decision sink failed on decision %s", outcome.decision_id)
