"""Analytics events go when they are older than analytics.retention_days."""

from __future__ import annotations

from sqlalchemy import func, select

from prodloop.analytics.retention_prune import prune_analytics
from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.loop import tick
from prodloop.store import connect
from prodloop.store.schema import analytics_events
from tests.analytics.support import D, T, event, insert_events


def test_prune_deletes_what_is_older_than_the_retention(store_url: str) -> None:
    config = parse_config(f"store:\n  url: {store_url}\nanalytics:\n  retention_days: 30\n")
    engine = connect(store_url)
    clock = ManualClock(T)
    insert_events(engine, [event("old", "u", T - 31 * D), event("edge", "u", T - 29 * D),
                           event("new", "u", T - D)])  # fmt: skip

    def left() -> list[str]:
        with engine.connect() as conn:
            query = select(analytics_events.c.event).order_by(analytics_events.c.ts)
            return list(conn.execute(query).scalars())

    assert prune_analytics(engine, config, clock.now()) == 1
    assert left() == ["edge", "new"]
    assert prune_analytics(engine, config, clock.now()) == 0
    clock.advance(2 * D)
    report = tick(engine, config, clock.now())  # the loop prunes on every tick
    assert report.pruned["analytics_events"] == 1
    assert left() == ["new"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(analytics_events)).scalar() == 1
