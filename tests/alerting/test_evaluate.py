"""evaluate_alerts on both engines: outages replayed as requests with a manual clock.

Every scenario has three days of healthy history at 2 requests/s (120 a minute) before
T0, so the burn-rate windows are full, then replays requests through `write_events` and
evaluates every 15 s, as `loop.tick` would.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from prodloop import loop
from prodloop.alerting.evaluate import AlertTransition
from prodloop.config import parse_config
from prodloop.store import connect
from prodloop.store.schema import alerts
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import DAY_S
from tests.slo.traffic import T0, Replay, config_text, event, firing, make_config, write_history


def _healthy(ts: float, _n: int) -> RequestEvent:
    return event(ts)


def _outage(ts: float, _n: int) -> RequestEvent:
    return event(ts, error="upstream_5xx")


def _five_percent(ts: float, n: int) -> RequestEvent:
    return event(ts, error="upstream_5xx" if n % 20 == 19 else None)


def _pages(log: list[tuple[float, AlertTransition]]) -> list[tuple[float, str]]:
    return [(at - T0, t.alertname) for at, t in firing(log, severity="page")]


def test_full_outage_pages_within_five_minutes(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url)
    write_history(engine, T0 - 3 * DAY_S, T0)
    replay = Replay(engine, config)

    log = replay.run(360, _outage)

    # success-rate (99.5 %) burns 14.4× over 1h and 5m once 7.2 % of the hour has failed
    first_at, first = firing(log, severity="page")[0]
    assert first_at - T0 == 270
    assert (first.alertname, first.labels["window"], first.labels["short_window"]) == (
        "SuccessRateBudgetBurn",
        "1h",
        "5m",
    )
    assert first.value is not None and first.value > 14.4
    assert first.threshold == 14.4
    assert first.labels["service"] == "chat"
    assert first.runbook_url == "ops/runbooks/triage.md"
    assert first.dashboard_url == "http://127.0.0.1:8765/?service=chat&slo=success-rate"
    # the guide's error-rate rule (3 % for 5m) follows once its hold has passed
    (threshold_at, threshold), *_ = firing(log, alertname="ErrorRateAboveThreshold")
    assert threshold_at - T0 == 315
    assert threshold.from_state == "pending" and threshold.value == 1.0
    assert "error rate 100.00% over 5m (threshold 3.00%)" in threshold.summary


def test_five_percent_errors_page_within_ten_minutes(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url)
    write_history(engine, T0 - 3 * DAY_S, T0)
    replay = Replay(engine, config)

    log = replay.run(600, _five_percent)

    # the 5m error rate passes 3 % at 3m15s; held for 5m it fires: burn-rate rules alone
    # would take hours on a 5 % outage
    pending = [(at - T0) for at, t in log if t.to_state == "pending"]
    assert pending == [195]
    assert _pages(log) == [(495, "ErrorRateAboveThreshold")]


def test_one_percent_errors_for_a_day_never_page(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url)
    write_history(engine, T0 - 3 * DAY_S, T0)
    replay = Replay(engine, config, rate_per_s=0.5, tick_s=600)

    log = replay.run(
        DAY_S, lambda ts, n: event(ts, error="upstream_5xx" if n % 100 == 99 else None)
    )

    assert _pages(log) == []
    assert replay.sent == 43_200
    # a ticket may be raised for the success-rate budget (2× burn), never a page
    assert {t.severity for _, t in log} <= {"ticket"}


def test_slow_p95_fires_the_latency_threshold_rule(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url)
    write_history(engine, T0 - 3 * DAY_S, T0)
    replay = Replay(engine, config)

    log = replay.run(420, lambda ts, n: event(ts, latency_ms=3000.0))

    ((at, alert),) = firing(log, alertname="LatencyP95AboveThreshold")
    assert at - T0 == 330  # over 2.5 s from 30 s on, held for 5m
    assert alert.value is not None and abs(alert.value - 3000) <= 30
    assert alert.threshold == 2500
    assert "p95 latency 3.0" in alert.summary


def test_p95_below_the_alert_threshold_does_not_fire(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url)
    write_history(engine, T0 - 3 * DAY_S, T0)

    log = Replay(engine, config).run(600, lambda ts, n: event(ts, latency_ms=2400.0))

    assert firing(log) == []


def test_zero_traffic_is_not_an_outage(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url)
    write_history(engine, T0 - 3 * DAY_S, T0)

    log = Replay(engine, config, rate_per_s=0, tick_s=60).run(2 * 3600, _healthy)

    assert log == []


def test_no_data_can_be_configured_to_alert(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url, "alerts:\n  no_data: alerting\n")
    write_history(engine, T0 - 3 * DAY_S, T0)

    log = Replay(engine, config, rate_per_s=0, tick_s=60).run(660, _healthy)

    # the 5m window is empty from 5m on; the threshold rule then holds 5m more
    assert firing(log, alertname="ErrorRateAboveThreshold")[0][0] - T0 == 600


def test_too_few_requests_decide_nothing(store_url: str) -> None:
    engine = connect(store_url)
    # one request a minute, every one failing: a 5m window never holds alerts.min_requests
    quiet = Replay(engine, make_config(store_url), rate_per_s=1 / 60, tick_s=60).run(900, _outage)
    assert [t for _, t in quiet if t.labels["kind"] == "threshold"] == []

    # the same trickle is an outage once a single request is enough to decide
    eager = make_config(store_url, "alerts:\n  min_requests: 1\n")
    loud = Replay(engine, eager, now=T0 + 900, rate_per_s=1 / 60, tick_s=60).run(900, _outage)
    assert firing(loud, alertname="ErrorRateAboveThreshold")


def _rows(url: str, alertname: str) -> list[dict[str, object]]:
    engine = connect(url)
    try:
        with engine.connect() as conn:
            query = select(alerts).where(alerts.c.alertname == alertname).order_by(alerts.c.id)
            return [dict(row) for row in conn.execute(query).mappings()]
    finally:
        engine.dispose()


def test_restart_keeps_the_pending_timer_and_the_firing_state(store_url: str) -> None:
    config = make_config(store_url)
    engine = connect(store_url)
    write_history(engine, T0 - 3 * DAY_S, T0)
    replay = Replay(engine, config)
    replay.run(240, _five_percent)
    assert [row["state"] for row in _rows(store_url, "ErrorRateAboveThreshold")] == ["pending"]

    # a fresh process on the same store: the timer started at 3m15s still counts
    engine.dispose()
    replay.engine = engine = connect(store_url)
    log = replay.run(360, _five_percent)
    assert _pages(log) == [(495, "ErrorRateAboveThreshold")]

    engine.dispose()
    replay.engine = engine = connect(store_url)
    assert replay.run(300, _five_percent) == []  # still firing, not pending again
    (row,) = _rows(store_url, "ErrorRateAboveThreshold")
    assert (row["state"], row["active_at"], row["fired_at"]) == ("firing", T0 + 195, T0 + 495)
    assert row["last_eval_at"] == replay.now and row["value"] == 0.05
    assert json.loads(str(row["labels"]))["alertname"] == "ErrorRateAboveThreshold"

    # recovery resolves it; the row stays as history and the next outage is a new row
    resolved = replay.run(420, _healthy)
    assert [(t.alertname, t.to_state) for _, t in resolved] == [
        ("ErrorRateAboveThreshold", "resolved")
    ]
    (row,) = _rows(store_url, "ErrorRateAboveThreshold")
    assert row["state"] == "resolved" and row["resolved_at"] == resolved[0][0]


ONE_MINUTE_RULE = """
slos:
  objectives:
    - name: error-rate
      kind: ratio
      objective: 0.99
      alert: {above: 0.03, window: 1m, for: 5m}
      burn_rate_alerts: false
"""


def test_a_blip_shorter_than_for_never_fires_and_leaves_no_row(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url, ONE_MINUTE_RULE)
    write_history(engine, T0 - 3 * DAY_S, T0)
    replay = Replay(engine, config)

    log = replay.run(120, _outage) + replay.run(600, _healthy)

    states = [(at - T0, t.from_state, t.to_state) for at, t in log]
    assert states == [(15, "inactive", "pending"), (180, "pending", "inactive")]
    assert _rows(store_url, "ErrorRateAboveThreshold") == []


def test_tick_evaluates_alerts_and_a_removed_rule_resolves(store_url: str) -> None:
    engine = connect(store_url)
    write_history(engine, T0 - 3 * DAY_S, T0)
    config = make_config(store_url, "alerts:\n  burn_rate_windows: []\n")
    Replay(engine, config).run(330, _outage)
    assert [r["state"] for r in _rows(store_url, "ErrorRateAboveThreshold")] == ["firing"]

    report = loop.tick(engine, config, T0 + 345)
    assert report.alert_transitions == []

    without = parse_config(
        config_text(store_url, "alerts:\n  burn_rate_windows: []\nslos:\n  objectives: []\n"),
        environ={},
    )
    report = loop.tick(engine, without, T0 + 360)
    moved = {(t.alertname, t.from_state, t.to_state) for t in report.alert_transitions}
    assert ("ErrorRateAboveThreshold", "firing", "resolved") in moved
    assert {t.to_state for t in report.alert_transitions} <= {"resolved", "inactive"}
