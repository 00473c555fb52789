"""What becomes of a decision once it is decided: its metrics, its log line, and the sinks that
keep what may be kept of it (the console's window of recent decisions, the audit trail).
``Recorder.record`` is the one seam; the dispatcher calls it for every decision, cached or not."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel

from .canonical import component_of, dataset_pair, role_of
from .canonical import party_of as canonical_party
from .capabilities import PermissionRequest, SignatureRequest, SiteAuthenticationRequest
from .errors import InvalidRegistration
from .logsafe import printable
from .masking import mask_secrets
from .metrics import HookMetrics

if TYPE_CHECKING:
    from .dispatch import Outcome

log = logging.getLogger("fate_registry.decisions")
RESULTS = ("allow", "deny", "failed_open", "failed_closed")  # of a decision, as result_of says


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
# keeps is ``decided(...)``'s record and ``subject_of(request)``, or less: never the request,
# the outcome's signature, message or error. It is called on the decision's thread: it must be
# cheap (a deque append, an atomic count), and do anything more (a database write) on a thread
# of its own. A durable sink (the audit trail) answers whether it kept the decision.
Sink = Callable[["Outcome", BaseModel, float], None]
DurableSink = Callable[["Outcome", BaseModel, float], bool]

MAX_LIST_TEXT = 4000  # characters of a subject's components or datasets, as JSON
_JSON = json.JSONEncoder(ensure_ascii=False)  # made once: json.dumps makes one per call


class Subject(NamedTuple):
    """Whom and what a decision was about, as far as it may be kept: parties, roles, the job,
    and for permission the components and datasets asked for. Each value in its canonical form
    when it has one (``fate_registry.canonical``: what ``audit list --party`` compares), else as
    sent, escaped and cut to its column. Never a header value, a signature or a body.

    ``src_party``/``dest_party``: permission's requesting party and this site's party in the
    job; site_authentication's requesting party; signature's signing party (this site) and the
    party the signed request goes to, when FATE Flow 2.x says. None where the request has none
    (client_authentication has no party: its only name is a header's value).
    """

    src_party: str | None
    dest_party: str | None
    src_role: str | None
    role: str | None
    job_id: str | None
    components: str | None  # a JSON list, at most MAX_LIST_TEXT characters
    datasets: str | None  # a JSON list of "namespace:name"


NO_SUBJECT = Subject(None, None, None, None, None, None, None)


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


def subject_of(request: BaseModel) -> Subject:
    """What may be kept of ``request`` beside ``decided``'s record (see Subject)."""
    if isinstance(request, PermissionRequest):
        return Subject(
            _party(request.src_party_id),
            _party(request.party_id),
            _role(request.src_role),
            _role(request.role),
            _text(request.job_id, 128),
            _listed(_component(value) for value in request.component_list),
            _listed(_dataset(value) for value in request.dataset_list),
        )
    if isinstance(request, SiteAuthenticationRequest):
        return NO_SUBJECT._replace(src_party=_party(request.src_party_id))
    if isinstance(request, SignatureRequest):
        dest = (request.model_extra or {}).get("dest_party_id")
        return NO_SUBJECT._replace(src_party=_party(request.party_id), dest_party=_party(dest))
    return NO_SUBJECT


def _text(value: Any, limit: int) -> str | None:
    """A value as sent, escaped (one line, no NUL) and cut to ``limit`` characters."""
    if value is None:
        return None
    return printable(value if isinstance(value, str) else str(value))[:limit]


def _canonical(convert: Callable[[Any], str], value: Any, limit: int) -> str | None:
    if value is None:
        return None
    try:
        return convert(value)
    except InvalidRegistration:
        return _text(value, limit)


def _party(value: Any) -> str | None:
    return _canonical(canonical_party, value, 64)


def _role(value: Any) -> str | None:
    return _canonical(role_of, value, 16)


def _component(value: Any) -> str:
    return _canonical(component_of, value, 120) or ""


def _dataset(value: Any) -> str:
    try:
        namespace, name = dataset_pair(value)
    except InvalidRegistration:
        return _text(value, 250) or ""
    return f"{namespace}:{name}"


def _listed(values: Iterable[str]) -> str | None:
    """``values`` as a JSON list of at most MAX_LIST_TEXT characters: past it, the last item
    says how many more there were."""
    items = list(values)
    if not items:
        return None
    text = _JSON.encode(items)
    if len(text) <= MAX_LIST_TEXT:
        return text
    kept: list[str] = []
    size = 2
    for item in items:
        size += len(_JSON.encode(item)) + 2
        if size > MAX_LIST_TEXT - 40:
            break
        kept.append(item)
    kept.append(f"... {len(items) - len(kept)} more")
    return _JSON.encode(kept)


class Recorder:
    """Records each decision: first the durable sink (the audit trail), then metrics, the
    decision log, and every sink in turn (see Sink). A sink that raises is logged and the
    decision goes on. ``clock``: seconds since the epoch (the registry's, which tests set)."""

    def __init__(
        self,
        metrics: HookMetrics,
        sinks: list[Sink] | None = None,
        *,
        durable: DurableSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.sinks: list[Sink] = list(sinks or [])
        self.durable = durable
        self.clock = clock

    def record(self, outcome: Outcome, request: BaseModel, *, must_keep: bool = False) -> bool:
        """Record ``outcome``; whether the durable sink kept it (True without one). With
        ``must_keep``, a decision the durable sink cannot keep is not recorded at all: the
        caller answers otherwise (the dispatcher's audit.when_full = refuse) and records that."""
        at = self.clock()
        kept = True
        if self.durable is not None:
            try:
                kept = self.durable(outcome, request, at)
            except Exception:
                log.exception("the audit trail failed on decision %s", outcome.decision_id)
                kept = False
            if must_keep and not kept:
                return False
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
        for sink in self.sinks:
            try:
                sink(outcome, request, at)
            except Exception:
                log.exception("a decision sink failed on decision %s", outcome.decision_id)
        return kept
