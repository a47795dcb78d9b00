"""SLI query: p95 latency over 30 days of rollups for one service at 50 requests/s.

The store is filled directly with what 30 days of such traffic leave behind (about 130 M
requests): a minute rollup and an hour rollup per bucket for each of the service's keys
(chat completions at 45 req/s and embeddings at 5 req/s, so two keys), with latency and
TTFT histograms built by `prodloop.telemetry.histogram`, plus the raw events of the
current partial minute. Then `prodloop.telemetry.sli.query_slis(start=now-30d, end=now,
service=...)` is timed: the first (cold) call, then the median of several.

Run on SQLite (the default store) and, when PostgreSQL is installed, on a throwaway
cluster.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from common import WORK, create_database, log, postgres_cluster, write_json
from sqlalchemy import Engine

from prodloop.store import connect
from prodloop.store.schema import rollups_hour, rollups_minute
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import DAY_S, HOUR_S, MINUTE_S, Aggregate, write_events
from prodloop.telemetry.sli import query_slis

SERVICE = "assistant"
# (version, route, model, requests per second): 50 req/s for the service in all.
KEYS = (
    ("v1", "/v1/chat/completions", "gpt-4o-mini", 45),
    ("v1", "/v1/embeddings", "text-embedding-3-small", 5),
)
DAYS = 30
TEMPLATES = 48  # distinct minute aggregates per key, drawn at random for each minute


def _minute_template(rnd: random.Random, per_minute: int, chat: bool) -> Aggregate:
    """One minute of one key: its counters and histograms, from a few hundred samples."""
    aggregate = Aggregate()
    samples = 400
    weight, extra = divmod(per_minute, samples)
    median_ms = 900.0 if chat else 60.0
    for i in range(samples):
        n = weight + (1 if i < extra else 0)
        latency = rnd.lognormvariate(0, 0.45) * median_ms
        aggregate.latency_hist.add(latency, n)
        aggregate.latency_sum_ms += latency * n
        if chat and i % 2 == 0:
            aggregate.ttft_hist.add(latency * 0.25, n)
            aggregate.ttft_count += n
            aggregate.stream_count += n
    aggregate.count = per_minute
    errors = rnd.choice((0, 0, 0, 1, 2, 5))
    aggregate.errors = errors
    aggregate.successes = per_minute - errors
    if errors:
        aggregate.errors_by_class = {"upstream_5xx": errors}
    aggregate.input_tokens = per_minute * (450 if chat else 120)
    aggregate.output_tokens = per_minute * 180 if chat else 0
    aggregate.cost_usd = per_minute * (0.00018 if chat else 0.000002)
    aggregate.cost_known = per_minute
    guardrails = rnd.choice((0, 0, 1, 3))
    aggregate.guardrail_requests = guardrails
    if guardrails:
        aggregate.guardrail_counts = {"pii": guardrails}
    return aggregate


def fill(engine: Engine, now: float, seed: int = 5) -> dict[str, int]:
    """Write 30 days (and an hour more) of rollups for the service, and the current minute."""
    rnd = random.Random(seed)
    first = int((now - DAYS * DAY_S) // HOUR_S * HOUR_S) - HOUR_S
    current_minute = int(now // MINUTE_S * MINUTE_S)
    minute_rows = 0
    hour_rows = 0
    for version, route, model, rate in KEYS:
        chat = route.endswith("completions")
        templates = [_minute_template(rnd, rate * 60, chat) for _ in range(TEMPLATES)]
        encoded = [(t, t.to_row()) for t in templates]
        key = {"service": SERVICE, "version": version, "route": route, "model": model}
        rows: list[dict[str, Any]] = []
        hour_aggregate = Aggregate()
        hours: list[dict[str, Any]] = []
        for bucket in range(first, current_minute, MINUTE_S):
            template, row = encoded[rnd.randrange(TEMPLATES)]
            rows.append({"bucket": bucket, **key, **row})
            hour_aggregate.merge(template)
            if (bucket + MINUTE_S) % HOUR_S == 0 or bucket + MINUTE_S >= current_minute:
                hours.append(
                    {"bucket": bucket // HOUR_S * HOUR_S, **key, **hour_aggregate.to_row()}
                )
                hour_aggregate = Aggregate()
            if len(rows) >= 5000:
                with engine.begin() as conn:
                    conn.execute(rollups_minute.insert(), rows)
                minute_rows += len(rows)
                rows = []
        with engine.begin() as conn:
            if rows:
                conn.execute(rollups_minute.insert(), rows)
            conn.execute(rollups_hour.insert(), hours)
        minute_rows += len(rows)
        hour_rows += len(hours)
    # The current, partial minute lives in raw events (and its rollups, as the writer
    # leaves them): 50 req/s up to now.
    events = []
    for version, route, model, rate in KEYS:
        for i in range(int((now - current_minute) * rate)):
            events.append(
                RequestEvent(
                    ts=current_minute + i / rate,
                    service=SERVICE,
                    version=version,
                    route=route,
                    status=200,
                    latency_ms=rnd.lognormvariate(6.8, 0.45),
                    model=model,
                    input_tokens=450,
                    output_tokens=180,
                    cost_usd=0.00018,
                )
            )
    if events:
        # Written as the gateway's pipeline would: raw rows, and the current minute merged
        # into the minute and hour rollups.
        write_events(engine, events)
    return {"minute_rows": minute_rows, "hour_rows": hour_rows, "raw_events": len(events)}


def time_queries(engine: Engine, now: float, runs: int) -> dict[str, Any]:
    start = now - DAYS * DAY_S
    timings = []
    answer = None
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        answer = query_slis(engine, start=start, end=now, service=SERVICE)
        timings.append((time.perf_counter() - t0) * 1000)
    assert answer is not None
    slis = answer[0]
    return {
        "cold_ms": timings[0],
        "median_ms": statistics.median(timings[1:]),
        "min_ms": min(timings[1:]),
        "max_ms": max(timings[1:]),
        "runs": runs,
        "requests_in_window": slis.requests,
        "p95_ms": slis.latency_ms.get("p95"),
    }


def run(engine: Engine, name: str, runs: int) -> dict[str, Any]:
    now = time.time()
    t0 = time.perf_counter()
    filled = fill(engine, now)
    log(f"{name}: filled {filled} in {time.perf_counter() - t0:.1f} s")
    result = time_queries(engine, now, runs)
    log(
        f"{name}: p95 over {DAYS} days ({result['requests_in_window']:,} requests) "
        f"in {result['median_ms']:.1f} ms (cold {result['cold_ms']:.1f} ms)"
    )
    return {**filled, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    results: dict[str, Any] = {"service_rate_per_s": sum(k[3] for k in KEYS), "days": DAYS}
    folder = WORK / "sli"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db*"):
        old.unlink()
    engine = connect(f"sqlite:///{folder / 'sli.db'}")
    try:
        results["sqlite"] = run(engine, "sqlite", args.runs)
    finally:
        engine.dispose()
    for old in folder.glob("*.db*"):
        old.unlink()
    if not args.skip_postgres:
        with postgres_cluster() as server:
            engine = connect(create_database(server, "sli"))
            try:
                results["postgresql"] = run(engine, "postgresql", args.runs)
            finally:
                engine.dispose()
    write_json("sli.json", results)


if __name__ == "__main__":
    main()
