"""Histogram.count_above: "how many requests were slower than X", as latency SLOs count."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodloop.errors import ValidationError
from prodloop.telemetry.histogram import ALPHA, Histogram, merge_all, quantile_rank

# Values at or below histogram.MIN_VALUE share the zero bucket, so latencies are 0 or
# at least a nanosecond.
latencies = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e7, allow_nan=False)),
    min_size=1,
    max_size=300,
)
thresholds = st.floats(min_value=-10.0, max_value=2e7, allow_nan=False, allow_infinity=False)


@given(values=latencies, threshold=thresholds)
def test_count_above_is_within_the_sketch_error(values: list[float], threshold: float) -> None:
    counted = Histogram.of(values).count_above(threshold)
    # a value counts when its estimate (within ALPHA of it) is above the threshold
    assert sum(1 for v in values if v * (1 - ALPHA) > threshold) <= counted
    assert counted <= sum(1 for v in values if v * (1 + ALPHA) > threshold)


@given(
    values=latencies,
    threshold=thresholds,
    q=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)
def test_count_above_agrees_with_quantile(values: list[float], threshold: float, q: float) -> None:
    """p_q > threshold exactly when more than count − rank(q) values are above it."""
    histogram = Histogram.of(values)
    quantile = histogram.quantile(q)
    assert quantile is not None
    limit = histogram.count - quantile_rank(q, histogram.count)
    assert (quantile > threshold) == (histogram.count_above(threshold) > limit)


@given(parts=st.lists(latencies, min_size=1, max_size=5), threshold=thresholds)
def test_count_above_adds_up_over_merged_histograms(
    parts: list[list[float]], threshold: float
) -> None:
    merged = merge_all(Histogram.of(part).to_bytes() for part in parts)
    assert merged.count_above(threshold) == sum(
        Histogram.of(part).count_above(threshold) for part in parts
    )


def test_edges() -> None:
    histogram = Histogram.of([0.0, 0.0, 100.0, 2000.0, 2600.0, 5000.0])
    assert histogram.count_above(2000.0 * (1 + 2 * ALPHA)) == 2
    assert histogram.count_above(2500.0) == 2
    assert histogram.count_above(0.0) == 4
    assert histogram.count_above(-1.0) == 6  # zeros count only below zero
    assert histogram.count_above(float("inf")) == 0
    assert Histogram().count_above(10.0) == 0
    with pytest.raises(ValidationError):
        histogram.count_above(float("nan"))
