"""Synthetic traffic for SLO and alert tests: steady history as rollups, live requests as events.

History (days of it) is written as the minute and hour rollup rows steady traffic leaves
behind, which is fast; what a test watches (an outage) is replayed as RequestEvents through
`write_events` with explicit timestamps, tick by tick, exactly as the gateway's pipeline
would write it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from prodloop.alerting.evaluate import AlertTransition, evaluate_alerts
from prodloop.config import Config, parse_config
from prodloop.store.schema import rollups_hour, rollups_minute
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import HOUR_S, MINUTE_S, Aggregate, write_events

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday
ROUTE = "/v1/chat/completions"
MODEL = "gpt-4o-mini"


def event(
    ts: float,
    service: str = "chat",
    *,
    error: str | None = None,
    latency_ms: float = 300.0,
    cost_usd: float | None = 0.001,
    guardrails: tuple[str, ...] = (),
) -> RequestEvent:
    return RequestEvent(
        ts=ts,
        service=service,
        version="v1",
        route=ROUTE,
        status={None: 200, "upstream_5xx": 502, "rate_limited": 429}.get(error, 500),
        latency_ms=latency_ms,
        model=MODEL,
        error_class=error,
        cost_usd=cost_usd,
        guardrails=guardrails,
    )


def minute_aggregate(
    per_minute: int,
    *,
    errors: int = 0,
    latency_ms: float = 300.0,
    slow: int = 0,
    slow_ms: float = 3000.0,
    cost_usd: float = 0.001,
) -> Aggregate:
    """One minute of steady traffic: `errors` server errors, `slow` requests at `slow_ms`."""
    aggregate = Aggregate()
    aggregate.count = per_minute
    aggregate.errors = errors
    aggregate.successes = per_minute - errors
    if errors:
        aggregate.errors_by_class = {"upstream_5xx": errors}
    aggregate.latency_hist.add(latency_ms, per_minute - slow)
    aggregate.latency_hist.add(slow_ms, slow)
    aggregate.latency_sum_ms = latency_ms * (per_minute - slow) + slow_ms * slow
    aggregate.cost_usd = cost_usd * per_minute
    aggregate.cost_known = per_minute
    return aggregate


def write_history(
    engine: Engine,
    start: float,
    end: float,
    service: str = "chat",
    minute: Aggregate | None = None,
) -> None:
    """Rollup rows for steady traffic in [start, end), both hour-aligned."""
    assert start % HOUR_S == 0 and end % HOUR_S == 0
    minute = minute or minute_aggregate(120)
    key = {"service": service, "version": "v1", "route": ROUTE, "model": MODEL}
    row = minute.to_row()
    hour = Aggregate()
    for _ in range(60):
        hour.merge(minute)
    hour_row = hour.to_row()
    minutes = [{"bucket": bucket, **key, **row} for bucket in range(int(start), int(end), MINUTE_S)]
    hours = [
        {"bucket": bucket, **key, **hour_row} for bucket in range(int(start), int(end), HOUR_S)
    ]
    with engine.begin() as conn:
        for chunk in range(0, len(minutes), 2000):
            conn.execute(rollups_minute.insert(), minutes[chunk : chunk + 2000])
        conn.execute(rollups_hour.insert(), hours)


EventMaker = Callable[[float, int], RequestEvent]


@dataclass
class Replay:
    """Requests at a steady rate, written and evaluated every `tick_s` seconds."""

    engine: Engine
    config: Config
    now: float = T0
    rate_per_s: float = 2.0
    tick_s: float = 15.0
    sent: int = 0
    log: list[tuple[float, AlertTransition]] = field(default_factory=list)

    def run(self, seconds: float, make: EventMaker) -> list[tuple[float, AlertTransition]]:
        """Send requests made by `make(ts, n)` (n counts requests) and tick; what changed."""
        found: list[tuple[float, AlertTransition]] = []
        end = self.now + seconds
        gap = 1.0 / self.rate_per_s if self.rate_per_s > 0 else 0.0
        while self.now < end - 1e-9:
            lo, self.now = self.now, self.now + self.tick_s
            batch = []
            if gap:
                count = round(self.tick_s * self.rate_per_s)
                for i in range(count):
                    batch.append(make(lo + i * gap, self.sent))
                    self.sent += 1
            write_events(self.engine, batch)
            for transition in evaluate_alerts(self.engine, self.config, self.now):
                found.append((self.now, transition))
        self.log.extend(found)
        return found


def firing(
    log: list[tuple[float, AlertTransition]], **labels: Any
) -> list[tuple[float, AlertTransition]]:
    """The transitions to firing whose labels include `labels`."""
    return [
        (at, t)
        for at, t in log
        if t.to_state == "firing" and all(t.labels.get(k) == v for k, v in labels.items())
    ]


def config_text(store_url: str, extra: str = "") -> str:
    """prodloop.yaml for one service, `chat`, with the guide's SLOs and alert rules."""
    return f"""
store:
  url: {store_url}
services:
  chat:
    stable: v1
    versions:
      v1: {{upstream: "http://127.0.0.1:9/v1"}}
{extra}
"""


def make_config(store_url: str, extra: str = "") -> Config:
    return parse_config(config_text(store_url, extra), environ={})
