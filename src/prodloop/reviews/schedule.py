"""The review schedule: the weekly review on its day and time, the daily check-in.

Both are due at a local time in ``reviews.time_zone`` (so 09:00 stays 09:00 across a
daylight-saving change) and are done once per period: the `reviews` table says what has
been written, so a restart or a second replica does not write or post twice. A loop that
was down at the due time catches up at its next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.errors import ProdloopError
from prodloop.reviews.daily import build_daily, post_daily
from prodloop.reviews.data import Period, day_of, has_activity, parse_week, week_of
from prodloop.reviews.post import queue_summary
from prodloop.reviews.weekly import build_weekly, record_review, write_review
from prodloop.store.schema import reviews

log = logging.getLogger("prodloop.reviews")
# Failures already logged, so that one retried every tick is logged once per process.
_logged: set[str] = set()

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _at(day: Period, clock_time: str, time_zone: str) -> float:
    """The moment `clock_time` (09:00) on the local day `day`."""
    hours, minutes = (int(part) for part in clock_time.split(":"))
    local = datetime.fromtimestamp(day.start, ZoneInfo(time_zone)).date()
    return datetime.combine(local, time(hours, minutes), tzinfo=ZoneInfo(time_zone)).timestamp()


def _is_written(engine: Engine, kind: str, period: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            select(reviews.c.id).where(and_(reviews.c.kind == kind, reviews.c.period == period))
        ).first()
    return found is not None


def weekly_due(config: Config, now: float) -> str:
    """The week whose review is due at `now` (the week before the due day's), if any."""
    settings = config.reviews
    zone = settings.time_zone
    week = week_of(now, zone)
    due_day = day_of(week.start, zone)
    for _ in range(WEEKDAYS.index(settings.weekly_day)):
        due_day = day_of(due_day.end, zone)
    if now < _at(due_day, settings.weekly_time, zone):
        week = week_of(week.start - 1, zone)
    return week_of(week.start - 1, zone).label


def daily_due(config: Config, now: float) -> str:
    """The day whose check-in is due at `now`: yesterday, or the day before before 09:00."""
    zone = config.reviews.time_zone
    today = day_of(now, zone)
    if now < _at(today, config.reviews.daily_time, zone):
        today = day_of(today.start - 1, zone)
    return day_of(today.start - 1, zone).label


def run_scheduled_reviews(engine: Engine, config: Config, now: float) -> list[str]:
    """Write the weekly review and post the daily check-in when due; what was done."""
    settings = config.reviews
    done: list[str] = []
    if settings.schedule:
        week = weekly_due(config, now)
        if not _is_written(engine, "weekly", week):
            done += _guarded(f"weekly review {week}", lambda: _weekly(engine, config, week, now))
    if settings.daily and settings.notifiers:
        day = daily_due(config, now)
        if not _is_written(engine, "daily", day):
            done += _guarded(f"daily check-in {day}", lambda: _daily(engine, config, day, now))
    return done


def _guarded(what: str, run: Callable[[], list[str]]) -> list[str]:
    """Run one scheduled review; a failure is reported, logged once, and retried next tick,
    so that it never stops the rest of the loop (paging runs after the reviews)."""
    try:
        return run()
    except (ProdloopError, OSError) as exc:
        message = f"{what} failed: {exc}"
        if message not in _logged:
            _logged.add(message)
            log.error("%s (retried every tick until it succeeds)", message)
        return [message]


def _daily(engine: Engine, config: Config, day: str, now: float) -> list[str]:
    queued = post_daily(engine, config, build_daily(engine, config, day, now), now)
    return [f"daily check-in {day} posted to {', '.join(queued) or 'no notifier'}"]


def _weekly(engine: Engine, config: Config, week: str, now: float) -> list[str]:
    """Write (and post) the review of `week`; a week with nothing in it is only noted."""
    period = parse_week(week, config.reviews.time_zone)
    if not has_activity(engine, period):
        record_review(engine, "weekly", week, now, {"headline": "no data this week"})
        return [f"weekly review {week} skipped: no data"]
    review = build_weekly(engine, config, week, now)
    md_path, _ = write_review(engine, config, review)
    done = [f"weekly review {week} written to {md_path}"]
    if config.reviews.notifiers:
        lines = [*review.regressions] or ["Nothing got worse than last week."]
        with engine.begin() as conn:
            queued = queue_summary(
                conn, config, alertname="WeeklyReview", key=week, title=review.headline(),
                lines=lines, footer=f"The whole review: {md_path}", now=now,
            )  # fmt: skip
        done.append(f"weekly review {week} posted to {', '.join(queued) or 'no notifier'}")
    return done
