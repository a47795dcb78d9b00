"""Prometheus metrics for every request event, named after OpenTelemetry's GenAI conventions.

The latency, time-to-first-token and token-usage histograms follow the GenAI semantic
conventions (``gen_ai.client.operation.duration``, ``gen_ai.server.time_to_first_token``,
``gen_ai.client.token.usage``, with their advised bucket boundaries); the rest are
prodloop's own counters. Every series carries service, version, route and model ("" when
the model is unknown).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client import Histogram as PromHistogram

from prodloop.config import SloSettings
from prodloop.telemetry.events import ERROR_CLASSES, RequestEvent

LABELS = ("service", "version", "route", "model")

# Bucket boundaries advised by the OpenTelemetry GenAI semantic conventions.
DURATION_BUCKETS_S = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TTFT_BUCKETS_S = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
# The gateway's own cost is sub-millisecond when healthy; these resolve that range.
OVERHEAD_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip

TOKEN_TYPES = ("input", "output", "cached", "reasoning")


def slo_latency_bounds_s(slos: SloSettings) -> tuple[float, ...]:
    """Every latency the SLOs and their alerts compare with, in seconds, sorted.

    Prometheus can only tell "slower than 2 s" exactly when 2 s is a bucket boundary of
    the latency histogram, so these become extra boundaries (see `Metrics`).
    """
    bounds: set[float] = set()
    for slo in slos.objectives:
        if slo.kind != "latency":
            continue
        if slo.threshold_ms is not None:
            bounds.add(slo.threshold_ms / 1000.0)
        if slo.alert is not None:
            bounds.add(slo.alert.above / 1000.0)
    return tuple(sorted(bounds))


def duration_buckets_s(extra_s: Iterable[float] = ()) -> tuple[float, ...]:
    """The latency histogram's boundaries: the GenAI ones plus `extra_s`."""
    extra = {bound for bound in extra_s if bound > 0 and math.isfinite(bound)}
    return tuple(sorted(extra.union(DURATION_BUCKETS_S)))


@dataclass(slots=True)
class _Series:
    """The children of every labelled metric for one (service, version, route, model)."""

    requests: Counter
    guardrail_requests: Counter
    tokens: tuple[Counter, Counter, Counter, Counter]  # in TOKEN_TYPES order
    cost: Counter
    cost_unknown: Counter
    duration: PromHistogram
    ttft: PromHistogram
    token_usage_input: PromHistogram
    token_usage_output: PromHistogram
    overhead: PromHistogram


class Metrics:
    """The metrics prodloop exposes on /metrics, on their own registry unless given one."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        extra_duration_buckets_s: Iterable[float] = (),
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "prodloop_requests", "LLM requests seen, whatever their outcome", LABELS, registry=reg
        )
        self.errors = Counter(
            "prodloop_errors",
            "requests that failed, by error_class; the server-side classes count against the SLO",
            (*LABELS, "error_class"),
            registry=reg,
        )
        self.tokens = Counter(
            "prodloop_tokens", "tokens by type: input, output, cached, reasoning",
            (*LABELS, "type"), registry=reg,
        )  # fmt: skip
        self.cost = Counter(
            "prodloop_cost_usd", "token cost in USD of requests with a known price",
            LABELS, registry=reg,
        )  # fmt: skip
        self.cost_unknown = Counter(
            "prodloop_cost_unknown", "requests whose model has no known price",
            LABELS, registry=reg,
        )  # fmt: skip
        self.guardrail_triggers = Counter(
            "prodloop_guardrail_triggers", "guardrail triggers by guardrail name",
            (*LABELS, "guardrail"), registry=reg,
        )  # fmt: skip
        self.guardrail_requests = Counter(
            "prodloop_guardrail_requests", "requests on which at least one guardrail triggered",
            LABELS, registry=reg,
        )  # fmt: skip
        self.events_dropped = Counter(
            "prodloop_events_dropped",
            "request events lost: the telemetry queue was full or the store refused them",
            registry=reg,
        )
        self.events_written = Counter(
            "prodloop_events_written", "request events written to the store", registry=reg
        )
        self.notification_failures = Counter(
            "prodloop_notification_failures",
            "notifications given up on after every delivery attempt failed, by notifier",
            ("notifier",),
            registry=reg,
        )
        self.duration = PromHistogram(
            "gen_ai_client_operation_duration_seconds", "GenAI operation duration",
            LABELS, buckets=duration_buckets_s(extra_duration_buckets_s), registry=reg,
        )  # fmt: skip
        self.ttft = PromHistogram(
            "gen_ai_server_time_to_first_token_seconds", "time to the first streamed token",
            LABELS, buckets=TTFT_BUCKETS_S, registry=reg,
        )  # fmt: skip
        self.token_usage = PromHistogram(
            "gen_ai_client_token_usage", "tokens per request, by gen_ai_token_type",
            (*LABELS, "gen_ai_token_type"), buckets=TOKEN_BUCKETS, registry=reg,
        )  # fmt: skip
        self.overhead = PromHistogram(
            "prodloop_gateway_overhead_seconds", "time the gateway itself added to a request",
            LABELS, buckets=OVERHEAD_BUCKETS_S, registry=reg,
        )  # fmt: skip
        # Looking label children up costs more than updating them; the writer thread
        # observes every event, so the children are kept per label set.
        self._series: dict[tuple[str, str, str, str], _Series] = {}

    def _series_for(self, labels: tuple[str, str, str, str]) -> _Series:
        series = self._series.get(labels)
        if series is None:
            series = _Series(
                requests=self.requests.labels(*labels),
                guardrail_requests=self.guardrail_requests.labels(*labels),
                tokens=(
                    self.tokens.labels(*labels, "input"),
                    self.tokens.labels(*labels, "output"),
                    self.tokens.labels(*labels, "cached"),
                    self.tokens.labels(*labels, "reasoning"),
                ),
                cost=self.cost.labels(*labels),
                cost_unknown=self.cost_unknown.labels(*labels),
                duration=self.duration.labels(*labels),
                ttft=self.ttft.labels(*labels),
                token_usage_input=self.token_usage.labels(*labels, "input"),
                token_usage_output=self.token_usage.labels(*labels, "output"),
                overhead=self.overhead.labels(*labels),
            )
            # Every error class starts at zero with its label set: rate() only counts an
            # increase between two scrapes, so a series born at 1 would lose the first
            # errors of an outage, the ones that matter most for detecting it.
            for error_class in ERROR_CLASSES:
                self.errors.labels(*labels, error_class)
            self._series[labels] = series
        return series

    def observe(self, event: RequestEvent) -> None:
        """Count one request event in every metric it belongs to."""
        labels = (event.service, event.version, event.route, event.model or "")
        series = self._series_for(labels)
        series.requests.inc()
        if event.error_class is not None:
            self.errors.labels(*labels, event.error_class).inc()
        for counter, amount in zip(
            series.tokens,
            (event.input_tokens, event.output_tokens, event.cached_tokens, event.reasoning_tokens),
            strict=True,
        ):
            if amount > 0:
                counter.inc(amount)
        if event.cost_usd is None:
            series.cost_unknown.inc()
        elif event.cost_usd > 0:
            series.cost.inc(event.cost_usd)
        if event.guardrails:
            series.guardrail_requests.inc()
        for name in event.guardrails:
            self.guardrail_triggers.labels(*labels, name).inc()
        series.duration.observe(max(event.latency_ms, 0.0) / 1000.0)
        if event.ttft_ms is not None:
            series.ttft.observe(max(event.ttft_ms, 0.0) / 1000.0)
        # Token usage describes what a model consumed, so requests that never reached
        # one (refused by a limit, a guardrail, an unreachable upstream) are left out.
        if event.input_tokens > 0 or event.output_tokens > 0:
            series.token_usage_input.observe(event.input_tokens)
            series.token_usage_output.observe(event.output_tokens)
        if event.overhead_ms is not None:
            series.overhead.observe(max(event.overhead_ms, 0.0) / 1000.0)

    def record_written(self, count: int) -> None:
        """Count events the store accepted."""
        if count > 0:
            self.events_written.inc(count)

    def record_dropped(self, count: int) -> None:
        """Count events that were lost (full queue, or a store that kept refusing them)."""
        if count > 0:
            self.events_dropped.inc(count)

    def record_notification_failure(self, notifier: str, count: int = 1) -> None:
        """Count notifications `notifier` could not deliver; 0 just shows the series."""
        child = self.notification_failures.labels(notifier)
        if count > 0:
            child.inc(count)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST
