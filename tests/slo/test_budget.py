"""Error budgets, burn rates and indicators: the arithmetic, by example and by property."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodloop.config import Slo, guide_slos
from prodloop.slo.budget import (
    Tally,
    allowed_share,
    budget_remaining,
    burn_rate,
    error_budget,
    is_met,
    tally,
)
from prodloop.slo.indicators import indicator_of, indicator_value
from prodloop.telemetry.histogram import Histogram
from prodloop.telemetry.rollups import Aggregate
from tests.slo.traffic import minute_aggregate

GUIDE = {slo.name: slo for slo in guide_slos()}


def test_the_guides_slos_by_example() -> None:
    minute = minute_aggregate(1000, errors=5, slow=30, cost_usd=0.0015)
    minute.successes -= 2  # two client-side failures (e.g. rate limited) on top
    errors, success = GUIDE["error-rate"], GUIDE["success-rate"]

    counted = tally(errors, minute)
    assert counted == Tally(eligible=1000, bad=5)
    assert error_budget(errors, counted) == pytest.approx(10)  # 1 % of 1000
    assert budget_remaining(errors, counted) == pytest.approx(0.5)
    assert burn_rate(errors, counted) == pytest.approx(0.5)
    assert is_met(errors, counted) is True

    counted = tally(success, minute)
    assert counted == Tally(eligible=1000, bad=7)
    assert budget_remaining(success, counted) == pytest.approx(1 - 7 / 5)  # overspent
    assert burn_rate(success, counted) == pytest.approx(1.4)
    assert is_met(success, counted) is False
    assert indicator_value(success, minute) == pytest.approx(0.993)

    latency = GUIDE["latency-p95"]
    assert tally(latency, minute) == Tally(1000, 30)  # 30 requests slower than 2 s
    assert burn_rate(latency, tally(latency, minute)) == pytest.approx(0.6)
    assert indicator_value(latency, minute) == pytest.approx(300, rel=0.01)

    cost = GUIDE["cost-per-request"]
    counted = tally(cost, minute)
    assert counted.share == pytest.approx(0.0015)
    assert error_budget(cost, counted) == pytest.approx(2.0)  # $0.002 × 1000 requests
    assert burn_rate(cost, counted) == pytest.approx(0.75)
    assert budget_remaining(cost, counted) == pytest.approx(0.25)


def test_indicators_read_as_the_guide_states_them() -> None:
    stated = {name: indicator_of(slo) for name, slo in GUIDE.items()}
    assert (stated["error-rate"].name, stated["error-rate"].comparator) == ("error_rate", "<=")
    assert stated["error-rate"].target == pytest.approx(0.01)
    assert (stated["success-rate"].name, stated["success-rate"].target) == ("success_rate", 0.995)
    assert stated["success-rate"].comparator == ">="
    assert (stated["latency-p95"].name, stated["latency-p95"].target) == ("latency_p95_ms", 2000)
    assert stated["cost-per-request"].name == "cost_per_request_usd"


def test_rate_slos_count_guardrail_triggers() -> None:
    slo = Slo(name="guardrails", kind="rate", target=0.02)
    aggregate = minute_aggregate(200)
    aggregate.guardrail_requests = 6
    assert tally(slo, aggregate) == Tally(200, 6)
    assert burn_rate(slo, tally(slo, aggregate)) == pytest.approx(1.5)
    assert indicator_value(slo, aggregate) == pytest.approx(0.03)


def test_no_traffic_is_none_never_nan() -> None:
    empty = Aggregate()
    for slo in GUIDE.values():
        counted = tally(slo, empty)
        assert counted.share is None
        assert error_budget(slo, counted) is None
        assert budget_remaining(slo, counted) is None
        assert burn_rate(slo, counted) is None
        assert is_met(slo, counted) is None
        assert indicator_value(slo, empty) is None


ratio_slos = st.builds(
    lambda objective, bad: Slo(name="s", kind="ratio", objective=objective, bad=bad),
    st.floats(min_value=0.5, max_value=0.99999),
    st.sampled_from(["errors", "failures"]),
)
average_slos = st.builds(
    lambda target: Slo(name="s", kind="average", target=target),
    st.floats(min_value=1e-6, max_value=10.0),
)
tallies = st.builds(
    lambda eligible, bad_share: Tally(eligible, math.floor(eligible * bad_share)),
    st.integers(min_value=0, max_value=10**9),
    st.floats(min_value=0.0, max_value=1.0),
)


@given(slo=st.one_of(ratio_slos, average_slos), counted=tallies)
def test_budget_figures_are_finite_and_consistent(slo: Slo, counted: Tally) -> None:
    remaining = budget_remaining(slo, counted)
    burn = burn_rate(slo, counted)
    budget = error_budget(slo, counted)
    met = is_met(slo, counted)
    if counted.eligible == 0:
        assert remaining is burn is budget is met is None
        return
    assert remaining is not None and burn is not None and budget is not None and met is not None
    assert all(math.isfinite(x) for x in (remaining, burn, budget))
    assert remaining == pytest.approx(1 - burn)
    assert remaining <= 1.0 and burn >= 0.0
    assert budget == pytest.approx(allowed_share(slo) * counted.eligible)
    assert budget_remaining(slo, counted) == pytest.approx(1 - counted.bad / budget)
    # met means the budget is not overspent (up to float noise right at the edge)
    if abs(remaining) > 1e-6:
        assert met == (remaining > 0)


@given(
    slo=ratio_slos,
    first=tallies,
    second=tallies,
)
def test_burn_of_two_windows_is_their_weighted_mean(slo: Slo, first: Tally, second: Tally) -> None:
    both = Tally(first.eligible + second.eligible, first.bad + second.bad)
    burn = burn_rate(slo, both)
    if both.eligible == 0:
        assert burn is None
        return
    weighted = (
        sum((burn_rate(slo, part) or 0.0) * part.eligible for part in (first, second))
        / both.eligible
    )
    assert burn == pytest.approx(weighted, rel=1e-9, abs=1e-12)


@given(
    slow=st.integers(min_value=0, max_value=500),
    fast=st.integers(min_value=1, max_value=5000),
    percentile=st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.9]),
)
def test_a_latency_slo_is_met_exactly_when_its_percentile_is_within_threshold(
    slow: int, fast: int, percentile: float
) -> None:
    """Counting requests slower than the threshold agrees with the percentile itself."""
    slo = Slo(name="p", kind="latency", percentile=percentile, threshold_ms=2000)
    aggregate = Aggregate(count=slow + fast)
    aggregate.latency_hist = Histogram()
    aggregate.latency_hist.add(800.0, fast)
    aggregate.latency_hist.add(2600.0, slow)
    p = indicator_value(slo, aggregate)
    assert p is not None
    assert is_met(slo, tally(slo, aggregate)) == (p <= 2000)
