"""Prometheus metrics of the plugin framework, in a registry of their own (no global clashes)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# "rejected": not called, the capability had max_in_flight calls running or waiting already;
# "unhealthy": not called, its service's health check is critical and fail_fast is on.
RESULTS = ("allow", "deny", "no_opinion", "error", "timeout", "rejected", "unhealthy")
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


class HealthMetrics:
    """Health checks: every node's view of each server and service (from the database), and
    the prober's own counts. A status is a number: 0 passing, 1 warning, 2 critical."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.server_status = Gauge(
            "fate_registry_server_health",
            "Status of a server's TCP check: 0 passing, 1 warning, 2 critical",
            ("server",),
            registry=self.registry,
        )
        self.service_status = Gauge(
            "fate_registry_service_health",
            "Status of a service (the worse of its HTTP check and its server's TCP check): "
            "0 passing, 1 warning, 2 critical",
            ("server", "service"),
            registry=self.registry,
        )
        self.prober = Gauge(
            "fate_registry_health_prober",
            "1 while this process holds the lease that makes it the database's prober",
            registry=self.registry,
        )
        self.rounds = Counter(
            "fate_registry_health_rounds",
            "Rounds of checks this process ran as the prober",
            registry=self.registry,
        )
        self.probes = Counter(
            "fate_registry_health_probes",
            "Checks this process ran, by kind (tcp, http) and status",
            ("kind", "status"),
            registry=self.registry,
        )
        self.probe_seconds = Histogram(
            "fate_registry_health_probe_seconds",
            "Duration of the checks this process ran",
            ("kind",),
            buckets=BUCKETS,
            registry=self.registry,
        )

    def probed(self, kind: str, status: str, seconds: float) -> None:
        self.probes.labels(kind, status).inc()
        self.probe_seconds.labels(kind).observe(seconds)

    def show(self, server: str, service: str | None, rank: int | None) -> None:
        """Set (``rank`` a number) or remove (None) one server's or service's status."""
        gauge = self.server_status if service is None else self.service_status
        labels = (server,) if service is None else (server, service)
        if rank is None:
            with suppress(KeyError):
                gauge.remove(*labels)
        else:
            gauge.labels(*labels).set(rank)


class AuditMetrics:
    """The audit trail's writer in this process: records written, dropped (the queue was full,
    or the process closed before they could be written), failed writes, pruned records, and
    the queue's length after the last write."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.written = Counter(
            "fate_registry_audit_written",
            "Decisions written to the audit trail",
            registry=self.registry,
        )
        self.dropped = Counter(
            "fate_registry_audit_dropped",
            "Decisions the audit trail could not keep (queue full, or not written at exit)",
            registry=self.registry,
        )
        self.failures = Counter(
            "fate_registry_audit_write_failures",
            "Writes of audit records that failed (tried again)",
            registry=self.registry,
        )
        self.pruned = Counter(
            "fate_registry_audit_pruned",
            "Audit records pruned by age or rows",
            registry=self.registry,
        )
        self.queue = Gauge(
            "fate_registry_audit_queue",
            "Decisions waiting to be written to the audit trail",
            registry=self.registry,
        )


#: The metrics of every Dispatcher that is not given its own; served at ``/metrics``.
DEFAULT_METRICS = HookMetrics()
#: The health checks' metrics, served beside them.
DEFAULT_HEALTH_METRICS = HealthMetrics(DEFAULT_METRICS.registry)
#: The audit trail's, beside them.
DEFAULT_AUDIT_METRICS = AuditMetrics(DEFAULT_METRICS.registry)
