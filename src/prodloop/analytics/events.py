"""What was captured: events per name over a time range."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Engine

from prodloop.analytics.params import TimeRange
from prodloop.store.schema import analytics_events


@dataclass(frozen=True, slots=True)
class EventCount:
    event: str
    count: int
    users: int  # distinct distinct_ids
    first_seen: float
    last_seen: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_events(engine: Engine, time_range: TimeRange) -> list[EventCount]:
    """One line per event name in [since, until), the most frequent first."""
    table = analytics_events
    query = (
        select(
            table.c.event,
            func.count(),
            func.count(distinct(table.c.distinct_id)),
            func.min(table.c.ts),
            func.max(table.c.ts),
        )
        .where(table.c.ts >= time_range.since, table.c.ts < time_range.until)
        .group_by(table.c.event)
    )
    with engine.connect() as conn:
        found = [
            EventCount(str(event), int(count), int(users), float(first), float(last))
            for event, count, users, first, last in conn.execute(query)
        ]
    found.sort(key=lambda e: (-e.count, e.event))
    return found
