"""The time windows SLOs are held over: rolling windows, alert windows and calendar weeks.

Every window ends at a given `now` (or at a week's end) and starts somewhere before it.
Alert and burn-rate windows start on a minute boundary, so that they are read from whole
minute and hour rollups plus the raw events of the current minute only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from prodloop.telemetry.rollups import DAY_S, MINUTE_S

# The windows `slo status` reports burn rates over, as (label, seconds).
BURN_RATE_WINDOWS: tuple[tuple[str, float], ...] = (("1h", 3600.0), ("6h", 21600.0), ("1d", DAY_S))


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) in Unix seconds."""

    start: float
    end: float

    @property
    def length_s(self) -> float:
        """How long the window is, in seconds."""
        return self.end - self.start


def rolling_window(now: float, days: float) -> Window:
    """The last `days` days up to `now`, starting on a minute boundary."""
    return trailing_window(now, days * DAY_S)


def trailing_window(now: float, length_s: float) -> Window:
    """The last `length_s` seconds up to `now`, from the start of the minute they begin in.

    The window is therefore between `length_s` and `length_s` + 60 s long.
    """
    start = math.floor((now - length_s) / MINUTE_S) * MINUTE_S
    return Window(float(start), now)


def week_start(now: float, timezone: str) -> float:
    """Monday 00:00 (in `timezone`) of the calendar week `now` falls in, as Unix seconds."""
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now, zone)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), tzinfo=zone).timestamp()


def current_week(now: float, timezone: str) -> Window:
    """The calendar week so far: from its Monday 00:00 to `now`."""
    return Window(week_start(now, timezone), now)


def past_weeks(now: float, timezone: str, count: int) -> list[Window]:
    """The `count` complete calendar weeks before the current one, oldest first.

    Weeks are cut at Monday 00:00 local time, so a week with a daylight-saving change is
    167 or 169 hours long.
    """
    zone = ZoneInfo(timezone)
    this_monday = datetime.fromtimestamp(week_start(now, timezone), zone).date()
    mondays = [this_monday - timedelta(weeks=n) for n in range(count, -1, -1)]
    starts = [datetime.combine(day, time(0), tzinfo=zone).timestamp() for day in mondays]
    return [Window(lo, hi) for lo, hi in pairwise(starts)]
