from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodloop.errors import StoreError, ValidationError
from prodloop.telemetry.histogram import (
    ALPHA,
    MIN_VALUE,
    Histogram,
    bucket_index,
    bucket_value,
    merge_all,
    quantile_rank,
)
from tests.telemetry.fakes import exact_quantile

positive = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
values_lists = st.lists(st.one_of(positive, st.just(0.0)), min_size=1, max_size=300)
quantiles = st.floats(min_value=0.0, max_value=1.0)

QS = (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)


def assert_close(estimate: float | None, exact: float) -> None:
    assert estimate is not None
    # 1 % relative error, plus float noise at bucket boundaries.
    assert abs(estimate - exact) <= ALPHA * exact * (1 + 1e-9) + 1e-12


@given(values_lists, st.lists(quantiles, max_size=5))
def test_every_quantile_is_within_one_percent_of_the_exact_one(
    values: list[float], extra_qs: list[float]
) -> None:
    histogram = Histogram.of(values)
    assert histogram.count == len(values)
    for q in (*QS, *extra_qs):
        assert_close(histogram.quantile(q), exact_quantile(values, q))


@given(values_lists, values_lists)
def test_merge_equals_the_sketch_of_the_concatenation(
    left: list[float], right: list[float]
) -> None:
    merged = Histogram.of(left)
    merged.merge(Histogram.of(right))
    assert merged == Histogram.of(left + right)
    assert merged.to_bytes() == Histogram.of(left + right).to_bytes()


@given(st.lists(values_lists, max_size=6))
def test_merge_all_decodes_and_merges_every_encoded_sketch(parts: list[list[float]]) -> None:
    merged = merge_all(Histogram.of(part).to_bytes() for part in parts)
    assert merged == Histogram.of([value for part in parts for value in part])


@given(st.lists(st.one_of(positive, st.just(0.0)), max_size=300))
def test_bytes_round_trip(values: list[float]) -> None:
    histogram = Histogram.of(values)
    decoded = Histogram.from_bytes(histogram.to_bytes())
    assert decoded == histogram
    assert decoded.count == len(values)
    assert decoded.quantiles(QS) == histogram.quantiles(QS)


@given(values_lists, st.lists(quantiles, min_size=1, max_size=8))
def test_quantiles_in_one_pass_match_one_at_a_time(values: list[float], qs: list[float]) -> None:
    histogram = Histogram.of(values)
    assert histogram.quantiles(qs) == [histogram.quantile(q) for q in qs]


@settings(max_examples=50)
@given(positive)
def test_a_bucket_estimate_is_within_alpha_of_every_value_in_it(value: float) -> None:
    assert_close(bucket_value(bucket_index(value)), value)


@pytest.mark.parametrize(
    ("largest", "width"),
    [(1, 1), (255, 1), (256, 2), (2**16, 4), (2**32 - 1, 4), (2**32, 8), (2**60, 8)],
)
def test_counts_are_stored_in_the_narrowest_width_that_holds_them(largest: int, width: int) -> None:
    histogram = Histogram()
    histogram.add(100.0, count=largest)
    histogram.add(100.0 * 1.0202**10)  # ten buckets higher
    histogram.add(0.0, count=3)
    data = histogram.to_bytes()
    assert len(data) == 18 + width * 11
    for decoded in (Histogram.from_bytes(data), merge_all([data]), merge_all([data, data])):
        factor = decoded.count // histogram.count
        assert decoded.zero_count == 3 * factor
        assert decoded.buckets() == {k: v * factor for k, v in histogram.buckets().items()}


def test_empty_histogram() -> None:
    empty = Histogram()
    assert empty.quantile(0.95) is None
    assert empty.quantiles([0.5, 0.99]) == [None, None]
    assert Histogram.from_bytes(empty.to_bytes()) == empty
    assert not empty


def test_values_at_or_below_the_minimum_share_the_zero_bucket() -> None:
    histogram = Histogram.of([0.0, -5.0, MIN_VALUE, float("nan"), 10.0])
    assert histogram.zero_count == 4
    assert histogram.quantile(0.8) == 0.0
    assert_close(histogram.quantile(1.0), 10.0)


def test_rank_is_the_lower_quantile() -> None:
    assert quantile_rank(0.95, 100) == 95
    assert quantile_rank(0.07, 100) == 7  # 0.07 * 100 is 7.000000000000001 in floats
    assert quantile_rank(0.0, 10) == 1
    assert quantile_rank(1.0, 10) == 10
    assert quantile_rank(0.5, 3) == 2


def test_quantile_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValidationError, match="between 0 and 1"):
        Histogram.of([1.0]).quantile(95)
    with pytest.raises(ValidationError):
        Histogram().quantile(-0.1)


def test_negative_count_is_refused_and_zero_is_ignored() -> None:
    histogram = Histogram()
    histogram.add(3.0, count=0)
    assert histogram.count == 0 and histogram.to_bytes() == Histogram().to_bytes()
    with pytest.raises(ValidationError, match="negative"):
        histogram.add(3.0, count=-1)


@pytest.mark.parametrize(
    "data", [b"", b"\x01\x04", b"\x09" + bytes(17), Histogram.of([5.0]).to_bytes()[:-1]]
)
def test_corrupt_bytes_are_a_store_error(data: bytes) -> None:
    with pytest.raises(StoreError, match="corrupt histogram"):
        Histogram.from_bytes(data)
