from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.metrics import Metrics

LABELS = {"service": "chat", "version": "v2", "route": "/v1/chat/completions"}


def event(**fields: Any) -> RequestEvent:
    return RequestEvent(
        service=LABELS["service"], version=LABELS["version"], route=LABELS["route"], **fields
    )


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.render().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found[(name, frozenset(labels.items()))]


@pytest.fixture
def observed() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    metrics = Metrics()
    metrics.observe(
        event(
            ts=0.0, status=200, latency_ms=1500.0, model="gpt-4o", ttft_ms=300.0,
            is_stream=True, input_tokens=1000, output_tokens=200, cached_tokens=100,
            reasoning_tokens=7, cost_usd=0.004, guardrails=("pii", "max_tokens"), overhead_ms=0.8,
        )
    )  # fmt: skip
    metrics.observe(
        event(
            ts=1.0, status=504, latency_ms=30_000.0, model="gpt-4o",
            error_class="timeout", input_tokens=500, cost_usd=0.001, guardrails=("pii",),
        )
    )  # fmt: skip
    metrics.observe(event(ts=2.0, status=429, latency_ms=2.0, error_class="rate_limited"))
    metrics.record_written(3)
    metrics.record_dropped(2)
    return samples(metrics)


def test_counters_count_requests_errors_tokens_cost_and_guardrails(
    observed: dict[tuple[str, frozenset[tuple[str, str]]], float],
) -> None:
    gpt = {**LABELS, "model": "gpt-4o"}
    unknown = {**LABELS, "model": ""}
    assert value(observed, "prodloop_requests_total", **gpt) == 2
    assert value(observed, "prodloop_requests_total", **unknown) == 1
    assert value(observed, "prodloop_errors_total", **gpt, error_class="timeout") == 1
    assert value(observed, "prodloop_errors_total", **unknown, error_class="rate_limited") == 1
    assert value(observed, "prodloop_tokens_total", **gpt, type="input") == 1500
    assert value(observed, "prodloop_tokens_total", **gpt, type="output") == 200
    assert value(observed, "prodloop_tokens_total", **gpt, type="cached") == 100
    assert value(observed, "prodloop_tokens_total", **gpt, type="reasoning") == 7
    assert value(observed, "prodloop_cost_usd_total", **gpt) == pytest.approx(0.005)
    assert value(observed, "prodloop_cost_unknown_total", **unknown) == 1
    assert value(observed, "prodloop_cost_unknown_total", **gpt) == 0
    assert value(observed, "prodloop_guardrail_triggers_total", **gpt, guardrail="pii") == 2
    assert value(observed, "prodloop_guardrail_triggers_total", **gpt, guardrail="max_tokens") == 1
    assert value(observed, "prodloop_events_written_total") == 3
    assert value(observed, "prodloop_events_dropped_total") == 2


def test_histograms_follow_the_genai_conventions(
    observed: dict[tuple[str, frozenset[tuple[str, str]]], float],
) -> None:
    gpt = {**LABELS, "model": "gpt-4o"}
    duration = "gen_ai_client_operation_duration_seconds"
    assert value(observed, f"{duration}_count", **gpt) == 2
    assert value(observed, f"{duration}_sum", **gpt) == pytest.approx(31.5)
    assert value(observed, f"{duration}_bucket", **gpt, le="2.56") == 1
    assert value(observed, f"{duration}_bucket", **gpt, le="+Inf") == 2
    ttft = "gen_ai_server_time_to_first_token_seconds"
    assert value(observed, f"{ttft}_count", **gpt) == 1
    assert value(observed, f"{ttft}_sum", **gpt) == pytest.approx(0.3)
    usage = "gen_ai_client_token_usage"
    assert value(observed, f"{usage}_sum", **gpt, gen_ai_token_type="input") == 1500
    assert value(observed, f"{usage}_sum", **gpt, gen_ai_token_type="output") == 200
    assert value(observed, f"{usage}_count", **gpt, gen_ai_token_type="input") == 2
    # A request no model answered used no tokens, so it is not in the usage histogram.
    unknown = {**LABELS, "model": ""}
    assert value(observed, f"{usage}_count", **unknown, gen_ai_token_type="input") == 0
    overhead = "prodloop_gateway_overhead_seconds"
    assert value(observed, f"{overhead}_count", **gpt) == 1
    assert value(observed, f"{overhead}_sum", **gpt) == pytest.approx(0.0008)


def test_metrics_use_the_registry_given() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.observe(event(ts=0.0, status=200, latency_ms=10.0))
    assert registry.get_sample_value("prodloop_requests_total", {**LABELS, "model": ""}) == 1
    assert Metrics().registry is not Metrics().registry
