"""Dispatch: chains, deadlines, failure policy, cache, metrics and the decision log."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from fate_registry import Deferred, decision_cache, hookimpl, nonblocking
from fate_registry.capabilities import (
    CAPABILITIES,
    Decision,
    PermissionRequest,
    QueryAnswer,
    Signature,
)
from fate_registry.decision_cache import TTLCache
from fate_registry.dispatch import Dispatcher, InvalidRequest
from fate_registry.metrics import RESULTS, HookMetrics
from fate_registry.plugins import PluginInfo, PluginManager, UnknownPlugins, build_plugin_manager
from fate_registry.settings import CAPABILITY_DEFAULTS, HooksSettings

CLIENT = {"full_path": "/v1/job/submit", "headers": {"APP_KEY": "k"}}
# A decision cut at its deadline must return near it, not at its plugins' pace. The checks give
# a loaded machine (load 4 on 2 cores) seconds of slack, and a hung plugin takes far longer
# (until released at the end of its test), so neither passes for the other.
HANG = 30.0  # seconds a hung plugin takes unless released
PERMISSION = {"src_role": "guest", "src_party_id": "9999", "component_list": ["reader_0"]}


class Answers:
    """A local plugin answering every decision with ``answer`` (or raising it), after
    ``delay`` seconds or when ``release`` is set, whichever comes first."""

    def __init__(self, answer: Any = None, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.release = threading.Event()
        self.calls = 0
        self.threads: list[str] = []

    def _answer(self) -> Any:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        if self.delay:
            self.release.wait(self.delay)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    @hookimpl
    def client_authentication(self) -> Any:
        return self._answer()

    @hookimpl
    def site_authentication(self) -> Any:
        return self._answer()

    @hookimpl
    def permission(self) -> Any:
        return self._answer()

    @hookimpl
    def signature(self) -> Any:
        return self._answer()


def manager(**plugins: object) -> PluginManager:
    pm = build_plugin_manager(load=set(), entry_points=[])
    for name, plugin in plugins.items():
        pm.register(plugin, name)
    return pm


def dispatcher(plugins: PluginManager, **capabilities: dict[str, Any]) -> Dispatcher:
    return Dispatcher(
        settings=HooksSettings(**capabilities), plugins=plugins, metrics=HookMetrics()
    )


def test_first_definite_answer_wins_for_authentication() -> None:
    silent, yes, no = Answers(None), Answers(Decision.allow()), Answers(Decision.deny("no"))
    d = dispatcher(
        manager(silent=silent, yes=yes, no=no), client_authentication={"chain": "silent,yes,no"}
    )
    outcome = d.client_authentication(CLIENT)
    assert (outcome.allowed, outcome.plugin, no.calls) == (True, "yes", 0)


def test_default_chain_is_every_plugin_in_registration_order() -> None:
    d = dispatcher(manager(a=Answers(None), b=Answers(Decision.allow())))
    assert [name for name, _ in d.chain("permission")] == ["a", "b"]


def test_deny_stops_the_chain() -> None:
    no, yes = Answers(Decision.deny("bad key", code=109)), Answers(Decision.allow())
    outcome = dispatcher(manager(no=no, yes=yes)).client_authentication(CLIENT)
    assert (outcome.allowed, outcome.code, outcome.message, yes.calls) == (False, 109, "bad key", 0)


def test_permission_needs_every_opinion_to_allow() -> None:
    yes, silent, no = Answers(Decision.allow()), Answers(None), Answers(Decision.deny("x", 108))
    assert dispatcher(manager(yes=yes, silent=silent)).permission(PERMISSION).allowed
    outcome = dispatcher(manager(yes=yes, silent=silent, no=no)).permission(PERMISSION)
    assert (outcome.allowed, outcome.plugin, outcome.code) == (False, "no", 108)


def test_no_opinion_gets_the_default_deny_unless_configured() -> None:
    pm = manager(silent=Answers(None))
    denied = dispatcher(pm).permission(PERMISSION)
    assert (denied.allowed, denied.code, denied.plugin) == (False, 108, None)
    assert "no plugin had an opinion" in denied.message
    assert dispatcher(pm, permission={"default": "allow"}).permission(PERMISSION).allowed


def test_an_empty_chain_denies() -> None:
    assert (
        not dispatcher(manager())
        .site_authentication({"src_party_id": "1", "site_signature": "s", "body": {}})
        .allowed
    )


def test_error_under_deny_policy_denies_and_says_so() -> None:
    metrics = HookMetrics()
    d = Dispatcher(
        settings=HooksSettings(), plugins=manager(boom=Answers(KeyError("x"))), metrics=metrics
    )
    outcome = d.permission(PERMISSION)
    assert (outcome.allowed, outcome.failed, outcome.failed_open) == (False, True, False)
    assert "KeyError" in (outcome.error or "")
    assert (
        metrics.value(
            "fate_registry_hook_calls_total", capability="permission", plugin="boom", result="error"
        )
        == 1
    )


def test_error_under_allow_policy_fails_open_and_is_counted() -> None:
    metrics = HookMetrics()
    d = Dispatcher(
        settings=HooksSettings(client_authentication={"failure_policy": "allow"}),
        plugins=manager(boom=Answers(RuntimeError("down"))),
        metrics=metrics,
    )
    outcome = d.client_authentication(CLIENT)
    assert (outcome.allowed, outcome.failed, outcome.failed_open) == (True, True, True)
    assert (
        metrics.value(
            "fate_registry_hook_failed_open_total",
            capability="client_authentication",
            plugin="boom",
        )
        == 1
    )
    assert (
        metrics.value(
            "fate_registry_decisions_total",
            capability="client_authentication",
            result="failed_open",
        )
        == 1
    )


def test_failing_open_in_permission_still_asks_the_others() -> None:
    d = dispatcher(
        manager(boom=Answers(RuntimeError()), no=Answers(Decision.deny("no", 108))),
        permission={"failure_policy": "allow"},
    )
    assert not d.permission(PERMISSION).allowed


def test_a_hung_plugin_is_abandoned_at_the_timeout() -> None:
    hung = Answers(Decision.allow(), delay=HANG)
    d = dispatcher(manager(hung=hung), permission={"timeout": 0.5})
    started = time.monotonic()
    try:
        outcome = d.permission(PERMISSION)
        elapsed = time.monotonic() - started
    finally:
        hung.release.set()
        d.close()
    assert elapsed < 3, f"took {elapsed:.2f} s"  # the 0.5 s timeout, not the plugin's 30 s
    assert (outcome.allowed, outcome.failed) == (False, True)
    assert "timed out" in (outcome.error or "")


def test_budget_bounds_the_whole_chain() -> None:
    # Each plugin answers within its own 2 s timeout; the eight of them would take 5.6 s.
    slow = {name: Answers(None, delay=0.7) for name in "abcdefgh"}
    d = dispatcher(manager(**slow), permission={"timeout": 2, "budget": 1})
    started = time.monotonic()
    try:
        outcome = d.permission(PERMISSION)
        elapsed = time.monotonic() - started
    finally:
        for plugin in slow.values():
            plugin.release.set()
        d.close()
    assert elapsed < 3, f"took {elapsed:.2f} s"  # the 1 s budget, not the chain's 5.6 s
    assert outcome.failed and not outcome.allowed
    assert "timed out" in (outcome.error or "")


def test_a_chain_naming_a_plugin_not_installed_is_a_configuration_error() -> None:
    plugins = manager(yes=Answers(Decision.allow()))
    with pytest.raises(UnknownPlugins) as caught:
        dispatcher(plugins, client_authentication={"chain": ["ghost", "yes"]})
    assert str(caught.value) == (
        "hooks.client_authentication.chain names no installed plugin: 'ghost'; installed: yes"
    )


def test_a_chain_naming_a_plugin_without_that_hook_is_a_configuration_error() -> None:
    class UploadOnly:
        @hookimpl
        def upload(self) -> Any:
            return None

    with pytest.raises(UnknownPlugins) as caught:
        dispatcher(manager(files=UploadOnly()), permission={"chain": "files"})
    assert str(caught.value) == (
        "hooks.permission.chain: plugin 'files' does not implement permission (its hooks: upload)"
    )


def test_a_chain_naming_an_installed_plugin_not_loaded_fails_under_the_policy() -> None:
    plugins = manager(yes=Answers(Decision.allow()))
    plugins.entries["ghost"] = PluginInfo("ghost", "ghost-plugin", "1.0", status="disabled")
    d = dispatcher(plugins, client_authentication={"chain": ["ghost", "yes"]})
    outcome = d.client_authentication(CLIENT)
    assert not outcome.allowed
    assert "'ghost' is in the chain but not loaded" in (outcome.error or "")


def test_a_wrong_answer_type_is_an_error_not_an_allow() -> None:
    d = dispatcher(manager(odd=Answers({"code": 0})))
    outcome = d.permission(PERMISSION)
    assert not outcome.allowed and "not a Decision" in (outcome.error or "")


def test_signature_outcome_carries_the_signature() -> None:
    d = dispatcher(manager(signer=Answers(Signature.signed("c2ln"))))
    outcome = d.signature({"party_id": "9999", "body": {"a": 1}})
    assert (outcome.allowed, outcome.signature) == (True, "c2ln")


def test_signature_allowed_without_a_signature_is_an_error() -> None:
    outcome = dispatcher(manager(liar=Answers(Decision.allow()))).signature(
        {"party_id": "9999", "body": {}}
    )
    assert not outcome.allowed and outcome.signature is None and outcome.failed


def test_cache_answers_repeats_until_the_ttl() -> None:
    yes = Answers(Decision.allow())
    # a TTL a loaded machine cannot overrun between two calls in a row
    d = dispatcher(manager(yes=yes), permission={"allow_ttl": 1})
    first, second = d.permission(PERMISSION), d.permission(PERMISSION)
    assert (first.cached, second.cached, yes.calls) == (False, True, 1)
    assert first.decision_id != second.decision_id
    time.sleep(1.05)
    assert not d.permission(PERMISSION).cached


def test_denials_have_their_own_ttl() -> None:
    no = Answers(Decision.deny("no", 108))
    d = dispatcher(manager(no=no), permission={"deny_ttl": 0})
    d.permission(PERMISSION)
    d.permission(PERMISSION)
    assert no.calls == 2


class Clock:
    """``time`` as the decision cache reads it: a monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("answer", "ttls"),
    [
        (Decision.deny("no", 108), {"allow_ttl": 600, "deny_ttl": 30}),
        (Decision.allow(), {"allow_ttl": 30, "deny_ttl": 600}),
    ],
    ids=["deny", "allow"],
)
def test_a_decision_is_kept_for_the_ttl_of_its_kind(
    monkeypatch: pytest.MonkeyPatch, answer: Decision, ttls: dict[str, float]
) -> None:
    clock = Clock()
    monkeypatch.setattr(decision_cache, "time", clock)
    plugin = Answers(answer)
    d = dispatcher(manager(plugin=plugin), permission=ttls)
    first = d.permission(PERMISSION)
    clock.now += 29
    second = d.permission(PERMISSION)
    clock.now += 2
    third = d.permission(PERMISSION)
    assert [o.cached for o in (first, second, third)] == [False, True, False]
    assert (second.allowed, second.code) == (answer.allowed, answer.code)
    assert plugin.calls == 2


def test_failures_are_never_cached() -> None:
    boom = Answers(RuntimeError())
    d = dispatcher(manager(boom=boom))
    d.permission(PERMISSION)
    d.permission(PERMISSION)
    assert boom.calls == 2


def test_client_authentication_is_not_cached_by_default() -> None:
    yes = Answers(Decision.allow())
    d = dispatcher(manager(yes=yes))
    d.client_authentication(CLIENT)
    assert not d.client_authentication(CLIENT).cached and yes.calls == 2


def test_plugins_run_in_worker_threads_unless_inline() -> None:
    yes = Answers(Decision.allow())
    dispatcher(manager(yes=yes)).client_authentication(CLIENT)
    dispatcher(manager(yes=yes), client_authentication={"inline": "yes"}).client_authentication(
        CLIENT
    )
    assert yes.threads[0].startswith("fate-registry-hook")
    assert yes.threads[1] == threading.current_thread().name


class Nonblocking:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.threads: list[str] = []

    @hookimpl
    @nonblocking
    def permission(self) -> Decision:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return Decision.allow()


def test_nonblocking_plugins_run_in_the_callers_thread() -> None:
    plugin = Nonblocking()
    assert dispatcher(manager(local=plugin)).permission(PERMISSION).allowed
    assert plugin.threads == [threading.current_thread().name]


def test_nonblocking_plugin_past_its_deadline_is_a_timeout() -> None:
    d = dispatcher(manager(slow=Nonblocking(delay=0.1)), permission={"timeout": 0.05})
    answer = d.permission(PERMISSION)
    assert not answer.allowed and answer.failed
    assert "timed out" in (answer.error or "")


class Deferring:
    """A @nonblocking plugin that needs I/O to finish some answers (as grants' max_uses)."""

    def __init__(self, answer: Decision, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.threads: list[str] = []

    def finish(self) -> Decision:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return self.answer

    @hookimpl
    @nonblocking
    def permission(self) -> Deferred:
        self.threads.append(threading.current_thread().name)
        return Deferred(self.finish)


@pytest.mark.parametrize("awaited", [False, True])
def test_a_deferred_answer_is_finished_in_a_worker_thread(awaited: bool) -> None:
    plugin = Deferring(Decision.deny("used up", 108))
    d = dispatcher(manager(local=plugin))
    if awaited:
        outcome = asyncio.run(d.decide_async("permission", PERMISSION))
    else:
        outcome = d.permission(PERMISSION)

    assert (outcome.allowed, outcome.message, outcome.plugin) == (False, "used up", "local")
    inline, finished = plugin.threads
    assert not inline.startswith("fate-registry-hook") and finished.startswith("fate-registry-hook")


def test_a_deferred_answer_is_bound_by_the_deadline() -> None:
    d = dispatcher(manager(slow=Deferring(Decision.allow(), delay=2)), permission={"timeout": 0.1})
    outcome = d.permission(PERMISSION)
    assert not outcome.allowed and "timed out" in (outcome.error or "")


def test_an_answer_is_not_cached_beyond_its_own_validity() -> None:
    plugin = Answers(Decision.allow(valid_until=time.time() + 3600))
    expired = Answers(Decision.allow(valid_until=time.time() - 1))
    d = dispatcher(manager(a=plugin, b=expired), permission={"chain": ["a"], "allow_ttl": 60})
    d.permission(PERMISSION)
    assert d.permission(PERMISSION).cached
    e = dispatcher(manager(b=expired), permission={"chain": ["b"], "allow_ttl": 60})
    e.permission(PERMISSION)
    assert not e.permission(PERMISSION).cached and expired.calls == 2


def test_invalid_request_names_the_field() -> None:
    d = dispatcher(manager())
    with pytest.raises(InvalidRequest, match="src_party_id"):
        d.permission({"src_role": "guest"})
    with pytest.raises(InvalidRequest, match="takes a PermissionRequest"):
        d.decide("permission", Decision.allow())
    with pytest.raises(InvalidRequest, match="not a decision"):
        d.decide("upload", {})


def test_request_models_are_accepted_as_is() -> None:
    d = dispatcher(manager(yes=Answers(Decision.allow())))
    assert d.permission(PermissionRequest.model_validate(PERMISSION)).allowed


def test_decisions_are_logged_with_id_and_secrets_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fate_registry.decisions")
    d = dispatcher(manager(yes=Answers(Decision.allow())))
    outcome = d.client_authentication(
        {"full_path": "/x", "headers": {"SIGNATURE": "s3cret", "APP_KEY": "key1"}}
    )
    assert outcome.decision_id in caplog.text
    assert "s3cret" not in caplog.text and "key1" not in caplog.text


@pytest.mark.parametrize("policy", ["deny", "allow"])
def test_a_failed_decision_is_logged_at_warning_with_its_error(
    caplog: pytest.LogCaptureFixture, policy: str
) -> None:
    caplog.set_level(logging.INFO, logger="fate_registry.decisions")
    boom = Answers(RuntimeError("the service is down"))
    outcome = dispatcher(manager(boom=boom), permission={"failure_policy": policy}).permission(
        PERMISSION
    )
    logged = [r for r in caplog.records if outcome.decision_id in r.getMessage()]
    assert [r.levelname for r in logged] == ["WARNING"]
    assert "the service is down" in logged[0].getMessage()
    assert f"failed_{'open' if policy == 'allow' else 'closed'}" in logged[0].getMessage()


def test_a_decision_without_failure_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fate_registry.decisions")
    d = dispatcher(manager(no=Answers(Decision.deny("no", 108))))
    outcome = d.permission(PERMISSION)
    logged = [r for r in caplog.records if outcome.decision_id in r.getMessage()]
    assert [r.levelname for r in logged] == ["INFO"]


def test_metrics_count_calls_by_result_with_latency() -> None:
    metrics = HookMetrics()
    d = Dispatcher(
        plugins=manager(yes=Answers(Decision.allow()), no=Answers(None)),
        settings=HooksSettings(permission={"cache": False}),
        metrics=metrics,
    )
    d.permission(PERMISSION)
    d.permission(PERMISSION)
    assert (
        metrics.value(
            "fate_registry_hook_calls_total", capability="permission", plugin="yes", result="allow"
        )
        == 2
    )
    assert (
        metrics.value(
            "fate_registry_hook_calls_total",
            capability="permission",
            plugin="no",
            result="no_opinion",
        )
        == 2
    )
    assert (
        metrics.value(
            "fate_registry_hook_call_seconds_count", capability="permission", plugin="yes"
        )
        == 2
    )
    assert b"fate_registry_decisions_total" in metrics.exposition()


def test_a_hung_capability_cannot_take_the_workers_of_the_others() -> None:
    hung, prompt = Answers(Decision.allow(), delay=HANG), Answers(Decision.allow())
    pm = manager(hung=hung, prompt=prompt)
    d = dispatcher(
        pm,
        max_workers=4,  # type: ignore[arg-type]
        permission={"chain": "hung", "timeout": 0.1, "cache": False},
        # ample for a prompt plugin on a loaded machine; behind the hung ones it would time out
        site_authentication={"chain": "prompt", "timeout": 5},
    )
    try:
        for _ in range(4):  # more hung calls than there are workers
            assert d.permission(PERMISSION).failed
        outcome = d.site_authentication({"src_party_id": "1", "site_signature": "s"})
    finally:
        hung.release.set()
        d.close()
    assert (outcome.allowed, outcome.failed) == (True, False), outcome.error


def test_after_close_plugin_calls_fail_at_once_with_a_clear_error() -> None:
    d = dispatcher(manager(yes=Answers(Decision.allow())), permission={"timeout": HANG})
    d.close()
    started = time.monotonic()
    outcome = d.permission(PERMISSION)
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"took {elapsed:.2f} s"  # at once, not at the 30 s timeout
    assert not outcome.allowed and "shut down" in (outcome.error or "")


def test_capability_defaults_come_from_one_table() -> None:
    assert tuple(CAPABILITY_DEFAULTS) == CAPABILITIES
    for capability in CAPABILITIES:
        implicit = HooksSettings().capability(capability)
        assert implicit == HooksSettings.model_validate({capability: {}}).capability(capability)


def test_decision_cache_expiry_never_drops_an_entry_written_meanwhile() -> None:
    """Thread A finds an expired entry; thread B writes a fresh one before A drops the old."""
    cache: TTLCache[str] = TTLCache()
    cache.put("k", "old", 0.01)
    time.sleep(0.02)

    class Interleaved(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            entry = super().get(key, default)
            writer = threading.Thread(target=cache.put, args=("k", "new", 60))
            writer.start()
            writer.join(0.2)  # a locked cache makes the writer wait for this get to finish
            self.writer = writer
            return entry

    cache._data = data = Interleaved(cache._data)
    assert cache.get("k") is None  # the expired entry
    data.writer.join(1)
    assert dict.get(data, "k", (0, None))[1] == "new"


def calls(metrics: HookMetrics, capability: str, plugin: str) -> dict[str, float]:
    """Every calls sample of one plugin by result, the histogram's count under 'observed'."""
    counts = {
        result: metrics.value(
            "fate_registry_hook_calls_total", capability=capability, plugin=plugin, result=result
        )
        for result in (*RESULTS, "failed_open")
    }
    counts["observed"] = metrics.value(
        "fate_registry_hook_call_seconds_count", capability=capability, plugin=plugin
    )
    return {name: count for name, count in counts.items() if count}


@pytest.mark.parametrize(
    ("answer", "capability", "policy", "result"),
    [
        (Decision.allow(), "permission", "deny", "allow"),
        (Decision.deny("no", 108), "permission", "deny", "deny"),
        (None, "permission", "deny", "no_opinion"),
        ({"code": 0}, "permission", "deny", "error"),  # a wrong type
        (Decision.allow(), "signature", "deny", "error"),  # an allow without a signature
        (RuntimeError("down"), "permission", "allow", "error"),  # fails open
        (RuntimeError("down"), "client_authentication", "allow", "error"),  # fails open
    ],
)
def test_each_plugin_call_is_counted_once_with_one_latency_sample(
    answer: Any, capability: str, policy: str, result: str
) -> None:
    metrics = HookMetrics()
    d = Dispatcher(
        settings=HooksSettings(**{capability: {"failure_policy": policy}}),  # type: ignore[arg-type]
        plugins=manager(one=Answers(answer)),
        metrics=metrics,
    )
    request = {"party_id": "9999"} if capability == "signature" else PERMISSION
    d.decide(capability, request if capability != "client_authentication" else CLIENT)
    assert calls(metrics, capability, "one") == {result: 1, "observed": 1}
    failed_open = metrics.value(
        "fate_registry_hook_failed_open_total", capability=capability, plugin="one"
    )
    assert failed_open == (1 if policy == "allow" else 0)


def test_a_plugin_not_called_is_counted_without_a_latency_sample() -> None:
    metrics = HookMetrics()
    plugins = manager()
    plugins.entries["ghost"] = PluginInfo("ghost", "ghost-plugin", "1.0", status="disabled")
    d = Dispatcher(
        settings=HooksSettings(permission={"chain": ["ghost"]}),
        plugins=plugins,
        metrics=metrics,
    )
    d.permission(PERMISSION)
    assert calls(metrics, "permission", "ghost") == {"error": 1}


def test_cache_hits_are_logged_and_counted_as_decisions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fate_registry.decisions")
    metrics = HookMetrics()
    d = Dispatcher(plugins=manager(yes=Answers(Decision.allow())), metrics=metrics)
    d.permission(PERMISSION)
    hit = d.permission(PERMISSION)
    assert hit.cached
    logged = [r.getMessage() for r in caplog.records if hit.decision_id in r.getMessage()]
    assert len(logged) == 1 and logged[0].endswith("(cached)")
    assert (
        metrics.value("fate_registry_decisions_total", capability="permission", result="allow") == 2
    )
    assert metrics.value("fate_registry_decision_cache_hits_total", capability="permission") == 1


def test_api_reader_answers_say_which_plugin_gave_them() -> None:
    class Query:
        @hookimpl
        def query(self) -> QueryAnswer:
            return QueryAnswer(status="running", raw_status="RUNNING")

    answer, plugin = dispatcher(manager(silent=Answers(None), q=Query())).api_reader(
        "query", {"job_id": "j"}
    )
    assert (answer, plugin) == (QueryAnswer(status="running", raw_status="RUNNING"), "q")


def test_a_plugin_error_quoting_a_url_has_its_query_masked() -> None:
    error = OSError("Max retries exceeded with url: /allow?token=s3cret&a=1 (Caused by x)")
    outcome = dispatcher(manager(boom=Answers(error))).permission(PERMISSION)
    assert "s3cret" not in f"{outcome.message} {outcome.error}"
    assert "url: /allow?*** (Caused by x)" in (outcome.error or "")
