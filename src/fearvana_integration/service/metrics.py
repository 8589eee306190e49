"""Prometheus metrics of one app (its own registry: nothing global, nothing at import time)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from fearvana_integration.runtime import Runtime
from fearvana_integration.service.throttle import Verdict

BREAKER_STATES = {"CLOSED": 0, "HALF_OPEN": 1, "OPEN": 2}
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _RuntimeCollector(Collector):
    """Breaker states and cache counters, read when Prometheus scrapes."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        states = GaugeMetricFamily(
            "fearvana_circuit_breaker_state", "Circuit breaker state (0 closed, 1 half-open, 2 open)", labels=["source"]
        )
        failures = GaugeMetricFamily(
            "fearvana_circuit_breaker_failures", "Consecutive counted failures", labels=["source"]
        )
        for name, breaker in self.runtime.breakers.items():
            states.add_metric([name], BREAKER_STATES[breaker.last_known.state])
            failures.add_metric([name], breaker.last_known.failures)
        hits = CounterMetricFamily("fearvana_cache_hits", "Cache hits (coalesced waiters included)")
        hits.add_metric([], self.runtime.cache.hits)
        misses = CounterMetricFamily("fearvana_cache_misses", "Cache misses (calls to a source)")
        misses.add_metric([], self.runtime.cache.misses)
        yield from (states, failures, hits, misses)


class Metrics:
    """Request latency, per-source latency and errors, breaker states, cache hits and misses, failed
    authentications and the blocks they caused."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "fearvana_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sources = Histogram(
            "fearvana_source_call_duration_seconds",
            "Latency of calls to the store and providers",
            ["source", "operation", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.source_errors = Counter(
            "fearvana_source_errors",
            "Failed calls to the store and providers",
            ["source", "kind"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "fearvana_auth_failures",
            "Failed or missing authentications, by the status answered (401 counted, 429 client blocked)",
            ["status"],
            registry=self.registry,
        )
        self.auth_blocks = Counter(
            "fearvana_auth_blocks",
            "Clients blocked after repeated failed authentications, by who decided (mirror: Redis did not answer)",
            ["store"],
            registry=self.registry,
        )
        # Every series exists from the start (at 0), so rate() and increase() alerts see the first one.
        for status in ("401", "429"):
            self.auth_failures.labels(status)
        for store in ("memory", "redis", "mirror"):
            self.auth_blocks.labels(store)
        self.registry.register(_RuntimeCollector(runtime))
        runtime.guard.observer = self.observe_source

    def observe_source(self, source: str, operation: str, seconds: float, outcome: str) -> None:
        """Called by the SourceGuard after every source call."""
        self.sources.labels(source, operation, "ok" if outcome == "ok" else "error").observe(seconds)
        if outcome != "ok":
            self.source_errors.labels(source, outcome).inc()

    def observe_auth_failure(self, verdict: Verdict) -> None:
        """Called by ``authenticate`` for every failed or missing authentication."""
        self.auth_failures.labels("429" if verdict.blocked_for > 0 else "401").inc()
        if verdict.new_block:
            self.auth_blocks.labels(verdict.store).inc()

    def render(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)
