"""Weekly retention cohorts over `analytics_events`.

Weeks start on Monday 00:00 UTC. The cohorts are the weeks that overlap [since, until).

* ``first-time``: a user's cohort is the week of their first ever start event (events
  before `since` count: a user who started earlier is in no cohort of the range).
* ``recurring`` (PostHog's): a user is in the cohort of every week they do the start event.

Week 0 is the cohort itself (100 %); week n is the share of the cohort who did the
return event in the n-th week after their cohort week. Weeks after `until` are not
known yet and are left empty. The start and return events default to any event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from prodloop.analytics.params import TimeRange
from prodloop.errors import ValidationError
from prodloop.store.schema import analytics_events

RetentionMode = Literal["first-time", "recurring"]
MODES: tuple[RetentionMode, ...] = ("first-time", "recurring")
WEEK_S = 7 * 86400
_MONDAY = 4 * 86400  # 1970-01-05 was a Monday; the epoch itself a Thursday


def week_of(ts: float) -> int:
    """Weeks since the first Monday after the epoch (a week starts Monday 00:00 UTC)."""
    return int((ts - _MONDAY) // WEEK_S)


def week_start(week: int) -> float:
    return float(_MONDAY + week * WEEK_S)


def parse_mode(text: str, *, field: str = "mode") -> RetentionMode:
    for mode in MODES:
        if text == mode:
            return mode
    raise ValidationError(f"unknown retention {text!r} (use {', '.join(MODES)})", field=field)


@dataclass(frozen=True, slots=True)
class Cohort:
    week_start: float  # Unix seconds of the Monday
    size: int
    retained: list[int | None]  # users per week 0..n; None: the week has not ended yet

    @property
    def percentages(self) -> list[float | None]:
        """Share of the cohort per week, 0..100; None for weeks to come and empty cohorts."""
        return [
            None if kept is None or not self.size else 100.0 * kept / self.size
            for kept in self.retained
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "week_start": self.week_start,
            "size": self.size,
            "retained": self.retained,
            "percentages": self.percentages,
        }


@dataclass(frozen=True, slots=True)
class RetentionResult:
    mode: RetentionMode
    start_event: str | None  # None: any event
    return_event: str | None
    time_range: TimeRange
    cohorts: list[Cohort]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "start_event": self.start_event,
            "return_event": self.return_event,
            "since": self.time_range.since,
            "until": self.time_range.until,
            "cohorts": [c.to_dict() for c in self.cohorts],
        }


def _user_weeks(
    engine: Engine, event: str | None, since: float, until: float
) -> dict[str, set[int]]:
    table = analytics_events
    query = select(table.c.distinct_id, table.c.ts).where(table.c.ts >= since, table.c.ts < until)
    if event is not None:
        query = query.where(table.c.event == event)
    weeks: dict[str, set[int]] = defaultdict(set)
    with engine.connect() as conn:
        for user, ts in conn.execute(query):
            weeks[user].add(week_of(ts))
    return weeks


def _first_weeks(engine: Engine, event: str | None, until: float) -> dict[str, set[int]]:
    table = analytics_events
    query = select(table.c.distinct_id, func.min(table.c.ts)).where(table.c.ts < until)
    if event is not None:
        query = query.where(table.c.event == event)
    query = query.group_by(table.c.distinct_id)
    with engine.connect() as conn:
        return {user: {week_of(first)} for user, first in conn.execute(query)}


def compute_retention(
    engine: Engine,
    time_range: TimeRange,
    *,
    mode: RetentionMode = "first-time",
    start_event: str | None = None,
    return_event: str | None = None,
) -> RetentionResult:
    """One cohort per week of the range, with the share retained each week after."""
    first_week, last_week = week_of(time_range.since), week_of(time_range.until - 1e-6)
    begin = week_start(first_week)
    if mode == "first-time":
        starts = _first_weeks(engine, start_event, time_range.until)
    else:
        starts = _user_weeks(engine, start_event, begin, time_range.until)
    returns = _user_weeks(engine, return_event, begin, time_range.until)
    members: dict[int, list[str]] = defaultdict(list)
    for user, weeks in starts.items():
        for week in weeks:
            if first_week <= week <= last_week:
                members[week].append(user)
    cohorts = []
    for week in range(first_week, last_week + 1):
        users = members.get(week, [])
        retained: list[int | None] = [len(users)]
        for later in range(week + 1, last_week + 1):
            retained.append(sum(1 for user in users if later in returns.get(user, ())))
        retained.extend([None] * (week - first_week))
        cohorts.append(Cohort(week_start(week), len(users), retained))
    return RetentionResult(mode, start_event, return_event, time_range, cohorts)
