"""The daily check-in: yesterday against the day before, posted to Slack and a webhook by
the loop at `reviews.daily_time`, and printed by `prodloop review daily`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodloop.config import parse_config
from prodloop.loop import tick
from prodloop.reviews.daily import build_daily
from prodloop.store import connect
from tests.alerting.recorder import (
    SLACK_PATH,
    WEBHOOK_PATH,
    check_alertmanager,
    check_slack,
    environ,
    paging_yaml,
    recording_server,
)
from tests.cli.conftest import run_cli
from tests.reviews.support_review import (
    W48_MONDAY,
    ZONE,
    at,
    config_for,
    write_delivery,
    write_feedback,
    write_traffic,
)

pytestmark = pytest.mark.scheduled_reviews  # these tests drive the schedule

THURSDAY = "2026-11-26"


def test_the_check_in_of_a_day_has_its_figures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = connect(url)
    config = config_for(url)
    write_traffic(engine)
    write_delivery(engine)
    write_feedback(engine, config)

    checkin = build_daily(engine, config, THURSDAY, at(W48_MONDAY, 4, 9))
    assert (checkin.day.label, checkin.day_before.label) == (THURSDAY, "2026-11-25")
    lines = checkin.lines()
    # Thursday: 100 requests of v1 (2 errors) and the canary's first 50 (5 errors).
    assert lines[0].startswith("Requests 150, p50 ")
    assert "error rate 4.67 %, cost $0.20 ($0.00133 / request), guardrail triggers 1" in lines[0]
    assert "SLO chat/error-rate: 4.667 % (target <= 1.000 %) MISSED" in lines
    assert "Deploy chat v2: live" in lines
    assert "Feedback 1 new (1 the day before), 0.0 % negative" in lines
    assert lines[-1].startswith("Since the day before: ")
    assert "error rate +133.3 % (worse by more than the margin)" in lines[-1]
    assert "token cost per request +33.3 % (worse by more than the margin)" in lines[-1]
    engine.dispose()


def test_the_loop_posts_yesterdays_check_in_once_at_its_time(tmp_path: Path) -> None:
    with recording_server() as recorder:
        text = (
            f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n"
            + paging_yaml(recorder.url)
            + f"reviews:\n  time_zone: {ZONE}\n  schedule: false\n  daily_time: '08:30'\n"
            "  notifiers: [slack, webhook, pagerduty]\n"
        )
        config = parse_config(text, environ=environ(recorder.url))
        engine = connect(config.store.url)
        write_traffic(engine)
        write_delivery(engine)

        def checkins() -> list[dict[str, object]]:
            return [b for b in recorder.bodies(SLACK_PATH) if "Daily check-in" in b["text"]]

        # Friday 08:29 in Berlin: the check-in of Wednesday (yesterday before 08:30) is due.
        report = tick(engine, config, at(W48_MONDAY, 4, 8.25) + 240)
        assert report.reviews == ["daily check-in 2026-11-25 posted to slack, webhook"]
        # 08:30: Thursday's check-in; later ticks post nothing more.
        report = tick(engine, config, at(W48_MONDAY, 4, 8.5))
        assert report.reviews == [f"daily check-in {THURSDAY} posted to slack, webhook"]
        assert tick(engine, config, at(W48_MONDAY, 4, 12)).reviews == []

        posted = checkins()
        assert [b["text"] for b in posted] == [
            "Daily check-in 2026-11-25",
            f"Daily check-in {THURSDAY}",
        ]
        assert all(check_slack(body) == [] for body in posted)
        section = posted[1]["blocks"][1]["text"]["text"]  # type: ignore[index]
        assert "• Requests 150, p50 " in section
        assert "• Deploy chat v2: live" in section
        assert "• SLO chat/error-rate: 4.667 % (target &lt;= 1.000 %) MISSED" in section
        hooks = [b for b in recorder.bodies(WEBHOOK_PATH)
                 if b["alerts"][0]["labels"]["alertname"] == "DailyCheckin"]  # fmt: skip
        assert len(hooks) == 2 and all(check_alertmanager(body) == [] for body in hooks)
        assert hooks[1]["alerts"][0]["labels"]["period"] == THURSDAY
        assert "Requests 150" in hooks[1]["alerts"][0]["annotations"]["summary"]
        engine.dispose()


def test_the_cli_prints_a_day_and_refuses_a_bad_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = connect(url)
    write_traffic(engine)
    engine.dispose()
    config = tmp_path / "prodloop.yaml"
    config.write_text(f"store:\n  url: {url}\nreviews:\n  time_zone: {ZONE}\n")
    done = run_cli("review", "daily", "--config", str(config), "--day", THURSDAY, "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["day"], shown["requests"]["this"]["requests"]) == (THURSDAY, 150)
    assert shown["requests"]["this"]["errors"] == 7 and shown["posted_to"] == []
    bad = run_cli("review", "daily", "--config", str(config), "--day", "2026-13-01")
    assert bad.returncode == 2 and "'2026-13-01' is not a day like 2026-11-27" in bad.stderr
