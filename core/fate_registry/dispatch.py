"""The facade FATE Flow calls, and the only code that applies policy to plugin answers.

Per capability: the chain of plugins, a deadline for the decision, the failure policy, the
decision cache, metrics and the decision log, and what to answer when the audit trail cannot
keep a decision. Plugins only answer; they hold no policy.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import os
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from .capabilities import (
    API_READER,
    AUTHENTICATION_ERROR,
    CAPABILITIES,
    DECISIONS,
    PERMISSION_ERROR,
    REQUESTS,
    SUCCESS,
    ClientAuthenticationRequest,
    Decision,
    DownloadAnswer,
    DownloadRequest,
    PermissionRequest,
    QueryAnswer,
    QueryRequest,
    Signature,
    SignatureRequest,
    SiteAuthenticationRequest,
    UploadAnswer,
    UploadRequest,
)
from .context import HookContext
from .decision_cache import TTLCache
from .errors import RegistryError
from .health import CRITICAL
from .logsafe import printable
from .markers import CALLS_SERVICE, NONBLOCKING, Deferred
from .masking import mask_url_queries
from .metrics import DEFAULT_METRICS, HookMetrics
from .plugins import PluginManager, UnknownPlugins, plugin_manager
from .recording import Recorder
from .settings import CapabilitySettings, HooksSettings
from .window import DecisionWindow
from .workers import DeadlineExceeded, LoopThread, Workers, WorkersBusy

if TYPE_CHECKING:
    from .registry import Registry

log = logging.getLogger("fate_registry.decisions")  # ApiReader's answers; decisions: recording

DENY_CODES = {"permission": PERMISSION_ERROR}
_ID_PREFIX = os.urandom(3).hex()
_ids = itertools.count(1)
A = TypeVar("A", bound=BaseModel)
# Seconds an ApiReader call whose wait ended early (deadline, Ctrl-C) gets to clean up (its
# temporary file) before the caller goes on; decisions get none, their deadline is firm.
CLEANUP_GRACE = 5.0


class InvalidRequest(RegistryError, ValueError):
    """A capability request is malformed; the message names each bad field."""


class HookFailed(RegistryError):
    """An ApiReader capability failed: a plugin errored, timed out, or none answered."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer of a decision, with how it was reached.

    ``failed`` is true when a plugin errored or timed out and the failure policy answered;
    ``failed_open`` when that answer was an allow. ``plugin`` is who answered (None: default);
    ``principal`` whom it authenticated, when it said (client_authentication); ``valid_until``
    the earliest instant an answer of the chain said it holds until (see Decision), which
    the decision cache keeps it no longer than.
    """

    capability: str
    decision_id: str
    allowed: bool
    code: int
    message: str
    plugin: str | None = None
    signature: str | None = None
    failed: bool = False
    failed_open: bool = False
    error: str | None = None
    cached: bool = False
    elapsed: float = 0.0
    principal: str | None = None
    valid_until: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def again(self, decision_id: str, elapsed: float) -> Outcome:
        """This outcome answered again from the cache, as decision ``decision_id`` (faster
        than ``dataclasses.replace``, which looks the fields up on every call)."""
        return Outcome(
            self.capability,
            decision_id,
            self.allowed,
            self.code,
            self.message,
            self.plugin,
            self.signature,
            self.failed,
            self.failed_open,
            self.error,
            True,
            elapsed,
            self.principal,
            self.valid_until,
        )


def new_decision_id() -> str:
    return f"{_ID_PREFIX}-{next(_ids):x}"


class _Failure(Exception):
    def __init__(self, result: str, message: str) -> None:
        self.result = result  # "error", "timeout", "rejected" or "unhealthy"
        super().__init__(message)


class _WrongAnswer(Exception):
    """A plugin answered something that is not an answer of its hook."""


def _check_decision(answer: Any) -> str:
    """The metrics result of a decision plugin's answer; _WrongAnswer when it is unusable."""
    if answer is None:
        return "no_opinion"
    if not isinstance(answer, Decision):
        raise _WrongAnswer(f"answered a {type(answer).__name__}, not a Decision")
    return "allow" if answer.allowed else "deny"


def _check_signature(answer: Any) -> str:
    result = _check_decision(answer)
    if result == "allow" and not (isinstance(answer, Signature) and answer.signature):
        raise _WrongAnswer("allowed but gave no signature")
    return result


def _unanswerable(request: BaseModel) -> str | None:
    """Why no plugin can be asked about ``request``, or None. FATE Flow sends a null
    ``site_signature`` when the requesting site sent none: there is nothing to verify."""
    if isinstance(request, SiteAuthenticationRequest) and not request.site_signature:
        return (
            "site_signature is missing: the requesting site sent no signature "
            "(is site authentication switched on at its end?)"
        )
    return None


def _cancellation(pending: _Pending) -> dict[str, Any]:
    """How a worker call of ``pending`` is cancelled: ApiReader's long calls are told (their
    context's event) and get CLEANUP_GRACE to clean up; decisions' deadlines are firm."""
    if pending.capability not in API_READER:
        return {}
    return {"cancel": pending.context.cancelled, "grace": CLEANUP_GRACE}


def _check_answer(answer: Any, answer_type: type[BaseModel]) -> str:
    if answer is None:
        return "no_opinion"
    if not isinstance(answer, answer_type):
        raise _WrongAnswer(f"answered a {type(answer).__name__}, not a {answer_type.__name__}")
    return "allow"


ANSWERS: dict[str, type[BaseModel]] = {
    "upload": UploadAnswer,
    "query": QueryAnswer,
    "download": DownloadAnswer,
}


@dataclass(frozen=True, slots=True)
class Answer(Generic[A]):
    """An ApiReader capability's answer, the plugin that gave it and the call's decision id."""

    result: A
    plugin: str
    decision_id: str


@dataclass(frozen=True, slots=True)
class _WorkerCall:
    """A plugin call to wait for: in a worker thread, or awaited when ``coroutine``."""

    function: Callable[..., Any]
    args: tuple[Any, ...]
    timeout: float
    started: float
    coroutine: bool = False


def check_chains(settings: HooksSettings, plugins: PluginManager) -> None:
    """UnknownPlugins when a configured chain names a plugin that is not installed, or a loaded
    one without the capability's hook: a typo would otherwise fail every decision under the
    failure policy, as a typo in FATE_REGISTRY_LOAD_PLUGINS would load nothing. A plugin
    installed but not loaded (disabled, not selected, broken: reported as such) is left to the
    failure policy."""
    installed = {info.name for info in plugins.entries.values()}
    for capability in CAPABILITIES:
        chain = settings.capability(capability).chain or []
        unknown = [name for name in chain if name not in installed]
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise UnknownPlugins(
                f"hooks.{capability}.chain names no installed plugin: {names}; "
                f"installed: {', '.join(sorted(installed)) or 'none'}"
            )
        implementing = {name for name, _ in plugins.implementations(capability)}
        for name in chain:
            info = plugins.entries.get(name)
            if info is not None and info.status == "loaded" and name not in implementing:
                raise UnknownPlugins(
                    f"hooks.{capability}.chain: plugin {name!r} does not implement {capability} "
                    f"(its hooks: {', '.join(info.hooks) or 'none'})"
                )


@dataclass(slots=True)
class _Pending:
    """A decision under way: what the chain walk and the cache need to know of it."""

    capability: str
    cfg: CapabilitySettings
    request: BaseModel
    decision_id: str
    started: float
    context: HookContext
    cache_key: str | None
    revision: int | None  # of the registrations the answer is cached under


class Dispatcher:
    """Runs a capability's chain of plugins under its settings; one per registry.

    Plugins not run inline go to worker threads, a pool per capability of
    ``max_workers // 7`` threads (at least 1). The dispatcher stops waiting at the deadline,
    but a plugin that ignores it keeps its thread: with one shared pool, a capability whose
    service hangs would take every thread and every other capability would time out. With a
    pool each, it fills only its own; and past the capability's ``max_in_flight`` calls
    (running or waiting for a thread) a new call is refused at once and the failure policy
    answers, so a flood against a hung service costs nobody a wait. A per-capability semaphore
    over a shared pool would do the same with more code.

    ``decide`` blocks its caller (FATE Flow's Python calls); ``decide_async`` is the same
    decision awaited from an event loop (the hook gateway), holding no thread while a plugin
    works. Both walk the chain with one generator, ``_walk``, so the policy is written once.

    A plugin whose hook implementation is a coroutine function (``async def``, as the ``http``
    plugin's decisions) needs no worker thread: ``decide_async`` awaits it on the caller's
    loop, ``decide`` on the dispatcher's own loop thread, under the same deadline and
    ``max_in_flight`` bound; at its deadline it is cancelled.

    Cached decisions are tagged with the registry's revision: once any node changes the
    registrations (or grants, or keys), the registry sees the new revision within
    ``cache_ttl`` and no decision cached before it is served again. A decision is also kept no
    longer than its own ``valid_until`` (a grant's expiry), checked at every hit on the
    registry's clock.
    """

    def __init__(
        self,
        registry: Registry | None = None,
        settings: HooksSettings | None = None,
        plugins: PluginManager | None = None,
        metrics: HookMetrics | None = None,
    ) -> None:
        self.registry = registry
        if settings is None:
            settings = registry.settings.hooks if registry is not None else HooksSettings()
        self.settings = settings
        self.plugins = plugins if plugins is not None else plugin_manager()
        check_chains(settings, self.plugins)
        self.metrics = metrics if metrics is not None else DEFAULT_METRICS
        # The decisions of the last hour, for status and the console: the recorder's sink; the
        # registry's audit trail, its durable sink.
        self.window = DecisionWindow()
        self.audit = registry.audit.trail if registry is not None else None
        self.clock = registry.clock if registry is not None else time.time
        self.recorder = Recorder(self.metrics, [self.window], durable=self.audit, clock=self.clock)
        # audit.when_full = refuse: nothing is allowed that the audit trail could not keep.
        self._refuse_unrecorded = (
            self.audit is not None
            and registry is not None
            and registry.settings.audit.when_full == "refuse"
        )
        self._caches: dict[str, TTLCache[tuple[int | None, Outcome]]] = {
            c: TTLCache(settings.cache_size) for c in DECISIONS
        }
        per_capability = max(1, settings.max_workers // len(CAPABILITIES))
        self._workers: dict[str, Workers] = {
            c: Workers(
                per_capability,
                name=f"fate-registry-hook-{c}",
                max_in_flight=settings.capability(c).max_in_flight,
            )
            for c in CAPABILITIES
        }
        self._loop = LoopThread("fate-registry-hooks-loop")
        self._chains: dict[str, list[tuple[str, Any]]] = {}

    # -- typed facade ---------------------------------------------------------------------

    def client_authentication(
        self, request: ClientAuthenticationRequest | Mapping[str, Any]
    ) -> Outcome:
        return self.decide("client_authentication", request)

    def signature(self, request: SignatureRequest | Mapping[str, Any]) -> Outcome:
        return self.decide("signature", request)

    def site_authentication(
        self, request: SiteAuthenticationRequest | Mapping[str, Any]
    ) -> Outcome:
        return self.decide("site_authentication", request)

    def permission(self, request: PermissionRequest | Mapping[str, Any]) -> Outcome:
        return self.decide("permission", request)

    def upload(
        self, request: UploadRequest | Mapping[str, Any], *, server_name: str | None = None
    ) -> UploadAnswer:
        return self._first_answer("upload", request, UploadAnswer, server_name).result

    def query(
        self, request: QueryRequest | Mapping[str, Any], *, server_name: str | None = None
    ) -> QueryAnswer:
        return self._first_answer("query", request, QueryAnswer, server_name).result

    def download(
        self, request: DownloadRequest | Mapping[str, Any], *, server_name: str | None = None
    ) -> DownloadAnswer:
        return self._first_answer("download", request, DownloadAnswer, server_name).result

    # -- chains ---------------------------------------------------------------------------

    def chain(self, capability: str) -> list[tuple[str, Any]]:
        """``(plugin name, hook implementation or None when not loaded)`` in the order asked."""
        chain = self._chains.get(capability)
        if chain is None:
            impls = self.plugins.implementations(capability)
            configured = self.settings.capability(capability).chain
            if configured is None:
                chain = impls  # in registration order (entry points sorted by name)
            else:
                by_name = dict(impls)
                chain = [(name, by_name.get(name)) for name in configured]
            self._chains[capability] = chain
        return chain

    def clear_cache(self) -> None:
        for cache in self._caches.values():
            cache.clear()

    def close(self) -> None:
        """Stop the worker threads and the loop thread; calls of plugins that are not inline
        fail afterwards."""
        for workers in self._workers.values():
            workers.shutdown()
        self._loop.shutdown()

    # -- decisions ------------------------------------------------------------------------

    def decide(self, capability: str, request: BaseModel | Mapping[str, Any]) -> Outcome:
        """Run ``capability``'s chain on ``request`` and answer under its policy."""
        pending = self._begin(capability, request)
        if isinstance(pending, Outcome):
            return pending
        walk = self._walk(pending)
        try:
            name, impl = next(walk)
            while True:
                name, impl = walk.send(self._invoke(pending, name, impl))
        except StopIteration as done:
            return self._finish(pending, done.value)

    async def decide_async(
        self, capability: str, request: BaseModel | Mapping[str, Any]
    ) -> Outcome:
        """``decide`` for an event loop: plugins that are not inline run in the capability's
        worker threads while the loop waits for them, no thread held."""
        pending = self._begin(capability, request)
        if isinstance(pending, Outcome):
            return pending
        walk = self._walk(pending)
        try:
            name, impl = next(walk)
            while True:
                name, impl = walk.send(await self._invoke_async(pending, name, impl))
        except StopIteration as done:
            return self._finish(pending, done.value)

    def _begin(self, capability: str, request: BaseModel | Mapping[str, Any]) -> _Pending | Outcome:
        """Validate, then answer what needs no plugin (a request no plugin can answer, a cached
        decision) as an Outcome; otherwise the pending decision for the chain."""
        if capability not in DECISIONS:
            raise InvalidRequest(f"{capability!r} is not a decision; use one of {DECISIONS}")
        started = time.monotonic()
        request = self._validated(capability, request)
        cfg = self.settings.capability(capability)
        decision_id = new_decision_id()
        refusal = _unanswerable(request)
        if refusal is not None:
            outcome = Outcome(
                capability=capability,
                decision_id=decision_id,
                allowed=False,
                code=AUTHENTICATION_ERROR,
                message=refusal,
                elapsed=time.monotonic() - started,
            )
            return self._record(outcome, request)
        key = revision = None
        if cfg.cache:
            key = request.model_dump_json()
            revision = self.registry.known_revision() if self.registry is not None else None
            hit = self._caches[capability].get(key)
            # A hit holds while the revision does, and until the answer's own validity ends
            # (a grant's expiry): on the registry's clock, which tests set by hand.
            if (
                hit is not None
                and hit[0] == revision
                and (hit[1].valid_until is None or self.clock() < hit[1].valid_until)
            ):
                self.metrics.cache_hit(capability)
                elapsed = time.monotonic() - started
                return self._record(hit[1].again(decision_id, elapsed), request)
        context = self._context(capability, cfg, decision_id, started)
        return _Pending(capability, cfg, request, decision_id, started, context, key, revision)

    def _finish(self, pending: _Pending, outcome: Outcome) -> Outcome:
        if pending.cache_key is not None and not outcome.failed:
            cfg = pending.cfg
            ttl = cfg.allow_ttl if outcome.allowed else cfg.deny_ttl
            if outcome.valid_until is not None:  # not past its own validity (<= 0: not kept)
                ttl = min(ttl, outcome.valid_until - self.clock())
            entry = (pending.revision, outcome)
            self._caches[pending.capability].put(pending.cache_key, entry, ttl)
        return self._record(outcome, pending.request)

    def _walk(self, pending: _Pending) -> Generator[tuple[str, Any], Any, Outcome]:
        """The chain's policy, without I/O: yields each plugin to ask, is sent its answer (or a
        _Failure), and returns the Outcome. A deny stops the chain; the first definite answer
        wins, except for permission, where every plugin with an opinion must allow; a failure
        is answered by the failure policy; no opinion at all by the capability's default."""
        capability, cfg = pending.capability, pending.cfg
        deny_code = DENY_CODES.get(capability, AUTHENTICATION_ERROR)
        every_must_allow = capability == "permission"
        allowed_by: list[str] = []
        failed_open: list[str] = []
        errors: list[str] = []
        last_signature: str | None = None
        allow_message = "success"
        valid_until: float | None = None  # the earliest an answer said it holds until

        def outcome(
            allowed: bool, code: int, message: str, plugin: str | None, principal: str | None = None
        ) -> Outcome:
            return Outcome(
                capability=capability,
                decision_id=pending.decision_id,
                allowed=allowed,
                code=code,
                message=message,
                plugin=plugin,
                signature=last_signature if allowed else None,
                failed=bool(errors),
                failed_open=bool(failed_open) and allowed,
                error="; ".join(errors) or None,
                elapsed=time.monotonic() - pending.started,
                principal=principal if allowed else None,
                valid_until=valid_until,
            )

        for name, impl in self.chain(capability):
            answer = yield name, impl
            if isinstance(answer, _Failure):
                errors.append(f"{name}: {answer}")
                if cfg.failure_policy == "deny":
                    message = f"{capability} failed ({name}: {answer}); failure policy denies"
                    return outcome(False, deny_code, message, name)
                failed_open.append(name)
                self.metrics.failed_opened(capability, name)
                if every_must_allow:
                    continue
                return outcome(True, SUCCESS, f"failed open: {name}: {answer}", name)
            if answer is None:
                continue
            if answer.valid_until is not None:
                earlier = valid_until is not None and valid_until < answer.valid_until
                valid_until = valid_until if earlier else answer.valid_until
            if not answer.allowed:
                return outcome(False, answer.code, answer.message, name)
            if isinstance(answer, Signature):
                last_signature = answer.signature
            if not every_must_allow:
                return outcome(True, answer.code, answer.message, name, answer.principal)
            allowed_by.append(name)
            allow_message = answer.message
        if allowed_by or failed_open:
            message = allow_message if len(allowed_by) == 1 and not failed_open else "success"
            return outcome(True, SUCCESS, message, ",".join(allowed_by + failed_open))
        chain = self._chain_names(capability)
        silent = f"no plugin had an opinion on {capability} (chain: {chain})"
        if cfg.default == "allow":
            return outcome(True, SUCCESS, f"{silent}; default allows", None)
        return outcome(False, deny_code, f"{silent}; default denies", None)

    # -- one plugin call ------------------------------------------------------------------
    # Each gives the plugin's answer, or a _Failure: an error, a timeout, a wrong answer, or
    # "rejected" (the capability is at its max_in_flight). The two differ only in how they
    # wait: for a worker thread, or for a coroutine plugin (on the loop thread, or awaited).

    def _invoke(self, pending: _Pending, name: str, impl: Any) -> Any:
        call = self._prepare(pending, name, impl)
        if not isinstance(call, _WorkerCall):
            return call
        workers = self._workers[pending.capability]
        try:
            if call.coroutine:
                awaited = workers.call_coroutine(call.function, call.args, call.timeout)
                answer = self._loop.run(awaited)
            else:
                answer = workers.call(
                    call.function, call.args, call.timeout, **_cancellation(pending)
                )
        except BaseException as exc:
            return self._settle(pending, name, call.started, exc, None)
        return self._settle(pending, name, call.started, None, answer)

    async def _invoke_async(self, pending: _Pending, name: str, impl: Any) -> Any:
        call = self._prepare(pending, name, impl)
        if not isinstance(call, _WorkerCall):
            return call
        workers = self._workers[pending.capability]
        try:
            if call.coroutine:
                answer = await workers.call_coroutine(call.function, call.args, call.timeout)
            else:
                answer = await workers.call_async(call.function, call.args, call.timeout)
        except BaseException as exc:
            return self._settle(pending, name, call.started, exc, None)
        return self._settle(pending, name, call.started, None, answer)

    def _prepare(self, pending: _Pending, name: str, impl: Any) -> Any:
        """What to wait for (a worker thread's call or a coroutine), as a _WorkerCall; or,
        when there is nothing to wait for (the plugin is not loaded, no time is left, the
        plugin runs inline), its settled answer."""
        capability = pending.capability
        if impl is None:
            self.metrics.call(capability, name, "error", None)
            return _Failure("error", f"plugin {name!r} is in the chain but not loaded")
        if pending.cfg.fail_fast and getattr(impl.function, CALLS_SERVICE, False):
            unhealthy = self._unhealthy(pending)
            if unhealthy is not None:
                self.metrics.call(capability, name, "unhealthy", None)
                return _Failure("unhealthy", unhealthy)
        kwargs = {"context": pending.context, "request": pending.request}
        args = tuple(kwargs[arg] for arg in impl.argnames)
        started = time.monotonic()
        remaining = pending.context.deadline - started
        if remaining <= 0:
            self.metrics.call(capability, name, "timeout", None)
            return _Failure("timeout", "no time left in the budget")
        if inspect.iscoroutinefunction(impl.function):
            return _WorkerCall(impl.function, args, remaining, started, coroutine=True)
        if name not in pending.cfg.inline and not getattr(impl.function, NONBLOCKING, False):
            return _WorkerCall(impl.function, args, remaining, started)
        try:
            answer = impl.function(*args)
            if time.monotonic() > pending.context.deadline:
                raise DeadlineExceeded
        except BaseException as exc:
            return self._settle(pending, name, started, exc, None)
        if isinstance(answer, Deferred):  # its I/O goes to a worker thread, under the deadline
            remaining = pending.context.deadline - time.monotonic()
            return _WorkerCall(answer.finish, (), remaining, started)
        return self._settle(pending, name, started, None, answer)

    def _settle(
        self,
        pending: _Pending,
        name: str,
        started: float,
        exc: BaseException | None,
        answer: Any,
    ) -> Any:
        """Count the call once, under its result; give the answer or the _Failure."""
        failure: _Failure | None = None
        result = "error"
        if exc is None:
            try:
                result = self._check(pending.capability, answer)
            except _WrongAnswer as wrong:
                failure = _Failure("error", str(wrong))
        elif isinstance(exc, DeadlineExceeded):
            failure = _Failure("timeout", f"timed out after {time.monotonic() - started:.2f} s")
        elif isinstance(exc, WorkersBusy):
            limit = pending.cfg.max_in_flight
            failure = _Failure("rejected", f"refused at once: {limit} calls already in flight")
        elif isinstance(exc, Exception):  # its text may quote a URL: the query is masked
            failure = _Failure("error", mask_url_queries(f"{type(exc).__name__}: {exc}"))
        else:
            raise exc  # KeyboardInterrupt, SystemExit, a cancelled task: not the plugin's fault
        made = failure is None or failure.result != "rejected"  # a refused call was not made
        seconds = time.monotonic() - started if made else None
        self.metrics.call(
            pending.capability, name, result if failure is None else failure.result, seconds
        )
        return answer if failure is None else failure

    @staticmethod
    def _check(capability: str, answer: Any) -> str:
        """The metrics result of a plugin's answer; _WrongAnswer when it is unusable."""
        if capability == "signature":
            return _check_signature(answer)
        if capability in ANSWERS:
            return _check_answer(answer, ANSWERS[capability])
        return _check_decision(answer)

    # -- ApiReader ------------------------------------------------------------------------

    def api_reader(
        self,
        capability: str,
        request: BaseModel | Mapping[str, Any],
        *,
        server_name: str | None = None,
    ) -> tuple[BaseModel, str]:
        """Run an ApiReader ``capability``: its answer, and the name of the plugin that gave it."""
        answer = self.answer(capability, request, server_name=server_name)
        return answer.result, answer.plugin

    def answer(
        self,
        capability: str,
        request: BaseModel | Mapping[str, Any],
        *,
        server_name: str | None = None,
    ) -> Answer[BaseModel]:
        """Run an ApiReader ``capability``, its services on ``server_name`` (default: the
        capability's ``server_name`` setting, else ``hooks.server_name``)."""
        if capability not in API_READER:
            raise InvalidRequest(f"{capability!r} is not ApiReader's; use one of {API_READER}")
        return self._first_answer(capability, request, ANSWERS[capability], server_name)

    def _first_answer(
        self,
        capability: str,
        request: BaseModel | Mapping[str, Any],
        answer_type: type[A],
        server_name: str | None = None,
    ) -> Answer[A]:
        started = time.monotonic()
        request = self._validated(capability, request)
        cfg = self.settings.capability(capability)
        decision_id = new_decision_id()
        context = self._context(capability, cfg, decision_id, started, server_name)
        pending = _Pending(capability, cfg, request, decision_id, started, context, None, None)
        for name, impl in self.chain(capability):
            answer = self._invoke(pending, name, impl)
            if isinstance(answer, _Failure):
                raise HookFailed(f"{capability} failed in plugin {name!r}: {answer}")
            if answer is None:
                continue
            log.info(
                "%s %s by %s: %s", context.decision_id, capability, name, printable(str(answer))
            )
            return Answer(answer, name, context.decision_id)
        chain = self._chain_names(capability)
        raise HookFailed(f"no plugin answered {capability} (chain: {chain})")

    # -- helpers --------------------------------------------------------------------------

    def _chain_names(self, capability: str) -> str:
        return ", ".join(name for name, _ in self.chain(capability)) or "empty"

    def _validated(self, capability: str, request: BaseModel | Mapping[str, Any]) -> BaseModel:
        model = REQUESTS[capability]  # type: ignore[index]
        if isinstance(request, model):
            return request
        if isinstance(request, BaseModel):
            raise InvalidRequest(
                f"{capability} takes a {model.__name__}, not a {type(request).__name__}"
            )
        try:
            return model.model_validate(request)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidRequest(f"invalid {capability} request: {problems}") from None

    def _context(
        self,
        capability: str,
        cfg: CapabilitySettings,
        decision_id: str,
        started: float,
        server_name: str | None = None,
    ) -> HookContext:
        server = server_name or cfg.server_name or self.settings.server_name
        secret = self.settings.signing_secrets.get(server.upper())
        return HookContext(
            capability=capability,
            settings=cfg,
            registry=self.registry,
            deadline=started + cfg.total_budget,
            decision_id=decision_id,
            server_name=server,
            signing_secret=secret.get_secret_value() if secret is not None else None,
        )

    def _record(self, outcome: Outcome, request: BaseModel) -> Outcome:
        """Record ``outcome`` and answer it; under ``audit.when_full = refuse`` an allow the
        audit trail cannot keep (its queue is full) is refused instead, and that is recorded."""
        must_keep = self._refuse_unrecorded and outcome.allowed
        if self.recorder.record(outcome, request, must_keep=must_keep) or not must_keep:
            return outcome
        refused = Outcome(
            capability=outcome.capability,
            decision_id=outcome.decision_id,
            allowed=False,
            code=DENY_CODES.get(outcome.capability, AUTHENTICATION_ERROR),
            message="refused: the audit trail cannot keep up (its queue is full) and "
            "audit.when_full refuses what it cannot record",
            failed=True,
            error="audit trail full",
            elapsed=outcome.elapsed,
        )
        self.recorder.record(refused, request)
        return refused

    def _unhealthy(self, pending: _Pending) -> str | None:
        """Why the service of ``pending`` is not to be called (its health check is critical),
        or None."""
        if self.registry is None:
            return None
        server = pending.context.server_name.upper()
        if self.registry.health.status(server, pending.capability) != CRITICAL:
            return None
        return f"not called: service {server}/{pending.capability} is critical (health check)"


__all__ = [
    "API_READER",
    "DECISIONS",
    "Answer",
    "Dispatcher",
    "HookFailed",
    "InvalidRequest",
    "Outcome",
]
