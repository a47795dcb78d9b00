"""Who is on call: rotations handing off at a local time of day, with overrides.

Handoffs are wall-clock times in the schedule's time zone, so a daily 09:00 handoff stays
at 09:00 across daylight-saving changes (that day's shift is 23 or 25 hours long). An
override puts someone else on call for a while; the latest listed override wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prodloop.config import Paging, Schedule
from prodloop.config.paging import parse_local_time
from prodloop.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class Shift:
    """One person on call from `start` to `end` (Unix seconds)."""

    person: str
    start: float
    end: float
    is_override: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "start": self.start,
            "end": self.end,
            "is_override": self.is_override,
        }


@dataclass(frozen=True, slots=True)
class OnCall:
    """A schedule's current and next shift."""

    schedule: str
    timezone: str
    current: Shift
    next: Shift

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "timezone": self.timezone,
            "now": self.current.to_dict(),
            "next": self.next.to_dict(),
        }


def _period_days(schedule: Schedule) -> int:
    return 1 if schedule.rotation == "daily" else 7


def handoff_at(schedule: Schedule, index: int) -> float:
    """When shift `index` of the rotation begins (0 is the first, on `start`)."""
    hours, _, minutes = schedule.handoff.partition(":")
    day = schedule.start + timedelta(days=index * _period_days(schedule))
    local = datetime.combine(day, time(int(hours), int(minutes)), ZoneInfo(schedule.timezone))
    return local.timestamp()


def rotation_index(schedule: Schedule, when: float) -> int:
    """The rotation shift `when` falls in; negative before the rotation's start."""
    local_day = datetime.fromtimestamp(when, ZoneInfo(schedule.timezone)).date()
    index = (local_day - schedule.start).days // _period_days(schedule)
    while handoff_at(schedule, index) > when:
        index -= 1
    while handoff_at(schedule, index + 1) <= when:
        index += 1
    return index


def rotation_shift(schedule: Schedule, when: float) -> Shift:
    """The rotation's shift at `when`, overrides ignored."""
    index = rotation_index(schedule, when)
    person = schedule.people[index % len(schedule.people)]
    return Shift(person, handoff_at(schedule, index), handoff_at(schedule, index + 1))


def override_windows(schedule: Schedule) -> list[tuple[str, float, float]]:
    """Overrides as (person, start, end); times without an offset are in the schedule's zone."""
    zone = ZoneInfo(schedule.timezone)
    windows = []
    for override in schedule.overrides:
        bounds = []
        for text in (override.start, override.end):
            when = parse_local_time(text)
            bounds.append((when if when.tzinfo else when.replace(tzinfo=zone)).timestamp())
        windows.append((override.person, bounds[0], bounds[1]))
    return windows


def shift_at(schedule: Schedule, when: float) -> Shift:
    """Who is on call at `when`: the latest override covering it, else the rotation."""
    windows = override_windows(schedule)
    covering = [i for i, w in enumerate(windows) if w[1] <= when < w[2]]
    if covering:
        person, start, end = windows[covering[-1]]
        above = windows[covering[-1] + 1 :]  # later overrides win over this one
        is_override = True
    else:
        shift = rotation_shift(schedule, when)
        person, start, end = shift.person, shift.start, shift.end
        above = windows
        is_override = False
    # Overrides that win cut the shift: it starts when one ends, or ends when one starts.
    start = max([start, *(w_end for _, _, w_end in above if start < w_end <= when)])
    end = min([end, *(w_start for _, w_start, _ in above if when < w_start < end)])
    return Shift(person, start, end, is_override)


def on_call(name: str, schedule: Schedule, now: float) -> OnCall:
    """The current shift of a schedule and the one after it."""
    current = shift_at(schedule, now)
    return OnCall(name, schedule.timezone, current, shift_at(schedule, current.end))


def who_is_on_call(paging: Paging, now: float, schedule: str | None = None) -> list[OnCall]:
    """Every schedule's current and next shift, or one schedule's (NotFoundError if unknown)."""
    if schedule is not None:
        if schedule not in paging.schedules:
            known = ", ".join(paging.schedules) or "none configured"
            raise NotFoundError(f"no schedule '{schedule}' (known: {known})", field="schedule")
        return [on_call(schedule, paging.schedules[schedule], now)]
    return [on_call(name, sched, now) for name, sched in paging.schedules.items()]


def resolve_targets(paging: Paging, targets: Sequence[str], now: float) -> list[str]:
    """People behind escalation targets at `now` (schedule:NAME → who is on call)."""
    people: list[str] = []
    for target in targets:
        kind, _, name = target.partition(":")
        person = shift_at(paging.schedules[name], now).person if kind == "schedule" else name
        if person not in people:
            people.append(person)
    return people
