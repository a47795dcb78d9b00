"""The schedule: the weekly review is written once, on Monday 09:00 local time, for the
week just ended, across a daylight-saving change, and its summary is posted to Slack."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.loop import tick
from prodloop.reviews.schedule import daily_due, weekly_due
from prodloop.store import connect
from prodloop.store.schema import reviews
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events
from tests.alerting.recorder import SLACK_PATH, check_slack, environ, paging_yaml, recording_server
from tests.reviews.support_review import ZONE

pytestmark = pytest.mark.scheduled_reviews  # these tests drive the schedule


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


def request(ts: float) -> RequestEvent:
    return RequestEvent(ts=ts, service="chat", version="v1", route="/v1/chat/completions",
                        status=200, latency_ms=400.0, cost_usd=0.001)  # fmt: skip


def test_the_weekly_review_is_written_once_at_monday_nine_local_across_dst(
    tmp_path: Path,
) -> None:
    out = tmp_path / "reviews"
    with recording_server() as recorder:
        text = (
            f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n"
            + paging_yaml(recorder.url)
            + f"reviews:\n  time_zone: {ZONE}\n  output_dir: {out}\n  daily: false\n"
            "  notifiers: [slack]\n"
        )
        config = parse_config(text, environ=environ(recorder.url))
        engine = connect(config.store.url)
        # ISO week 2026-W43 in Berlin runs from Monday 19 October 00:00 CEST (18 Oct 22:00
        # UTC) to Monday 26 October 00:00 CET (25 Oct 23:00 UTC): 169 hours. One request
        # just after it starts and one in its extra hour's evening.
        write_events(engine, [request(utc(2026, 10, 18, 22, 30)),
                              request(utc(2026, 10, 25, 22, 30))])  # fmt: skip

        # 08:30 CET on Monday 26 October is 07:30 UTC: 09:00 in summer time has passed,
        # 09:00 local has not. The week before (W42, empty) is caught up, W43 waits.
        clock = ManualClock(utc(2026, 10, 26, 7, 30))
        assert weekly_due(config, clock.now()) == "2026-W42"
        report = tick(engine, config, clock.now())
        assert report.reviews == ["weekly review 2026-W42 skipped: no data"]
        assert not out.exists()

        clock.set(utc(2026, 10, 26, 8, 0))  # 09:00 CET
        assert weekly_due(config, clock.now()) == "2026-W43"
        report = tick(engine, config, clock.now())
        assert report.reviews == [
            f"weekly review 2026-W43 written to {out / '2026-W43.md'}",
            "weekly review 2026-W43 posted to slack",
        ]
        markdown = (out / "2026-W43.md").read_text()
        assert "2026-10-19 00:00 to 2026-10-26 00:00 (Europe/Berlin)" in markdown
        assert "| 2026-W43 | 2 (–) |" in markdown
        assert (out / "2026-W43.html").exists()

        # Once per week: nothing more until the next Monday 09:00 CET (08:00 UTC).
        for later in (utc(2026, 10, 26, 9, 0), utc(2026, 10, 29, 12, 0), utc(2026, 11, 2, 7, 59)):
            clock.set(later)
            assert tick(engine, config, clock.now()).reviews == []
        clock.advance(60)
        assert tick(engine, config, clock.now()).reviews == [
            "weekly review 2026-W44 skipped: no data"
        ]
        with engine.connect() as conn:
            written = conn.execute(select(reviews.c.kind, reviews.c.period)).all()
        assert sorted(written) == [("weekly", f"2026-W4{n}") for n in (2, 3, 4)]

        posted = [b for b in recorder.bodies(SLACK_PATH) if "Weekly review" in b["text"]]
        assert len(posted) == 1 and check_slack(posted[0]) == []
        assert posted[0]["text"] == (
            "Weekly review 2026-W43: 2 requests, 0 incidents, 0 deploys, 0 SLOs missed"
        )
        assert "Nothing got worse than last week." in posted[0]["blocks"][1]["text"]["text"]
        engine.dispose()


def test_the_daily_check_in_is_due_for_yesterday_from_its_local_time() -> None:
    config = parse_config(f"reviews:\n  time_zone: {ZONE}\n  daily_time: '09:00'\n")
    # Sunday 29 March 2026, the day summer time starts: 09:00 CEST is 07:00 UTC.
    assert daily_due(config, utc(2026, 3, 29, 6, 59)) == "2026-03-27"
    assert daily_due(config, utc(2026, 3, 29, 7, 0)) == "2026-03-28"


def test_a_review_that_cannot_be_written_does_not_stop_the_loop(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    text = (f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n"
            f"reviews:\n  time_zone: {ZONE}\n  output_dir: {blocked / 'reviews'}\n")  # fmt: skip
    config = parse_config(text, environ={})
    engine = connect(config.store.url)
    write_events(engine, [request(utc(2026, 10, 20, 12, 0))])
    report = tick(engine, config, utc(2026, 10, 26, 8, 0))
    assert report.reviews == [
        "weekly review 2026-W43 failed: output_dir: cannot write reviews to "
        f"'{blocked / 'reviews'}': Not a directory"
    ]
    with engine.connect() as conn:
        assert conn.execute(select(reviews)).first() is None  # retried at the next tick
    engine.dispose()
