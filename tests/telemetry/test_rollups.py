from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict

import pytest
from sqlalchemy import Engine, func, select

from prodloop.config import TelemetryConfig
from prodloop.store import connect
from prodloop.store.schema import request_events, rollups_hour, rollups_minute
from prodloop.telemetry.events import SERVER_ERRORS, RequestEvent
from prodloop.telemetry.histogram import Histogram
from prodloop.telemetry.rollups import Aggregate, RollupKey, prune, write_events
from tests.telemetry.fakes import HOUR0, random_events

DAY = 86400.0


def stored_rollups(engine: Engine, minute: bool = True) -> dict[RollupKey, Aggregate]:
    table = rollups_minute if minute else rollups_hour
    with engine.connect() as conn:
        rows = conn.execute(select(table)).mappings().all()
    return {
        (
            row["bucket"],
            row["service"],
            row["version"],
            row["route"],
            row["model"],
        ): Aggregate.from_row(row)
        for row in rows
    }


def count_rows(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_raw_rows_keep_every_field(store_url: str) -> None:
    engine = connect(store_url)
    event = RequestEvent(
        ts=HOUR0 + 12.5, service="chat", version="v1", route="/v1/chat/completions", status=200,
        latency_ms=812.0, request_id="req-1", trace_id="ab" * 16, model=None, provider="openai",
        ttft_ms=90.0, is_stream=True, input_tokens=10, output_tokens=20, cached_tokens=3,
        reasoning_tokens=4, cost_usd=None, guardrails=("pii", "max_tokens"), user="ann",
        overhead_ms=0.4, source="sdk",
    )  # fmt: skip
    write_events(engine, [event])
    with engine.connect() as conn:
        row = conn.execute(select(request_events)).mappings().one()
    assert row["guardrails"] == "pii,max_tokens"
    assert row["user_id"] == "ann"
    assert row["model"] is None
    assert row["is_stream"] is True
    assert (row["ts"], row["latency_ms"], row["ttft_ms"], row["source"]) == (
        HOUR0 + 12.5,
        812.0,
        90.0,
        "sdk",
    )
    assert (row["trace_id"], row["cost_usd"], row["overhead_ms"]) == ("ab" * 16, None, 0.4)


def test_rollups_aggregate_each_minute_and_hour_exactly(store_url: str) -> None:
    engine = connect(store_url)
    events = random_events(random.Random(7), 1500, HOUR0 + 1800, 2 * 3600)
    # Several batches, so that most rows are merged into rather than created.
    for start in range(0, len(events), 400):
        write_events(engine, events[start : start + 400])

    for bucket_s, is_minute in ((60, True), (3600, False)):
        expected: dict[RollupKey, list[RequestEvent]] = defaultdict(list)
        for e in events:
            bucket = int(e.ts // bucket_s) * bucket_s
            expected[(bucket, e.service, e.version, e.route, e.model or "")].append(e)
        stored = stored_rollups(engine, minute=is_minute)
        assert set(stored) == set(expected)
        for key, group in expected.items():
            row = stored[key]
            assert row.count == len(group)
            assert row.errors == sum(1 for e in group if e.error_class in SERVER_ERRORS)
            assert row.successes == sum(1 for e in group if e.error_class is None)
            assert row.errors_by_class == dict(
                Counter(e.error_class for e in group if e.error_class)
            )
            assert row.latency_hist == Histogram.of(e.latency_ms for e in group)
            assert row.ttft_hist == Histogram.of(e.ttft_ms for e in group if e.ttft_ms is not None)
            assert row.ttft_count == sum(1 for e in group if e.ttft_ms is not None)
            assert row.stream_count == sum(1 for e in group if e.is_stream)
            assert row.input_tokens == sum(e.input_tokens for e in group)
            assert row.reasoning_tokens == sum(e.reasoning_tokens for e in group)
            assert row.cost_usd == pytest.approx(sum(e.cost_usd or 0.0 for e in group))
            assert row.cost_known == sum(1 for e in group if e.cost_usd is not None)
            assert row.cost_unknown == sum(1 for e in group if e.cost_usd is None)
            assert row.guardrail_requests == sum(1 for e in group if e.guardrails)
            assert row.guardrail_counts == dict(Counter(n for e in group for n in e.guardrails))
            assert row.latency_sum_ms == pytest.approx(sum(e.latency_ms for e in group))
    assert count_rows(engine, request_events) == len(events)


def test_too_long_text_is_cut_rather_than_failing_the_batch(store_url: str) -> None:
    engine = connect(store_url)
    event = RequestEvent(
        ts=HOUR0, service="s" * 300, version="v", route="/" * 300, status=200, latency_ms=1.0,
        request_id="r" * 100, trace_id="t" * 100, model="m" * 300,
    )  # fmt: skip
    write_events(engine, [event])
    write_events(engine, [event])
    ((key, row),) = stored_rollups(engine).items()
    assert key == (int(HOUR0), "s" * 128, "v", "/" * 256, "m" * 256)
    assert row.count == 2


def test_an_empty_batch_writes_nothing(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    write_events(engine, [])
    assert count_rows(engine, request_events) == 0


def test_concurrent_writers_to_the_same_bucket_lose_no_counts(postgres_url: str) -> None:
    engines = [connect(postgres_url), connect(postgres_url, migrate=False)]
    batches_per_writer, batch_size = 15, 40
    barrier = threading.Barrier(len(engines))
    failures: list[BaseException] = []

    def writer(engine: Engine, seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        try:
            for _ in range(batches_per_writer):
                # Two keys in the same minute, in a different order per batch.
                batch = [
                    RequestEvent(
                        ts=HOUR0 + 5 + rng.random(),
                        service="chat",
                        version=rng.choice(["a", "b"]),
                        route="/r",
                        status=200,
                        latency_ms=rng.uniform(1, 1000),
                        guardrails=("pii",),
                        error_class=rng.choice([None, "timeout"]),
                    )
                    for _ in range(batch_size)
                ]
                write_events(engine, batch)
        except BaseException as exc:  # the main thread reports it
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(e, i)) for i, e in enumerate(engines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    total = len(engines) * batches_per_writer * batch_size
    for minute in (True, False):
        rows = stored_rollups(engines[0], minute=minute).values()
        assert sum(row.count for row in rows) == total
        assert sum(row.latency_hist.count for row in rows) == total
        assert sum(row.guardrail_counts["pii"] for row in rows) == total
        assert sum(row.errors + row.successes for row in rows) == total
    assert count_rows(engines[0], request_events) == total


def test_prune_deletes_by_age_with_an_explicit_now(store_url: str) -> None:
    engine = connect(store_url)
    now = HOUR0 + 30 * DAY
    ages_days = (0.1, 1.5, 2.5, 3.5, 10.0)
    events = [
        RequestEvent(
            ts=now - age * DAY, service="s", version="v", route="/r", status=200, latency_ms=5.0
        )
        for age in ages_days
    ]
    write_events(engine, events)
    config = TelemetryConfig(
        raw_retention_days=1, minute_rollup_retention_days=2, hour_rollup_retention_days=3
    )
    deleted = prune(engine, config, now)
    assert deleted == {"request_events": 4, "rollups_minute": 3, "rollups_hour": 2}
    assert count_rows(engine, request_events) == 1
    assert count_rows(engine, rollups_minute) == 2
    assert count_rows(engine, rollups_hour) == 3
    assert prune(engine, config, now) == {
        "request_events": 0,
        "rollups_minute": 0,
        "rollups_hour": 0,
    }
