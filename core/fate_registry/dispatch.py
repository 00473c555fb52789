"""The facade FATE Flow calls, and the only code that applies policy to plugin answers.

Per capability: the chain of plugins, a deadline for the decision, the failure policy, the
decision cache, metrics and the decision log. Plugins only answer; they hold no policy.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

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
from .logsafe import printable
from .markers import NONBLOCKING
from .metrics import DEFAULT_METRICS, HookMetrics
from .plugins import PluginManager, plugin_manager
from .settings import CapabilitySettings, HooksSettings
from .workers import DeadlineExceeded, Workers

if TYPE_CHECKING:
    from .registry import Registry

log = logging.getLogger("fate_registry.decisions")

DENY_CODES = {"permission": PERMISSION_ERROR}
_SECRET_KEY = re.compile(r"sign|secret|token|passw|authoriz|cookie|key", re.IGNORECASE)
_URL_QUERY = re.compile(r"(/[^\s?'\"]*)\?[^\s'\")]+")  # a path's query: may carry tokens
_ID_PREFIX = os.urandom(3).hex()
_ids = itertools.count(1)
A = TypeVar("A", bound=BaseModel)


class InvalidRequest(RegistryError, ValueError):
    """A capability request is malformed; the message names each bad field."""


class HookFailed(RegistryError):
    """An ApiReader capability failed: a plugin errored, timed out, or none answered."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer of a decision, with how it was reached.

    ``failed`` is true when a plugin errored or timed out and the failure policy answered;
    ``failed_open`` when that answer was an allow. ``plugin`` is who answered (None: default).
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_decision_id() -> str:
    return f"{_ID_PREFIX}-{next(_ids):x}"


def mask(value: Any) -> Any:
    """``value`` with the values of secret-looking keys (signatures, tokens, keys) masked."""
    if isinstance(value, Mapping):
        return {
            k: ("***" if isinstance(k, str) and _SECRET_KEY.search(k) else mask(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


class _Failure(Exception):
    def __init__(self, result: str, message: str) -> None:
        self.result = result  # "error" or "timeout"
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


ANSWERS: dict[str, type[BaseModel]] = {
    "upload": UploadAnswer,
    "query": QueryAnswer,
    "download": DownloadAnswer,
}


class Dispatcher:
    """Runs a capability's chain of plugins under its settings; one per registry.

    Plugins not run inline go to worker threads, a pool per capability of
    ``max_workers // 7`` threads (at least 1). The dispatcher stops waiting at the deadline,
    but a plugin that ignores it keeps its thread: with one shared pool, a capability whose
    service hangs would take every thread and every other capability would time out. With a
    pool each, it fills only its own, and its later calls wait (and time out) within their
    deadline. A per-capability semaphore over a shared pool would do the same with more code.
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
        self.metrics = metrics if metrics is not None else DEFAULT_METRICS
        self._caches: dict[str, TTLCache[Outcome]] = {
            c: TTLCache(settings.cache_size) for c in DECISIONS
        }
        per_capability = max(1, settings.max_workers // len(CAPABILITIES))
        self._workers: dict[str, Workers] = {
            c: Workers(per_capability, name=f"fate-registry-hook-{c}") for c in CAPABILITIES
        }
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

    def upload(self, request: UploadRequest | Mapping[str, Any]) -> UploadAnswer:
        return self._first_answer("upload", request, UploadAnswer)[0]

    def query(self, request: QueryRequest | Mapping[str, Any]) -> QueryAnswer:
        return self._first_answer("query", request, QueryAnswer)[0]

    def download(self, request: DownloadRequest | Mapping[str, Any]) -> DownloadAnswer:
        return self._first_answer("download", request, DownloadAnswer)[0]

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
        """Stop the worker threads; calls of plugins that are not inline fail afterwards."""
        for workers in self._workers.values():
            workers.shutdown()

    # -- decisions ------------------------------------------------------------------------

    def decide(self, capability: str, request: BaseModel | Mapping[str, Any]) -> Outcome:
        """Run ``capability``'s chain on ``request`` and answer under its policy."""
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
            self._record(outcome, request)
            return outcome
        key = None
        if cfg.cache:
            key = request.model_dump_json()
            hit = self._caches[capability].get(key)
            if hit is not None:
                self.metrics.cache_hit(capability)
                elapsed = time.monotonic() - started
                outcome = replace(hit, decision_id=decision_id, cached=True, elapsed=elapsed)
                self._record(outcome, request)
                return outcome
        outcome = self._run_chain(capability, cfg, request, decision_id, started)
        if key is not None and not outcome.failed:
            ttl = cfg.allow_ttl if outcome.allowed else cfg.deny_ttl
            self._caches[capability].put(key, outcome, ttl)
        self._record(outcome, request)
        return outcome

    def _run_chain(
        self,
        capability: str,
        cfg: CapabilitySettings,
        request: BaseModel,
        decision_id: str,
        started: float,
    ) -> Outcome:
        deny_code = DENY_CODES.get(capability, AUTHENTICATION_ERROR)
        every_must_allow = capability == "permission"
        context = self._context(capability, cfg, decision_id, started)
        allowed_by: list[str] = []
        failed_open: list[str] = []
        errors: list[str] = []
        last_signature: str | None = None
        allow_message = "success"
        check = _check_signature if capability == "signature" else _check_decision

        def outcome(allowed: bool, code: int, message: str, plugin: str | None) -> Outcome:
            return Outcome(
                capability=capability,
                decision_id=decision_id,
                allowed=allowed,
                code=code,
                message=message,
                plugin=plugin,
                signature=last_signature if allowed else None,
                failed=bool(errors),
                failed_open=bool(failed_open) and allowed,
                error="; ".join(errors) or None,
                elapsed=time.monotonic() - started,
            )

        for name, impl in self.chain(capability):
            try:
                answer = self._invoke(capability, cfg, name, impl, context, request, check)
            except _Failure as failure:
                errors.append(f"{name}: {failure}")
                if cfg.failure_policy == "deny":
                    message = f"{capability} failed ({name}: {failure}); failure policy denies"
                    return outcome(False, deny_code, message, name)
                failed_open.append(name)
                self.metrics.failed_opened(capability, name)
                if every_must_allow:
                    continue
                return outcome(True, SUCCESS, f"failed open: {name}: {failure}", name)
            if answer is None:
                continue
            if not answer.allowed:
                return outcome(False, answer.code, answer.message, name)
            if isinstance(answer, Signature):
                last_signature = answer.signature
            if not every_must_allow:
                return outcome(True, answer.code, answer.message, name)
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

    def _invoke(
        self,
        capability: str,
        cfg: CapabilitySettings,
        name: str,
        impl: Any,
        context: HookContext,
        request: BaseModel,
        check: Callable[[Any], str],
    ) -> Any:
        """Call one plugin under the deadline and count the call once, under the result
        ``check`` gives its answer; raise _Failure on an error, a timeout or a wrong answer."""
        if impl is None:
            self.metrics.call(capability, name, "error", None)
            raise _Failure("error", f"plugin {name!r} is in the chain but not loaded")
        kwargs = {"context": context, "request": request}
        args = [kwargs[arg] for arg in impl.argnames]
        started = time.monotonic()
        remaining = context.deadline - started
        if remaining <= 0:
            self.metrics.call(capability, name, "timeout", None)
            raise _Failure("timeout", "no time left in the budget")
        answer: Any = None
        result = "error"
        failure: _Failure | None = None
        try:
            if name in cfg.inline or getattr(impl.function, NONBLOCKING, False):
                answer = impl.function(*args)
                if time.monotonic() > context.deadline:
                    raise DeadlineExceeded
            else:
                answer = self._workers[capability].call(impl.function, tuple(args), remaining)
            result = check(answer)
        except DeadlineExceeded:
            failure = _Failure("timeout", f"timed out after {time.monotonic() - started:.2f} s")
        except _WrongAnswer as exc:
            failure = _Failure("error", str(exc))
        except Exception as exc:  # its text may quote a URL: the query is masked
            failure = _Failure("error", _URL_QUERY.sub(r"\1?***", f"{type(exc).__name__}: {exc}"))
        elapsed = time.monotonic() - started
        self.metrics.call(capability, name, result if failure is None else failure.result, elapsed)
        if failure is not None:
            raise failure
        return answer

    # -- ApiReader ------------------------------------------------------------------------

    def api_reader(
        self, capability: str, request: BaseModel | Mapping[str, Any]
    ) -> tuple[BaseModel, str]:
        """Run an ApiReader ``capability``: its answer, and the name of the plugin that gave it."""
        if capability not in API_READER:
            raise InvalidRequest(f"{capability!r} is not ApiReader's; use one of {API_READER}")
        return self._first_answer(capability, request, ANSWERS[capability])

    def _first_answer(
        self, capability: str, request: BaseModel | Mapping[str, Any], answer_type: type[A]
    ) -> tuple[A, str]:
        started = time.monotonic()
        request = self._validated(capability, request)
        cfg = self.settings.capability(capability)
        context = self._context(capability, cfg, new_decision_id(), started)

        def check(answer: Any) -> str:
            if answer is None:
                return "no_opinion"
            if not isinstance(answer, answer_type):
                raise _WrongAnswer(
                    f"answered a {type(answer).__name__}, not a {answer_type.__name__}"
                )
            return "allow"

        for name, impl in self.chain(capability):
            try:
                answer = self._invoke(capability, cfg, name, impl, context, request, check)
            except _Failure as failure:
                raise HookFailed(f"{capability} failed in plugin {name!r}: {failure}") from None
            if answer is None:
                continue
            log.info(
                "%s %s by %s: %s", context.decision_id, capability, name, printable(str(answer))
            )
            return answer, name
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
        self, capability: str, cfg: CapabilitySettings, decision_id: str, started: float
    ) -> HookContext:
        server = cfg.server_name or self.settings.server_name
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

    def _record(self, outcome: Outcome, request: BaseModel) -> None:
        if outcome.failed:
            result = "failed_open" if outcome.allowed else "failed_closed"
        else:
            result = "allow" if outcome.allowed else "deny"
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
            log.debug("decision %s request %s", outcome.decision_id, mask(request.model_dump()))


__all__ = ["API_READER", "DECISIONS", "Dispatcher", "HookFailed", "InvalidRequest", "Outcome"]
