"""Analytics events older than analytics.retention_days are deleted by the loop."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.store.schema import analytics_events

DAY_S = 86400.0


def prune_analytics(engine: Engine, config: Config, now: float) -> int:
    """Delete events whose own timestamp is more than retention_days before `now`; how many
    went. The event time, not the arrival time, decides: imported history ages the same."""
    cutoff = now - config.analytics.retention_days * DAY_S
    with engine.begin() as conn:
        result = conn.execute(delete(analytics_events).where(analytics_events.c.ts < cutoff))
    return int(result.rowcount)
