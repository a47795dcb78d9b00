"""Storing feedback and analytics events on both engines: idempotent, all or nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from prodloop.analytics.capture import AnalyticsEvent, EventWriter, build_event, store_events
from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.feedback.records import FeedbackIn, enrich, store_feedback
from prodloop.store import connect
from prodloop.store.schema import analytics_events, feedback
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events
from tests.api.public_support import rows

NOW = ManualClock().now()


def event(uuid: str, **fields: object) -> AnalyticsEvent:
    base: dict[str, object] = {"event": "$pageview", "distinct_id": "u", "ts": NOW - 1,
                               "source": "prodloop", "path": "/"}  # fmt: skip
    return AnalyticsEvent(uuid=uuid, **{**base, **fields})  # type: ignore[arg-type]


def test_store_events_counts_duplicates(store_url: str) -> None:
    engine = connect(store_url)
    try:
        first = [event("a"), event("b", properties={"n": 1}), event("a")]
        assert store_events(engine, first, NOW) == (2, 1)
        assert store_events(engine, [event("b"), event("c")], NOW) == (1, 1)
        assert store_events(engine, [], NOW) == (0, 0)
        stored = rows(engine, analytics_events)
        assert [row["uuid"] for row in stored] == ["a", "b", "c"]
        assert stored[1]["properties"] == '{"n":1}'
        # Concurrent retries of one batch: each event is stored once, whoever wins.
        batch = [event(f"r-{i}") for i in range(200)]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: store_events(engine, batch, NOW), range(4)))
        assert sum(stored for stored, _ in results) == 200
        assert sum(duplicates for _, duplicates in results) == 600
    finally:
        engine.dispose()


def test_event_writer_shares_commits_and_counts_per_request(store_url: str) -> None:
    engine = connect(store_url)
    try:
        writer = EventWriter(engine)
        # Eight requests at once, overlapping: each uuid is stored once, by one of them.
        batches = [[event(f"w-{(b * 50 + i) % 300}") for i in range(100)] for b in range(8)]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda batch: writer.store(batch, NOW), batches))
        assert sum(stored for stored, _ in results) == 300
        assert sum(stored + duplicates for stored, duplicates in results) == 800
        assert len(rows(engine, analytics_events)) == 300
    finally:
        engine.dispose()


def test_event_writer_reports_a_failed_write_to_every_request(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)  # no tables
    try:
        writer = EventWriter(engine)
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(writer.store, [event(f"f-{i}")], NOW) for i in range(4)]
        for future in futures:
            with pytest.raises(OperationalError, match="no such table"):
                future.result()
    finally:
        engine.dispose()


def test_store_feedback_is_idempotent_and_enriched_late(store_url: str) -> None:
    config = parse_config(f"store:\n  url: {store_url}\n", environ={})
    engine = connect(store_url)
    try:
        item = FeedbackIn(source="sdk", rating=0.0, rating_kind="thumbs", comment="slow",
                          client_id="k-1", trace_id="req-1", is_negative=True)  # fmt: skip
        feedback_id, created = store_feedback(engine, config, item, NOW)
        assert created is True
        with ThreadPoolExecutor(4) as pool:
            again = list(pool.map(lambda _: store_feedback(engine, config, item, NOW), range(4)))
        assert again == [(feedback_id, False)] * 4
        (row,) = rows(engine, feedback)
        assert (row["service"], row["is_support"]) == (None, False)
        # The request's event arrives after the feedback: the loop's enrich finds it.
        write_events(engine, [RequestEvent(ts=NOW, service="bot", version="v2", route="chat",
                                           status=500, latency_ms=9.0, request_id="req-1",
                                           error_class="app_error")])  # fmt: skip
        with engine.begin() as conn:
            assert enrich(conn, config, feedback_id) is True
            found = conn.execute(
                select(feedback.c.version, feedback.c.is_support, feedback.c.support_reason)
            ).one()
        assert tuple(found) == (
            "v2", True, "thumbs-down with a comment on a failed request (status 500, app_error)",
        )  # fmt: skip
        with engine.begin() as conn:
            assert enrich(conn, config, feedback_id + 100) is False
    finally:
        engine.dispose()


def test_unknown_sources_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown analytics source"):
        build_event("", source="nope", event="e", distinct_id="d", ts=NOW)
