"""Weekly retention cohorts, first-time and recurring, exact on a constructed log."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from prodloop.analytics.params import TimeRange
from prodloop.analytics.retention import compute_retention, parse_mode, week_of, week_start
from prodloop.errors import ValidationError
from prodloop.store import connect
from tests.analytics.support import D, H, T, event, insert_events

W = 7 * D
SPAN = TimeRange(T, T + 3 * W)  # three cohorts: the weeks of T, T + 1w, T + 2w


def retention_log() -> list[dict[str, object]]:
    plan = {
        "a": [("signup", T + H), ("$pageview", T + W), ("$pageview", T + 2 * W + D)],
        "b": [("signup", T + 2 * D), ("$pageview", T + 2 * W + 3 * D)],
        "c": [("signup", T + 6 * D + 23 * H)],
        "d": [("signup", T + W + D), ("$pageview", T + 2 * W)],
        # first signed up the week before the range: in no first-time cohort
        "e": [("signup", T - 3 * D), ("signup", T + W + H), ("$pageview", T + 2 * W + H)],
        "f": [("signup", T + 2 * W + D)],
        "g": [("signup", T + D), ("signup", T + W + 2 * D), ("$pageview", T + W + 3 * D)],
        # never signed up: returns alone do not make a cohort
        "h": [("$pageview", T + H)],
    }
    return [event(name, user, ts) for user, steps in plan.items() for name, ts in steps]


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = connect(store_url)
    insert_events(engine, retention_log())
    return engine


def test_weeks_start_on_monday_utc() -> None:
    assert week_start(week_of(T)) == T
    assert week_of(T + W - 0.001) == week_of(T) and week_of(T + W) == week_of(T) + 1


def test_first_time_cohorts(engine: Engine) -> None:
    result = compute_retention(engine, SPAN, start_event="signup", return_event="$pageview")
    assert [c.week_start for c in result.cohorts] == [T, T + W, T + 2 * W]
    # week of T: a b c g; a and g back the week after, a and b two weeks after
    assert [c.retained for c in result.cohorts] == [[4, 2, 2], [1, 1, None], [1, None, None]]
    assert result.cohorts[0].percentages == [100.0, 50.0, 50.0]
    assert result.to_dict()["cohorts"][1] == {
        "week_start": T + W,
        "size": 1,
        "retained": [1, 1, None],
        "percentages": [100.0, 100.0, None],
    }


def test_recurring_cohorts_count_every_week_with_a_start_event(engine: Engine) -> None:
    result = compute_retention(
        engine, SPAN, mode="recurring", start_event="signup", return_event="$pageview"
    )
    # week of T + 1w: d, e and g signed up; d and e came back the week after
    assert [c.retained for c in result.cohorts] == [[4, 2, 2], [3, 2, None], [1, None, None]]


def test_any_event_by_default(engine: Engine) -> None:
    result = compute_retention(engine, SPAN)
    # first events: a b c g h in the first week (e started before), d the second, f the
    # third; a and g do something the week after, a and b two weeks after
    assert [c.retained for c in result.cohorts] == [[5, 2, 2], [1, 1, None], [1, None, None]]


def test_unknown_mode_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_mode("weekly", field="--mode")
    assert caught.value.field == "--mode"
