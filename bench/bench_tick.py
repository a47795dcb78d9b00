"""Tick cost: one `loop.tick` over 10 services × 4 SLOs with 30 days of rollups, on SQLite.

A temporary SQLite store is filled with what 30 days of traffic at 10 requests/s per
service leave behind: a minute and an hour rollup row per bucket for each service (one
version, route and model each), with latency histograms built by
`prodloop.telemetry.histogram` from a few dozen random minute templates, plus the raw
events of the current partial minute, written by `write_events` as the pipeline would.
The config holds the 10 services and the guide's 4 SLOs, so each tick evaluates 150
alert rules (3 threshold and 12 burn-rate rules per service) over 7 windows of up to 3
days. Then `loop.tick(engine, config, now)` is timed: the first (cold) call, and the
median of several, `now` moving on by the tick interval each time. `slo_status` (what
`prodloop slo status` and GET /api/v1/slos compute, 30-day budgets included) is timed
the same way.

Prints one JSON line, then a short markdown table, and writes bench/.work/tick.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from common import WORK, log, spread, write_json
from sqlalchemy import Engine

from prodloop import loop
from prodloop.alerting.evaluate import evaluate_alerts
from prodloop.alerting.rules import alert_rules, rule_windows
from prodloop.config import Config, parse_config
from prodloop.slo.status import slo_status
from prodloop.store import connect
from prodloop.store.schema import rollups_hour, rollups_minute
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import DAY_S, HOUR_S, MINUTE_S, Aggregate, write_events

SERVICES = 10
RATE_PER_S = 10
DAYS = 30
TEMPLATES = 32
ROUTE = "/v1/chat/completions"
MODEL = "gpt-4o-mini"
# 2026-01-31T00:00:37.5Z: 37.5 s into a minute, so the current minute is read raw.
NOW = 1_769_817_637.5


def _config(url: str) -> Config:
    services = "".join(
        f"  svc{i:02d}:\n    stable: v1\n    versions:\n"
        f'      v1: {{upstream: "http://127.0.0.1:9/v1"}}\n'
        for i in range(SERVICES)
    )
    return parse_config(f"store:\n  url: {url}\nservices:\n{services}", environ={})


def _minute_template(rnd: random.Random, per_minute: int) -> Aggregate:
    """One minute of one service: counters and a latency histogram from 200 samples."""
    aggregate = Aggregate()
    samples = 200
    weight, extra = divmod(per_minute, samples)
    for i in range(samples):
        n = weight + (1 if i < extra else 0)
        latency = rnd.lognormvariate(0, 0.5) * 700.0
        aggregate.latency_hist.add(latency, n)
        aggregate.latency_sum_ms += latency * n
    errors = rnd.choice((0, 0, 0, 1, 2, 4))
    aggregate.count = per_minute
    aggregate.errors = errors
    aggregate.successes = per_minute - errors
    if errors:
        aggregate.errors_by_class = {"upstream_5xx": errors}
    aggregate.input_tokens = per_minute * 450
    aggregate.output_tokens = per_minute * 180
    aggregate.cost_usd = per_minute * 0.0012
    aggregate.cost_known = per_minute
    guardrails = rnd.choice((0, 0, 1, 3))
    aggregate.guardrail_requests = guardrails
    if guardrails:
        aggregate.guardrail_counts = {"pii": guardrails}
    return aggregate


def fill(engine: Engine, now: float, seed: int = 7) -> dict[str, int]:
    """30 days (and an hour more) of rollups per service, and the current minute's events."""
    rnd = random.Random(seed)
    first = int((now - DAYS * DAY_S) // HOUR_S * HOUR_S) - HOUR_S
    current_minute = int(now // MINUTE_S * MINUTE_S)
    templates = [_minute_template(rnd, RATE_PER_S * 60) for _ in range(TEMPLATES)]
    encoded = [(template, template.to_row()) for template in templates]
    minute_rows = hour_rows = 0
    for i in range(SERVICES):
        key = {"service": f"svc{i:02d}", "version": "v1", "route": ROUTE, "model": MODEL}
        minutes: list[dict[str, Any]] = []
        hours: list[dict[str, Any]] = []
        hour = Aggregate()
        for bucket in range(first, current_minute, MINUTE_S):
            template, row = encoded[rnd.randrange(TEMPLATES)]
            minutes.append({"bucket": bucket, **key, **row})
            hour.merge(template)
            if (bucket + MINUTE_S) % HOUR_S == 0 or bucket + MINUTE_S >= current_minute:
                hours.append({"bucket": bucket // HOUR_S * HOUR_S, **key, **hour.to_row()})
                hour = Aggregate()
        with engine.begin() as conn:
            for start in range(0, len(minutes), 5000):
                conn.execute(rollups_minute.insert(), minutes[start : start + 5000])
            conn.execute(rollups_hour.insert(), hours)
        minute_rows += len(minutes)
        hour_rows += len(hours)
    events = [
        RequestEvent(
            ts=current_minute + n / RATE_PER_S,
            service=f"svc{i:02d}",
            version="v1",
            route=ROUTE,
            status=200,
            latency_ms=rnd.lognormvariate(0, 0.5) * 700.0,
            model=MODEL,
            input_tokens=450,
            output_tokens=180,
            cost_usd=0.0012,
        )
        for i in range(SERVICES)
        for n in range(int((now - current_minute) * RATE_PER_S))
    ]
    write_events(engine, events)
    return {"minute_rows": minute_rows, "hour_rows": hour_rows, "raw_events": len(events)}


def _time(call: Any, runs: int, step_s: float) -> dict[str, float]:
    """The first (cold) call, then median, min and max of the next `runs` calls, in ms."""
    timings = []
    for run in range(runs + 1):
        t0 = time.perf_counter()
        call(NOW + run * step_s)
        timings.append((time.perf_counter() - t0) * 1000)
    rest = spread(timings[1:])
    return {
        "cold_ms": round(timings[0], 2),
        "median_ms": round(rest["median"], 2),
        "min_ms": round(rest["min"], 2),
        "max_ms": round(rest["max"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs after the cold one")
    args = parser.parse_args()

    folder = WORK / "tick"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db*"):
        old.unlink()
    url = f"sqlite:///{folder / 'tick.db'}"
    engine = connect(url)
    config = _config(url)
    transitions: list[int] = []

    def one_tick(now: float) -> None:
        transitions.append(len(loop.tick(engine, config, now).alert_transitions))

    try:
        t0 = time.perf_counter()
        filled = fill(engine, NOW)
        fill_s = time.perf_counter() - t0
        log(f"tick: filled {filled} in {fill_s:.1f} s")
        step = config.control.tick_interval_s
        tick = _time(one_tick, args.runs, step)
        alerts = _time(lambda now: evaluate_alerts(engine, config, now), args.runs, step)
        status = _time(lambda now: slo_status(engine, config, now), args.runs, step)
    finally:
        engine.dispose()
        for old in folder.glob("*.db*"):
            old.unlink()
    log(f"tick: loop.tick in {tick['median_ms']:.1f} ms (cold {tick['cold_ms']:.1f} ms)")
    result = {
        "bench": "tick",
        "store": "sqlite",
        "services": SERVICES,
        "slos_per_service": len(config.slos.objectives),
        "alert_rules": len(alert_rules(config)),
        "rule_windows_s": sorted(rule_windows(config)),
        "days": DAYS,
        "rate_per_s_per_service": RATE_PER_S,
        "tick_interval_s": step,
        "runs": args.runs,
        **filled,
        "fill_s": round(fill_s, 1),
        "alert_transitions": sum(transitions),
        "tick": tick,
        "evaluate_alerts": alerts,
        "slo_status": status,
        "target_ms": 200,
        "target_met": tick["median_ms"] < 200,
    }
    write_json("tick.json", result)
    print(json.dumps(result))
    print()
    print("| measure (SQLite, 10 services × 4 SLOs, 30 days) | median | min – max | cold |")
    print("| --- | --- | --- | --- |")
    for name, figures in (
        ("`loop.tick` (target < 200 ms)", tick),
        ("`evaluate_alerts` alone", alerts),
        ("`slo_status` (30-day budgets, 1h/6h/1d burn, week)", status),
    ):
        print(
            f"| {name} | {figures['median_ms']:.1f} ms | {figures['min_ms']:.1f} – "
            f"{figures['max_ms']:.1f} ms | {figures['cold_ms']:.1f} ms |"
        )


if __name__ == "__main__":
    main()
