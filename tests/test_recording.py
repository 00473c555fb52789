"""The recording seam: every decision goes to the metrics, the log and each sink; the console's
window keeps the last ones and per-minute counts, never a secret or a signature."""

from __future__ import annotations

import pytest

from fate_registry import hookimpl, nonblocking
from fate_registry.capabilities import Decision, PermissionRequest, Signature
from fate_registry.dispatch import Dispatcher, Outcome
from fate_registry.metrics import HookMetrics
from fate_registry.plugins import build_plugin_manager
from fate_registry.recording import Decided, decided
from fate_registry.settings import HooksSettings
from fate_registry.window import DecisionWindow

SECRET_SIGNATURE = "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1iZS1rZXB0"


class Plugin:
    @hookimpl
    @nonblocking
    def permission(self, request: object) -> Decision:
        return Decision.deny("no grant", 100)

    @hookimpl
    @nonblocking
    def signature(self, request: object) -> Signature:
        return Signature(allowed=True, signature=SECRET_SIGNATURE)


@pytest.fixture
def hooks() -> Dispatcher:
    plugins = build_plugin_manager(load=set(), entry_points=[])
    plugins.register(Plugin(), "local")
    dispatcher = Dispatcher(settings=HooksSettings(), plugins=plugins, metrics=HookMetrics())
    yield dispatcher
    dispatcher.close()


def test_each_decision_reaches_the_window_with_its_party_and_result(hooks: Dispatcher) -> None:
    hooks.permission({"src_party_id": "10000", "role": "host", "component_list": ["reader"]})
    hooks.permission({"src_party_id": "10000", "role": "host", "component_list": ["reader"]})

    recent = hooks.window.recent()
    assert [(d.capability, d.party, d.result, d.plugin) for d in recent] == [
        ("permission", "10000", "deny", "local")
    ] * 2
    assert [d.cached for d in recent] == [True, False]  # newest first
    summary = hooks.window.summary("permission")
    assert (summary["deny"], summary["allow"], summary["total"]) == (2, 0, 2)
    assert summary["p50_ms"] is not None


def test_what_is_kept_of_a_decision_holds_no_signature_nor_request(hooks: Dispatcher) -> None:
    kept: list[Decided] = []
    hooks.recorder.sinks.append(lambda o, r, at: kept.append(decided(o, r, at)))
    outcome = hooks.signature({"party_id": "9999", "body": {"secret_field": "s3cr3t"}})

    assert outcome.signature == SECRET_SIGNATURE
    for record in (kept[0], hooks.window.recent()[0]):
        values = [str(value) for value in record]
        assert not any(SECRET_SIGNATURE in v or "s3cr3t" in v for v in values), values
        assert record.party == "9999" and record.decision_id == outcome.decision_id


def test_a_sink_that_fails_is_logged_and_the_decision_goes_on(
    hooks: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*record: object) -> None:
        raise RuntimeError("disk full")

    hooks.recorder.sinks.insert(0, broken)
    outcome = hooks.permission({"src_party_id": "1", "role": "host", "component_list": ["x"]})

    assert not outcome.allowed
    assert hooks.window.recent()[0].decision_id == outcome.decision_id  # later sinks ran
    assert "a decision sink failed" in caplog.text


def test_the_window_is_bounded_and_counts_per_minute() -> None:
    window = DecisionWindow()
    request = PermissionRequest(src_party_id="1", role="host", component_list=["x"])
    for i in range(2000):
        minute = i // 1000  # two minutes of 1,000 decisions
        outcome = Outcome("permission", f"d{i}", True, 0, "ok", "p", elapsed=0.003)
        window(outcome, request, 60.0 * minute)

    assert len(window.recent(limit=10_000)) == 500
    minutes = window.minutes("permission", span=3, now=60.0)
    assert [sum(m.counts.values()) for m in minutes] == [0, 1000, 1000]
    assert window.summary("permission", span=2, now=60.0)["p99_ms"] == 4.0  # its bucket's bound
