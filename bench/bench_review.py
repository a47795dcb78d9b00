"""The weekly review over a busy week on SQLite: 50 requests/s for seven days (30,240,000
requests), 5,000 feedback items and 1,000,000 analytics events.

The review reads requests from the rollups (`query_slis` and the SLO segments split a
local-midnight-aligned week into whole hours, so they read rollups_hour only), so the
week is written as the rollups 30 M requests make rather than 30 M raw rows: per hour and
per key (2 services' versions × 2 routes × 2 models, 8 keys) a rollup row with its
counters and a latency histogram of the right counts, into rollups_hour and
rollups_minute, plus 100,000 raw request events of the last day as a sample. The week
before gets the same shape (so every figure has a change to report). Feedback, analytics
events (20,000 users; $pageview, $click, search, signup, first_question), 30 deploys
(some rolled back) and 4 incidents are inserted in bulk.

Timed: `write_weekly` (figures, SLOs, incidents, DORA, funnel, retention, feedback, both
files and the `reviews` row), `--repeats` times after one warm-up. Target: < 10 s.
Writes bench/.work/review.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common import log, write_json
from sqlalchemy import insert

from prodloop.config import parse_config
from prodloop.reviews.weekly import write_weekly
from prodloop.store import connect
from prodloop.store.schema import (
    analytics_events,
    deployments,
    feedback,
    feedback_clusters,
    incidents,
    request_events,
    rollups_hour,
    rollups_minute,
)
from prodloop.telemetry.histogram import Histogram
from prodloop.telemetry.rollups import Aggregate

ZONE = "Europe/Berlin"
WEEK = "2026-W48"
MONDAY = datetime(2026, 11, 23, tzinfo=ZoneInfo(ZONE)).timestamp()
RATE = 50
KEYS = [(v, r, m) for v in ("v1", "v2") for r in ("/v1/chat/completions", "/v1/embeddings")
        for m in ("gpt-4o-mini", "gpt-4o")]  # fmt: skip
TARGET_S = 10.0
EVENTS = ("$pageview", "$click", "search", "signup", "first_question")


def aggregate(requests: int, rng: random.Random, slow: float) -> Aggregate:
    """The rollup of `requests` requests: 1 % errors, latencies around 400 ms with a tail."""
    hist = Histogram()
    for value, share in ((250.0, 0.3), (400.0, 0.45), (700.0, 0.2), (1800.0 * slow, 0.05)):
        hist.add(value * rng.uniform(0.95, 1.05), max(1, int(requests * share)))
    errors = requests // 100
    return Aggregate(
        count=requests, errors=errors, successes=requests - errors,
        errors_by_class={"upstream_5xx": errors}, latency_sum_ms=requests * 480.0,
        latency_hist=hist, ttft_hist=Histogram(), input_tokens=requests * 300,
        output_tokens=requests * 150, cost_usd=requests * 0.0011, cost_known=requests,
        guardrail_requests=requests // 200, guardrail_counts={"pii": requests // 200},
    )  # fmt: skip


def write_rollups(engine: Any, start: float, rng: random.Random, slow: float) -> int:
    """A week of rollups at RATE requests/s from `start`; the requests they stand for."""
    per_minute = RATE * 60 // len(KEYS)
    total = 0
    with engine.begin() as conn:
        for hour in range(7 * 24):
            bucket = int(start) + hour * 3600
            hour_rows, minute_rows = [], []
            for version, route, model in KEYS:
                key = {"service": "chat", "version": version, "route": route, "model": model}
                hour_rows.append({"bucket": bucket, **key,
                                  **aggregate(per_minute * 60, rng, slow).to_row()})  # fmt: skip
                minute = aggregate(per_minute, rng, slow).to_row()
                for m in range(60):
                    minute_rows.append({"bucket": bucket + 60 * m, **key, **minute})
                total += per_minute * 60
            conn.execute(insert(rollups_hour), hour_rows)
            conn.execute(insert(rollups_minute), minute_rows)
    return total


def write_raw_sample(engine: Any, start: float, n: int) -> None:
    step = 86400.0 / n
    rows = [{"ts": start + i * step, "service": "chat", "version": "v1",
             "route": "/v1/chat/completions", "model": "gpt-4o-mini", "status": 200,
             "latency_ms": 400.0, "cost_usd": 0.0011, "guardrails": "", "flags": "",
             "source": "gateway"} for i in range(n)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(request_events), rows)


def write_feedback(engine: Any, n: int, rng: random.Random) -> None:
    with engine.begin() as conn:
        clusters = [
            conn.execute(
                insert(feedback_clusters).values(
                    label=f"cluster {c}",
                    method="tfidf",
                    size=n // 20,
                    updated_at=MONDAY,
                )
            ).inserted_primary_key[0]
            for c in range(20)
        ]
        rows = []
        for i in range(n):
            at = MONDAY - 7 * 86400 + rng.random() * 14 * 86400
            negative = rng.random() < 0.3
            rows.append({"created_at": at, "source": "api", "rating": 0.0 if negative else 1.0,
                         "rating_kind": "thumbs", "is_negative": negative,
                         "comment": f"comment {i}", "state": "new", "updated_at": at,
                         "cluster_id": clusters[i % 20], "service": "chat",
                         "version": "v1"})  # fmt: skip
        conn.execute(insert(feedback), rows)


def write_analytics(engine: Any, n: int, users: int, rng: random.Random) -> None:
    batch = []
    with engine.begin() as conn:
        for _ in range(n):
            user = rng.randrange(users)
            # Fewer users reach the later events, as a funnel narrows.
            event = EVENTS[min(int(rng.expovariate(0.9)), len(EVENTS) - 1)]
            at = MONDAY - 21 * 86400 + rng.random() * 28 * 86400
            batch.append({"uuid": uuid.UUID(int=rng.getrandbits(128)).hex, "event": event,
                          "distinct_id": f"user-{user}", "ts": at, "received_at": at,
                          "source": "prodloop", "properties": "{}"})  # fmt: skip
            if len(batch) == 50_000:
                conn.execute(insert(analytics_events), batch)
                batch = []
        if batch:
            conn.execute(insert(analytics_events), batch)


def write_delivery(engine: Any, rng: random.Random) -> None:
    with engine.begin() as conn:
        for i in range(30):
            created = MONDAY - 7 * 86400 + i * 14 * 86400 / 30
            failed = i % 6 == 0
            conn.execute(insert(deployments).values(
                service="chat", version=f"v{i}", upstream="http://127.0.0.1:9/v1",
                merged_at=created - rng.uniform(600, 3600), deployed_by="ci",
                created_at=created, live_at=None if failed else created + 1200,
                status="rolled_back" if failed else "superseded",
            ))  # fmt: skip
        for i in range(4):
            detected = MONDAY + i * 86400 * 1.5
            conn.execute(insert(incidents).values(
                service="chat", title=f"incident {i}", severity="SEV2", status="resolved",
                impact="minor", detected_at=detected, mitigated_at=detected + 900,
                resolved_at=detected + 3600, created_at=detected, updated_at=detected + 3600,
            ))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--feedback", type=int, default=5_000)
    args = parser.parse_args()
    rng = random.Random(48)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'review.db'}"
        config = parse_config(f"store:\n  url: {url}\nreviews:\n  time_zone: {ZONE}\n")
        engine = connect(url)
        started = time.perf_counter()
        requests = write_rollups(engine, MONDAY, rng, slow=1.2)
        write_rollups(engine, MONDAY - 7 * 86400, rng, slow=1.0)
        write_raw_sample(engine, MONDAY + 6 * 86400, 100_000)
        write_feedback(engine, args.feedback, rng)
        write_analytics(engine, args.events, 20_000, rng)
        write_delivery(engine, rng)
        log(f"store filled in {time.perf_counter() - started:.1f} s ({requests:,} requests)")
        now = MONDAY + 7 * 86400 + 9 * 3600
        timings = []
        for run in range(args.repeats + 1):
            began = time.perf_counter()
            md_path, _ = write_weekly(engine, config, WEEK, now, output_dir=Path(folder) / "out")
            if run:  # the first run warms the page cache
                timings.append(time.perf_counter() - began)
        markdown = md_path.read_text()
        engine.dispose()
    median = statistics.median(timings)
    result = {
        "requests": requests,
        "rate_per_s": RATE,
        "feedback": args.feedback,
        "analytics_events": args.events,
        "engine": "sqlite",
        "write_weekly_s": {"median": median, "min": min(timings), "max": max(timings)},
        "repeats": args.repeats,
        "target_s": TARGET_S,
        "meets_target": median < TARGET_S,
        "regressions_called_out": markdown.split("\n## ")[0].count("\n- "),
    }
    write_json("review.json", result)
    print(result)
    print(f"| weekly review, {requests:,} requests, {args.feedback:,} feedback, "
          f"{args.events:,} events | {median:.2f} s | < {TARGET_S:.0f} s |")  # fmt: skip
    return 0 if median < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
