"""A 3-step funnel over 1,000,000 events and 50,000 users on SQLite, beside pure SQL.

The event log is generated with a fixed seed (60 days of $pageview, $click, signup,
first_question, thumbs_up and other events; ~20 events per user), inserted in bulk into
a fresh SQLite store, then the funnel signup → first_question → thumbs_up (14-day
conversion window, first steps in the last 30 days, sequential order) is timed:

* prodloop: `compute_funnel` — the step events of the range, ordered by user and time,
  from SQL, then one Python pass per user (counts, conversion, median times, drop-off);
* the reference: the same funnel as one pure-SQL query with window functions (the next
  step-2 event after each event, then the next step-1 event and its next step-2, per
  first-step event; PostHog's way of writing funnels in SQL). It returns counts only.

Both run in the same process on the same file, alternating, `--repeats` times each after
a warm-up; the counts of the two must agree. Also timed: the same prodloop funnel in
strict and any order, and with a breakdown by version (50,000 request_events rows).
Target: < 2 s for the sequential funnel. Prints one JSON line and a markdown table, and
writes bench/.work/funnel.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from common import log, write_json

DAY_S = 86400.0
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
STEPS = ("signup", "first_question", "thumbs_up")
NOISE = ("$pageview", "$click", "$pageleave", "settings_opened", "share")
TARGET_S = 2.0

REFERENCE_SQL = """
WITH e AS (
  SELECT id, distinct_id, ts,
         CASE event WHEN :s0 THEN 0 WHEN :s1 THEN 1 WHEN :s2 THEN 2 END AS step
  FROM analytics_events
  WHERE event IN (:s0, :s1, :s2) AND ts >= :since AND ts < :horizon
),
after2 AS (
  SELECT e.*, MIN(CASE WHEN step = 2 THEN ts END) OVER (
    PARTITION BY distinct_id ORDER BY ts, id ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
  ) AS next2
  FROM e
),
after1 AS (
  SELECT distinct_id, ts, step,
         MIN(CASE WHEN step = 1 THEN ts END) OVER w AS t1,
         MIN(CASE WHEN step = 1 THEN next2 END) OVER w AS t2
  FROM after2
  WINDOW w AS (
    PARTITION BY distinct_id ORDER BY ts, id ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
  )
),
attempts AS (
  SELECT distinct_id,
         CASE WHEN t1 IS NULL OR t1 - ts > :window THEN 0
              WHEN t2 IS NULL OR t2 - ts > :window THEN 1 ELSE 2 END AS reached
  FROM after1
  WHERE step = 0 AND ts >= :since AND ts < :until
),
users AS (SELECT distinct_id, MAX(reached) AS reached FROM attempts GROUP BY distinct_id)
SELECT COUNT(*), SUM(reached >= 1), SUM(reached >= 2) FROM users
"""


def generate(users: int, events: int, seed: int) -> list[tuple[Any, ...]]:
    """Rows (uuid, event, distinct_id, ts, received_at, source, session_id, properties)."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    per_user = events / users
    for u in range(users):
        user = f"user-{u}"
        first = NOW - 60 * DAY_S + rng.random() * 58 * DAY_S
        active_s = rng.uniform(1, 30) * DAY_S
        count = max(1, int(rng.gauss(per_user, per_user / 3)))
        if u == users - 1:  # the last user absorbs the rounding, for an exact total
            count = events - len(rows)
        version = "v2" if u % 3 == 0 else "v1"
        for n in range(count):
            if n == 0 and rng.random() < 0.9:
                name, ts = "signup", first
            else:
                ts = first + rng.random() * active_s
                roll = rng.random()
                if roll < 0.12:
                    name = "first_question"
                elif roll < 0.18:
                    name = (
                        "thumbs_up" if rng.random() < (0.7 if version == "v2" else 0.5) else "share"
                    )
                elif roll < 0.19:
                    name = "signup"
                else:
                    name = NOISE[int(rng.random() * len(NOISE))]
            rows.append((
                str(uuid.UUID(int=rng.getrandbits(128))), name, user, min(ts, NOW - 1), NOW,
                "prodloop", f"s-{u}-{int(ts // 3600)}", "{}",
            ))  # fmt: skip
        if len(rows) >= events:
            break
    return rows[:events]


def request_rows(users: int, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed + 1)
    out = []
    for u in range(users):
        version = "v2" if u % 3 == 0 else "v1"
        out.append((NOW - rng.random() * 40 * DAY_S, "app", version, "/v1/chat", 200, 100.0,
                    f"user-{u}", f"new-prompt={'on' if u % 2 else 'off'}"))  # fmt: skip
    return out


def build_store(path: Path, users: int, events: int, seed: int) -> float:
    """A migrated SQLite store holding the generated log; seconds spent inserting."""
    from prodloop.store import connect

    engine = connect(f"sqlite:///{path}")
    engine.dispose()
    rows = generate(users, events, seed)
    started = time.perf_counter()
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO analytics_events (uuid, event, distinct_id, ts, received_at, source, "
            "session_id, properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany(
            "INSERT INTO request_events (ts, request_id, trace_id, service, version, route, "
            "status, is_stream, latency_ms, input_tokens, output_tokens, cached_tokens, "
            "reasoning_tokens, guardrails, user_id, flags, source) VALUES "
            "(?, '', '', ?, ?, ?, ?, 0, ?, 0, 0, 0, 0, '', ?, ?, 'gateway')",
            request_rows(users, seed),
        )
        db.execute("ANALYZE")
    return time.perf_counter() - started


def reference_counts(path: Path, params: dict[str, Any]) -> tuple[int, int, int]:
    with sqlite3.connect(path) as db:
        row = db.execute(REFERENCE_SQL, params).fetchone()
    return int(row[0]), int(row[1] or 0), int(row[2] or 0)


def timed(fn: Any, repeats: int) -> tuple[list[float], Any]:
    fn()  # warm-up: page cache and imports
    samples, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return samples, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()

    from prodloop.analytics.funnel import FunnelQuery, compute_funnel
    from prodloop.analytics.params import Breakdown, TimeRange
    from prodloop.store import connect

    path = Path(tempfile.mkdtemp(prefix="prodloop-funnel-")) / "prodloop.db"
    log(f"generating {args.events:,} events for {args.users:,} users (seed {args.seed})")
    insert_s = build_store(path, args.users, args.events, args.seed)
    engine = connect(f"sqlite:///{path}")
    window_s = 14 * DAY_S
    span = TimeRange(NOW - 30 * DAY_S, NOW)
    query = FunnelQuery(STEPS, window_s, span)
    params = {
        **{f"s{i}": step for i, step in enumerate(STEPS)},
        **{"since": span.since, "until": span.until, "window": window_s},
        "horizon": span.until + window_s,
    }

    load_at_start = os.getloadavg()
    rounds: dict[str, list[float]] = {"prodloop": [], "reference": []}
    funnel = None
    reference = None
    for _ in range(args.repeats):  # alternate, so load on the shared machine hits both
        samples, funnel = timed(lambda: compute_funnel(engine, query), 1)
        rounds["prodloop"] += samples
        samples, reference = timed(lambda: reference_counts(path, params), 1)
        rounds["reference"] += samples
    assert funnel is not None and reference is not None
    counts = tuple(step.count for step in funnel.steps)
    if counts != reference:
        sys.exit(f"prodloop {counts} and the reference {reference} disagree")
    variants = {
        "strict": FunnelQuery(STEPS, window_s, span, order="strict"),
        "any": FunnelQuery(STEPS, window_s, span, order="any"),
        "breakdown_version": FunnelQuery(STEPS, window_s, span, breakdown=Breakdown("version")),
    }
    for name, variant in variants.items():
        samples, _ = timed(lambda v=variant: compute_funnel(engine, v), max(1, args.repeats // 2))
        rounds[name] = samples
    median = {name: statistics.median(samples) for name, samples in rounds.items()}
    result = {
        "users": args.users,
        "events": args.events,
        "seed": args.seed,
        "insert_s": round(insert_s, 2),
        "counts": list(counts),
        "median_s_from_previous": [s.median_s_from_previous for s in funnel.steps],
        "seconds": {name: [round(s, 3) for s in samples] for name, samples in rounds.items()},
        "median_s": {name: round(value, 3) for name, value in median.items()},
        "target_s": TARGET_S,
        "met": median["prodloop"] < TARGET_S,
        "sqlite": sqlite3.sqlite_version,
        "load_average": {"start": load_at_start, "end": os.getloadavg()},
    }
    write_json("funnel.json", result)
    print(json.dumps(result))
    print(f"\n3-step funnel, {args.events:,} events, {args.users:,} users, SQLite "
          f"{sqlite3.sqlite_version}; users per step {counts}\n")  # fmt: skip
    print(f"load average (1/5/15 min): at start {load_at_start}, at end {os.getloadavg()}\n")
    print("| query | median [min – max] s |")
    print("| --- | --- |")
    for name, samples in rounds.items():
        print(f"| {name} | {median[name]:.3f} [{min(samples):.3f} – {max(samples):.3f}] |")
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
