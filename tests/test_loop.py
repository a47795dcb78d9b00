from __future__ import annotations

from sqlalchemy import func, select

from prodloop import loop
from prodloop.config import parse_config
from prodloop.store import connect
from prodloop.store.schema import request_events, rollups_minute
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events

DAY = 86_400.0


def _event(ts: float) -> RequestEvent:
    return RequestEvent(
        ts=ts,
        service="chat",
        version="v1",
        route="/v1/chat/completions",
        status=200,
        latency_ms=120.0,
    )


def test_tick_applies_raw_retention_with_the_given_now(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    config = parse_config("telemetry:\n  raw_retention_days: 14\n", environ={})
    now = 1_780_000_000.0
    write_events(engine, [_event(now - 15 * DAY), _event(now - 13 * DAY), _event(now - 60)])

    report = loop.tick(engine, config, now)

    assert report.pruned["request_events"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(request_events)).scalar_one() == 2
        # rollups outlive raw events: the 15-day-old minute is still there
        assert conn.execute(select(func.count()).select_from(rollups_minute)).scalar_one() == 3
