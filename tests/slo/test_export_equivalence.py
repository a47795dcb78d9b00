"""prodloop's evaluator and Prometheus, given the same traffic, fire the same alerts.

Each scenario's requests go both ways: written with `write_events` into a SQLite store and
evaluated by `evaluate_alerts` with a manual clock every minute, and replayed through
prodloop's `Metrics`, scraped every minute and evaluated by `promtool test rules` with the
exported rules. Whatever the evaluator has firing after each evaluation becomes promtool's
expectation for that evaluation, for every alert name, so the test passes only when both
fire the same alerts, with the same labels, at the same evaluation step.

Evaluations fall on whole minutes: prodloop's windows start on a minute boundary (they
are read from minute rollups), so between boundaries they are up to a minute longer than
Prometheus's, and a comparison there would measure that rather than the rules.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from prodloop.alerting.evaluate import evaluate_alerts
from prodloop.config import Config, parse_config
from prodloop.slo.export import prometheus_rules
from prodloop.store import connect
from prodloop.store.schema import alerts
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events
from tests.slo.promtool_support import (
    T0,
    Expectation,
    requests,
    rules_without_annotations,
    run_promtool_test,
    scraped_series,
    write_test_file,
)
from tests.support import require_binary

MINUTE = 60.0
PER_MINUTE = 30

# When each alert (name and labels) is firing, by evaluation time in scenario seconds.
Timeline = dict[float, set[tuple[str, str]]]


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool")


def make_config(store_url: str, extra: str = "") -> Config:
    return parse_config(
        f"""
store: {{url: "{store_url}"}}
services:
  chat:
    stable: v1
    versions:
      v1: {{upstream: "http://127.0.0.1:9/v1"}}
{extra}
""",
        environ={},
    )


def evaluator_timeline(config: Config, events: list[RequestEvent], end_s: float) -> Timeline:
    """Replay `events` into the store minute by minute, evaluating after each minute."""
    engine = connect(config.store.url)
    shifted = sorted((dataclasses.replace(e, ts=e.ts + T0) for e in events), key=lambda e: e.ts)
    timeline: Timeline = {}
    position = 0
    for step in range(round(end_s / MINUTE) + 1):
        now = T0 + step * MINUTE
        batch = []
        while position < len(shifted) and shifted[position].ts < now:
            batch.append(shifted[position])
            position += 1
        write_events(engine, batch)
        evaluate_alerts(engine, config, now)
        with engine.connect() as conn:
            rows = conn.execute(
                select(alerts.c.alertname, alerts.c.labels).where(alerts.c.state == "firing")
            ).all()
        timeline[step * MINUTE] = {(name, labels) for name, labels in rows}
    engine.dispose()
    return timeline


def expectations(config: Config, timeline: Timeline) -> list[Expectation]:
    """The timeline as promtool expectations: every alert name at every evaluation."""
    names = sorted(
        {rule["alert"] for g in prometheus_rules(config)["groups"] for rule in g["rules"]
         if "alert" in rule}
    )  # fmt: skip
    return [
        Expectation(
            at,
            name,
            tuple(json.loads(labels) for alertname, labels in sorted(firing) if alertname == name),
        )
        for at, firing in timeline.items()
        for name in names
    ]


def first_firing(timeline: Timeline) -> dict[str, float]:
    """When each alert (alertname + window) first fired, in minutes."""
    first: dict[str, float] = {}
    for at in sorted(timeline):
        for name, labels in timeline[at]:
            window = json.loads(labels).get("window", "")
            first.setdefault(f"{name}/{window}", at / MINUTE)
    return first


def compare(
    promtool: str,
    tmp_path: Path,
    config: Config,
    events: list[RequestEvent],
    end_s: float,
) -> Timeline:
    timeline = evaluator_timeline(config, events, end_s)
    series = scraped_series(events, end_s, MINUTE, config)
    test_file = write_test_file(
        tmp_path, rules_without_annotations(config), series, MINUTE, expectations(config, timeline)
    )
    result = run_promtool_test(promtool, test_file)
    assert result.returncode == 0, (
        f"Prometheus disagrees with prodloop's evaluator (which fired {first_firing(timeline)})"
        f":\n{result.stdout}{result.stderr}"
    )
    return timeline


def healthy(minutes: float) -> list[RequestEvent]:
    return requests(0, minutes * MINUTE, PER_MINUTE)


def then(start_min: float, end_min: float, **shape: float) -> list[RequestEvent]:
    return requests(start_min * MINUTE, end_min * MINUTE, PER_MINUTE, **shape)


SCENARIOS: dict[str, tuple[Callable[[], list[RequestEvent]], float, dict[str, float]]] = {
    # name: (traffic, minutes evaluated, alerts that must have fired at these minutes)
    "full-outage": (
        lambda: healthy(60) + then(60, 80, error_share=1.0) + then(80, 100),
        100,
        {"SuccessRateBudgetBurn/1h": 65, "ErrorRateAboveThreshold/5m": 66},
    ),
    "five-percent-outage": (
        lambda: healthy(60) + then(60, 100, error_share=0.05) + then(100, 120),
        120,
        {"ErrorRateAboveThreshold/5m": 69},
    ),
    "one-percent-steady": (
        lambda: then(0, 180, error_share=0.01),
        180,
        {"SuccessRateBudgetBurn/3d": 4},
    ),
    "p95-over-threshold": (
        lambda: healthy(60) + then(60, 80, slow_share=0.1) + then(80, 100),
        100,
        {"LatencyP95AboveThreshold/5m": 68},
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_evaluator_and_prometheus_fire_at_the_same_step(
    name: str, promtool: str, sqlite_url: str, tmp_path: Path
) -> None:
    traffic, minutes, fired = SCENARIOS[name]
    config = make_config(sqlite_url)
    timeline = compare(promtool, tmp_path, config, traffic(), minutes * MINUTE)
    first = first_firing(timeline)
    assert {alert: first.get(alert) for alert in fired} == fired
    pages = {alert for alert in first if "Threshold" in alert or "/1h" in alert or "/6h" in alert}
    if name == "one-percent-steady":
        assert pages == set()


@pytest.mark.parametrize("policy", ["ok", "alerting", "keep"])
def test_no_data_policies_agree(
    policy: str, promtool: str, sqlite_url: str, tmp_path: Path
) -> None:
    # An outage, then no traffic at all for 10 minutes, then healthy traffic again.
    events = healthy(30) + then(30, 40, error_share=1.0) + then(50, 70)
    config = make_config(sqlite_url, f"alerts: {{no_data: {policy}}}")
    timeline = compare(promtool, tmp_path, config, events, 70 * MINUTE)

    # Eight minutes into the gap the 5 m windows are empty; the longer ones still have data.
    def short_window_alerts(minute: float) -> set[str]:
        return {
            name for name, labels in timeline[minute * MINUTE]
            if json.loads(labels)["window"] in ("1h", "5m")
        }  # fmt: skip

    before, during = short_window_alerts(40), short_window_alerts(48)
    assert {"SuccessRateBudgetBurn", "ErrorRateBudgetBurn", "ErrorRateAboveThreshold"} <= before
    if policy == "ok":
        assert during == set()
    elif policy == "keep":
        assert during == before
    else:
        assert during == before | {"LatencyP95BudgetBurn"}


def test_a_one_step_difference_is_caught(promtool: str, sqlite_url: str, tmp_path: Path) -> None:
    # The comparison itself must see an alert that fires one evaluation late.
    config = make_config(sqlite_url)
    events = healthy(60) + then(60, 75, error_share=1.0)
    timeline = evaluator_timeline(config, events, 75 * MINUTE)
    fired = min(at for at, firing in timeline.items() if firing)
    late = {at: set(firing) for at, firing in timeline.items()}
    late[fired] = set()
    series = scraped_series(events, 75 * MINUTE, MINUTE, config)
    test_file = write_test_file(
        tmp_path, rules_without_annotations(config), series, MINUTE, expectations(config, late)
    )
    result = run_promtool_test(promtool, test_file)
    assert result.returncode != 0
    minutes = int(fired // MINUTE)
    assert f"time: {minutes // 60}h{minutes % 60}m" in result.stdout + result.stderr


def test_keep_firing_for_agrees(promtool: str, sqlite_url: str, tmp_path: Path) -> None:
    config = make_config(
        sqlite_url,
        """
slos:
  objectives:
    - name: error-rate
      kind: ratio
      objective: 0.99
      alert: {above: 0.03, window: 5m, for: 2m, keep_firing_for: 3m}
""",
    )
    events = healthy(30) + then(30, 40, error_share=1.0) + then(40, 60)
    compare(promtool, tmp_path, config, events, 60 * MINUTE)
