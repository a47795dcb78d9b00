"""The indicator each SLO is stated in, as the guide's table states it.

``error rate ≤ 1 %``, ``success rate ≥ 99.5 %``, ``p95 latency ≤ 2 s``, ``cost per request
≤ $0.002``, ``guardrail triggers per request ≤ x``: the value people read. Alert
thresholds are compared with `alert_indicator`, which for ratio SLOs is always the bad
share (a threshold alert on a success-rate SLO fires on the failure rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prodloop.config import Slo
from prodloop.slo.budget import tally
from prodloop.telemetry.rollups import Aggregate

Comparator = Literal["<=", ">="]


@dataclass(frozen=True, slots=True)
class Indicator:
    """What an SLO promises: `name` `comparator` `target`, in the indicator's unit."""

    name: str  # error_rate | success_rate | latency_p95_ms | cost_per_request_usd | …
    comparator: Comparator
    target: float
    unit: Literal["share", "ms", "usd"]


def indicator_of(slo: Slo) -> Indicator:
    """The indicator an SLO is stated in and its target."""
    if slo.kind == "latency":
        assert slo.threshold_ms is not None
        return Indicator(f"latency_p{slo.percentile:g}_ms", "<=", slo.threshold_ms, "ms")
    if slo.kind == "average":
        assert slo.target is not None
        return Indicator(f"{slo.metric}_usd", "<=", slo.target, "usd")
    if slo.kind == "rate":
        assert slo.target is not None
        return Indicator("guardrail_trigger_rate", "<=", slo.target, "share")
    assert slo.objective is not None
    if slo.bad == "errors":
        return Indicator("error_rate", "<=", 1.0 - slo.objective, "share")
    return Indicator("success_rate", ">=", slo.objective, "share")


def indicator_value(slo: Slo, aggregate: Aggregate) -> float | None:
    """The indicator's value over an aggregate of requests; None when it has none."""
    if slo.kind == "latency":
        return aggregate.latency_hist.quantile(slo.percentile / 100.0)
    share = tally(slo, aggregate).share
    if share is not None and slo.kind == "ratio" and slo.bad == "failures":
        return 1.0 - share
    return share


def alert_indicator(slo: Slo, aggregate: Aggregate) -> float | None:
    """The value a threshold alert compares with its `above`, in the alert's unit.

    Latency: the SLO's percentile (ms); ratio and rate: the bad share; average: the
    average. None when the aggregate has no eligible events.
    """
    if slo.kind == "latency":
        return aggregate.latency_hist.quantile(slo.percentile / 100.0)
    return tally(slo, aggregate).share
