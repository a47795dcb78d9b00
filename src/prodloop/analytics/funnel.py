"""Funnels over `analytics_events`: per-step users, conversion, time between steps, drop-off.

Semantics (PostHog's where it defines them):

* A user enters the funnel with a first-step event in [since, until). They convert
  through step k when each step happens after the previous one and no later than
  `window_s` after their first step (PostHog's conversion window); later steps may fall
  after `until`. Users count once, by their best attempt.
* order ``sequential``: other events may happen between steps; ``strict``: the steps
  are consecutive events of the user, nothing in between; ``any``: the steps may happen
  in any order (step k then means "did k + 1 of the steps").
* Per step: users, conversion from the first and from the previous step, the median
  time from the previous step (over users who reached the step) and the drop-off (users
  who reached the previous step but not this one). With a breakdown, the same per value.

The database returns only the rows needed (the step events in the range, ordered by
user and time; every event for ``strict``) and one Python pass per user does the rest.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import null, select
from sqlalchemy.engine import Engine

from prodloop.analytics import conversion
from prodloop.analytics.breakdown import breakdown_values
from prodloop.analytics.conversion import Conversion, UserEvent
from prodloop.analytics.params import Breakdown, FunnelOrder, TimeRange, check_steps_for_order
from prodloop.errors import ValidationError
from prodloop.store.schema import analytics_events

_BATCH_ROWS = 10_000
_PASSES = {
    "sequential": conversion.sequential,
    "strict": conversion.strict,
    "any": conversion.any_order,
}


@dataclass(frozen=True, slots=True)
class FunnelQuery:
    steps: tuple[str, ...]
    window_s: float
    time_range: TimeRange
    order: FunnelOrder = "sequential"
    breakdown: Breakdown | None = None

    def __post_init__(self) -> None:
        if len(self.steps) < 2:
            raise ValidationError("a funnel needs at least two steps", field="steps")
        check_steps_for_order(list(self.steps), self.order)
        if self.window_s <= 0:
            raise ValidationError("the conversion window must be longer than zero", field="window")


@dataclass(frozen=True, slots=True)
class FunnelStep:
    name: str
    count: int
    conversion_from_first: float | None  # 0..1; None when nobody entered
    conversion_from_previous: float | None
    median_s_from_previous: float | None  # None for the first step and when nobody reached it
    drop_off: int  # reached the previous step, not this one

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "count": self.count,
            "conversion_from_first": self.conversion_from_first,
            "conversion_from_previous": self.conversion_from_previous,
            "median_s_from_previous": self.median_s_from_previous,
            "drop_off": self.drop_off,
        }


@dataclass(frozen=True, slots=True)
class FunnelGroup:
    """The funnel of the users with one breakdown value."""

    value: str
    steps: list[FunnelStep]

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "steps": [s.to_dict() for s in self.steps]}


@dataclass(frozen=True, slots=True)
class FunnelResult:
    query: FunnelQuery
    steps: list[FunnelStep]
    groups: list[FunnelGroup] = field(default_factory=list)  # one per breakdown value

    def to_dict(self) -> dict[str, Any]:
        q = self.query
        return {
            "steps": [s.to_dict() for s in self.steps],
            "order": q.order,
            "window_s": q.window_s,
            "since": q.time_range.since,
            "until": q.time_range.until,
            "breakdown": str(q.breakdown) if q.breakdown else None,
            "groups": [g.to_dict() for g in self.groups],
        }


def summarise(names: Sequence[str], conversions: Iterable[Conversion]) -> list[FunnelStep]:
    """Per-step counts, conversion rates, median times and drop-off of some users."""
    counts = [0] * len(names)
    gaps: list[list[float]] = [[] for _ in names]
    for found in conversions:
        for i in range(found.reached + 1):
            counts[i] += 1
            if i:
                gaps[i].append(found.times[i] - found.times[i - 1])
    steps = []
    for i, name in enumerate(names):
        first, previous = counts[0], counts[i - 1] if i else counts[0]
        steps.append(
            FunnelStep(
                name=name,
                count=counts[i],
                conversion_from_first=counts[i] / first if first else None,
                conversion_from_previous=counts[i] / previous if previous else None,
                median_s_from_previous=statistics.median(gaps[i]) if gaps[i] else None,
                drop_off=previous - counts[i] if i else 0,
            )
        )
    return steps


def _rows(engine: Engine, query: FunnelQuery) -> Iterator[tuple[str, str, float, str | None]]:
    table = analytics_events
    # Properties only for a breakdown: they are the widest column by far.
    properties = table.c.properties if query.breakdown is not None else null()
    statement = select(table.c.distinct_id, table.c.event, table.c.ts, properties).where(
        table.c.ts >= query.time_range.since,
        table.c.ts < query.time_range.until + query.window_s,
    )
    if query.order == "strict":
        # Every event of the users who entered: those between the steps break attempts.
        entered = select(table.c.distinct_id).where(
            table.c.event == query.steps[0],
            table.c.ts >= query.time_range.since,
            table.c.ts < query.time_range.until,
        )
        statement = statement.where(table.c.distinct_id.in_(entered))
    else:
        # Only step events: the (event, ts) index answers this.
        statement = statement.where(table.c.event.in_(sorted(set(query.steps))))
    statement = statement.order_by(table.c.distinct_id, table.c.ts, table.c.id)
    with engine.connect() as conn:
        # Batches: one driver call per few thousand rows instead of one per row.
        for batch in conn.execute(statement).partitions(_BATCH_ROWS):
            yield from batch


def user_conversions(engine: Engine, query: FunnelQuery) -> dict[str, Conversion]:
    """Each user's best attempt, for the users who entered the funnel."""
    indexes: dict[str, tuple[int, ...]] = {}
    for i, name in enumerate(query.steps):
        indexes[name] = (i, *indexes.get(name, ()))
    no_step: tuple[int, ...] = ()
    walk = _PASSES[query.order]
    since, until = query.time_range.since, query.time_range.until
    found: dict[str, Conversion] = {}
    for user, rows in itertools.groupby(_rows(engine, query), key=itemgetter(0)):
        events: Iterator[UserEvent] = (
            (indexes.get(event, no_step), ts, properties) for _, event, ts, properties in rows
        )
        best = walk(events, len(query.steps), query.window_s, since, until)
        if best is not None:
            found[user] = best
    return found


def compute_funnel(engine: Engine, query: FunnelQuery) -> FunnelResult:
    """The funnel of `query`, and one per breakdown value when it has a breakdown."""
    found = user_conversions(engine, query)
    steps = summarise(query.steps, found.values())
    groups: list[FunnelGroup] = []
    if query.breakdown is not None:
        values = breakdown_values(
            engine,
            query.breakdown,
            found,
            query.time_range.since,
            query.time_range.until + query.window_s,
        )
        members: dict[str, list[Conversion]] = {}
        for user, attempt in found.items():
            members.setdefault(values[user], []).append(attempt)
        groups = [
            FunnelGroup(value, summarise(query.steps, attempts))
            for value, attempts in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ]
    return FunnelResult(query, steps, groups)
