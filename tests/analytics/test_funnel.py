"""Funnels on a log whose answer is known by construction, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from prodloop.analytics.conversion import any_order, sequential, strict
from prodloop.analytics.funnel import FunnelQuery, FunnelResult, compute_funnel
from prodloop.analytics.params import (
    Breakdown,
    FunnelOrder,
    TimeRange,
    parse_breakdown,
    parse_steps,
    parse_time_range,
    parse_window,
)
from prodloop.errors import ValidationError
from prodloop.store import connect
from tests.analytics.support import (
    STEPS,
    D,
    H,
    T,
    funnel_log,
    funnel_requests,
    insert_events,
    insert_requests,
)

SPAN = TimeRange(T, T + 30 * D)


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = connect(store_url)
    insert_events(engine, funnel_log())
    insert_requests(engine, funnel_requests())
    return engine


def _funnel(engine: Engine, order: FunnelOrder, breakdown: Breakdown | None = None) -> FunnelResult:
    return compute_funnel(engine, FunnelQuery(STEPS, 14 * D, SPAN, order, breakdown))


def _counts(result: FunnelResult) -> list[int]:
    return [step.count for step in result.steps]


def test_sequential_counts_rates_times_and_drop_off(engine: Engine) -> None:
    result = _funnel(engine, "sequential")
    # entered: full two one gap late retry reverse dup; asked: full two gap late retry dup;
    # thumbs up in the window: full gap retry dup
    assert _counts(result) == [8, 6, 4]
    assert [s.drop_off for s in result.steps] == [0, 2, 2]
    assert [s.conversion_from_first for s in result.steps] == [1.0, 6 / 8, 4 / 8]
    assert [s.conversion_from_previous for s in result.steps] == [1.0, 6 / 8, 4 / 6]
    # question after signup: 1h (full, gap, late, dup), 2h (two), 1d (retry) -> 1h;
    # thumbs after question: 3h (full), 1h (gap), 1d (retry), 2h (dup) -> 2.5h
    assert [s.median_s_from_previous for s in result.steps] == [None, 1 * H, 2.5 * H]
    assert result.to_dict()["steps"][2] == {
        "name": "thumbs_up",
        "count": 4,
        "conversion_from_first": 0.5,
        "conversion_from_previous": 4 / 6,
        "median_s_from_previous": 2.5 * H,
        "drop_off": 2,
    }


def test_strict_counts_break_on_any_event_between_steps(engine: Engine) -> None:
    # gap (a pageview between) stops at signup; dup (the question twice) at the question
    assert _counts(_funnel(engine, "strict")) == [8, 5, 2]


def test_any_order_counts_distinct_steps_in_the_window(engine: Engine) -> None:
    # before enters with its question; reverse does all three backwards; retry converts
    # from its second signup; late's thumbs up stays outside the window
    result = _funnel(engine, "any")
    assert _counts(result) == [9, 8, 5]
    assert result.steps[0].name == "signup"


def test_breakdown_by_version_from_requests_or_the_event_property(engine: Engine) -> None:
    result = _funnel(engine, "sequential", Breakdown("version"))
    groups = {g.value: [s.count for s in g.steps] for g in result.groups}
    # full: mostly v2; two: v1; dup: a v1/v2 tie, v1 was first; gap: its signup says v3;
    # one's only request is outside the range
    assert groups == {"(none)": [4, 2, 1], "v1": [2, 2, 1], "v2": [1, 1, 1], "v3": [1, 1, 1]}
    assert [g.value for g in result.groups] == ["(none)", "v1", "v2", "v3"]
    assert _counts(result) == [8, 6, 4]


def test_breakdown_by_flag_and_by_property(engine: Engine) -> None:
    result = _funnel(engine, "sequential", Breakdown("flag", "new-prompt"))
    groups = {g.value: [s.count for s in g.steps] for g in result.groups}
    # full and two from request_events.flags; one from its $feature/new-prompt property
    assert groups == {"on": [2, 1, 1], "off": [1, 1, 0], "(none)": [5, 4, 3]}
    result = _funnel(engine, "sequential", Breakdown("property", "plan"))
    groups = {g.value: [s.count for s in g.steps] for g in result.groups}
    assert groups == {"free": [1, 0, 0], "(none)": [7, 6, 4]}


def test_nobody_in_the_range_gives_zeroes_not_errors(engine: Engine) -> None:
    query = FunnelQuery(STEPS, 14 * D, TimeRange(T - 100 * D, T - 90 * D))
    result = compute_funnel(engine, query)
    assert _counts(result) == [0, 0, 0]
    assert result.steps[1].conversion_from_first is None
    assert result.steps[1].median_s_from_previous is None


def test_the_window_edge_is_inside_and_one_second_more_is_out() -> None:
    events = [((0,), 0.0, None), ((1,), 50.0, None), ((2,), 100.0, None)]
    for walk in (sequential, strict, any_order):
        inside = walk(iter(events), 3, 100.0, 0.0, 1.0)
        outside = walk(iter(events), 3, 99.0, 0.0, 1.0)
        assert inside is not None and inside.reached == 2, walk
        assert outside is not None and outside.reached == 1, walk


def test_a_step_repeated_in_the_funnel_uses_two_events() -> None:
    # view, buy, view: one event cannot be both the first and the third step
    view, buy = (2, 0), (1,)
    once = [(view, 0.0, None), (buy, 1.0, None)]
    twice = [*once, (view, 2.0, None)]
    assert sequential(iter(once), 3, 10.0, 0.0, 5.0).reached == 1  # type: ignore[union-attr]
    assert sequential(iter(twice), 3, 10.0, 0.0, 5.0).reached == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: parse_steps("signup", field="--steps"), "--steps"),
        (lambda: parse_steps("a,,b"), "steps"),
        (lambda: parse_window("soon"), "window"),
        (lambda: parse_window("0s"), "window"),
        (lambda: parse_breakdown("country"), "breakdown"),
        (lambda: parse_breakdown("flag:"), "breakdown"),
        (lambda: parse_time_range("30d", "40d", T), "until"),
        (lambda: FunnelQuery(("a", "a"), D, SPAN, "any"), "steps"),
    ],
)
def test_bad_input_names_the_field(call: object, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.field == field
