"""SLO windows: rolling and trailing windows, calendar weeks in a time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from prodloop.slo.windows import (
    current_week,
    past_weeks,
    rolling_window,
    trailing_window,
    week_start,
)
from tests.slo.traffic import T0  # 2026-01-01T00:00:00Z, a Thursday

HOUR = 3600.0


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_weeks_start_on_monday_midnight_in_the_configured_zone() -> None:
    assert week_start(T0, "UTC") == _utc("2025-12-29T00:00:00")
    assert week_start(T0, "Europe/Berlin") == _utc("2025-12-28T23:00:00")
    assert week_start(T0, "America/Los_Angeles") == _utc("2025-12-29T08:00:00")
    monday = _utc("2026-01-05T00:00:00")
    assert week_start(monday, "UTC") == monday
    assert week_start(monday - 1, "UTC") == _utc("2025-12-29T00:00:00")
    assert current_week(T0, "UTC").length_s == 3 * 24 * HOUR


def test_past_weeks_are_complete_and_follow_daylight_saving() -> None:
    now = _utc("2026-04-01T12:00:00")  # a Wednesday, just after Europe's change to summer time
    weeks = past_weeks(now, "Europe/Berlin", 3)
    assert [w.length_s / HOUR for w in weeks] == [168, 168, 167]
    assert weeks[-1].end == week_start(now, "Europe/Berlin")
    assert all(a.end == b.start for a, b in pairwise(weeks))


def test_trailing_windows_start_on_a_minute() -> None:
    now = T0 + 75.5
    window = trailing_window(now, 300)
    assert (window.start, window.end) == (T0 - 240, now)  # the minute now − 5m falls in
    assert rolling_window(T0, 30).start == T0 - 30 * 86400


@given(
    now=st.floats(min_value=1e9, max_value=4e9),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"]),
)
def test_week_start_is_a_monday_midnight_at_most_a_week_back(now: float, zone: str) -> None:
    from zoneinfo import ZoneInfo

    start = week_start(now, zone)
    assert now - 7 * 24 * HOUR - HOUR < start <= now
    local = datetime.fromtimestamp(start, ZoneInfo(zone))
    assert local.weekday() == 0
    assert (local.hour, local.minute) in ((0, 0), (1, 0))  # 01:00 only where 00:00 never was
