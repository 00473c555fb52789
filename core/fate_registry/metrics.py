"""Prometheus metrics of the plugin framework, in a registry of their own (no global clashes)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# "rejected": not called, the capability had max_in_flight calls running or waiting already.
RESULTS = ("allow", "deny", "no_opinion", "error", "timeout", "rejected")
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class HookMetrics:
    """Calls by result and latency per capability and plugin; decisions and cache hits.

    Each plugin call is counted once, under one result of RESULTS. A failure that the policy
    turned into an allow is counted again on ``failed_open``, a counter of its own.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.calls = Counter(
            "fate_registry_hook_calls",
            "Plugin calls by capability, plugin and result",
            ("capability", "plugin", "result"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "fate_registry_hook_call_seconds",
            "Latency of plugin calls",
            ("capability", "plugin"),
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.failed_open = Counter(
            "fate_registry_hook_failed_open",
            "Plugin failures (errors, timeouts) that the failure policy answered with an allow",
            ("capability", "plugin"),
            registry=self.registry,
        )
        self.decisions = Counter(
            "fate_registry_decisions",
            "Decisions by capability and result (allow, deny, failed_open, failed_closed)",
            ("capability", "result"),
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "fate_registry_decision_cache_hits",
            "Decisions answered from the cache",
            ("capability",),
            registry=self.registry,
        )
        self._children: dict[tuple[str, ...], Any] = {}

    def call(self, capability: str, plugin: str, result: str, seconds: float | None) -> None:
        """One plugin call; ``seconds`` None when the plugin was not called (not loaded, no
        time left), so that the latency histogram holds only real calls."""
        key: tuple[str, ...] = ("c", capability, plugin, result)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self.calls.labels(capability, plugin, result)
        counter.inc()
        if seconds is None:
            return
        key = ("l", capability, plugin)
        histogram = self._children.get(key)
        if histogram is None:
            histogram = self._children[key] = self.latency.labels(capability, plugin)
        histogram.observe(seconds)

    def failed_opened(self, capability: str, plugin: str) -> None:
        key: tuple[str, ...] = ("f", capability, plugin)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self.failed_open.labels(capability, plugin)
        counter.inc()

    def decision(self, capability: str, result: str) -> None:
        key: tuple[str, ...] = ("d", capability, result)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self.decisions.labels(capability, result)
        counter.inc()

    def cache_hit(self, capability: str) -> None:
        key: tuple[str, ...] = ("h", capability)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self.cache_hits.labels(capability)
        counter.inc()

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when absent), for tests and the CLI."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


#: The metrics of every Dispatcher that is not given its own; served at ``/metrics``.
DEFAULT_METRICS = HookMetrics()
