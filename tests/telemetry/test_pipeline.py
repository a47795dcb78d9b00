from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from prodloop.config import TelemetryConfig
from prodloop.errors import ValidationError
from prodloop.store import connect
from prodloop.store.schema import request_events
from prodloop.telemetry.events import EventSink, RequestEvent
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.pipeline import Pipeline
from prodloop.telemetry.rollups import write_events
from tests.telemetry.fakes import HOUR0

# A long interval: a test that passes can only have been woken by flush() or stop().
NEVER_S = 3600.0


def event(i: int) -> RequestEvent:
    return RequestEvent(
        ts=HOUR0 + i, service="chat", version="v1", route="/r", status=200, latency_ms=10.0 + i
    )


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(request_events)).scalar_one())


class RecordingWriter:
    """Writes through to the store and notes which thread did, and how often it failed."""

    def __init__(self, failures: int = 0) -> None:
        self.failures_left = failures
        self.threads: set[str] = set()
        self.attempts = 0

    def __call__(self, engine: Engine, events: Sequence[RequestEvent]) -> None:
        self.attempts += 1
        self.threads.add(threading.current_thread().name)
        if self.failures_left:
            self.failures_left -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        write_events(engine, events)


def test_stop_writes_every_event_in_the_writer_thread(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    writer = RecordingWriter()
    metrics = Metrics()
    pipeline = Pipeline(
        engine,
        queue_size=1000,
        batch_size=7,
        flush_interval_s=NEVER_S,
        metrics=metrics,
        write=writer,
    )
    sink: EventSink = pipeline
    pipeline.start()
    assert all(sink.submit(event(i)) for i in range(100))
    assert pipeline.stop(timeout_s=30)
    assert (pipeline.written, pipeline.dropped, pipeline.queued) == (100, 0, 0)
    assert stored(engine) == 100
    assert writer.threads == {"prodloop-telemetry-writer"}
    assert metrics.registry.get_sample_value("prodloop_events_written_total") == 100
    assert metrics.registry.get_sample_value("prodloop_requests_total", {
        "service": "chat", "version": "v1", "route": "/r", "model": ""
    }) == 100  # fmt: skip
    assert not pipeline.is_running


def test_flush_writes_what_was_submitted_without_waiting_for_the_interval(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    pipeline = Pipeline(engine, queue_size=1000, batch_size=500, flush_interval_s=NEVER_S)
    pipeline.start()
    try:
        for i in range(10):
            pipeline.submit(event(i))
        assert pipeline.flush(timeout_s=30)
        assert stored(engine) == 10
        assert pipeline.is_running
        pipeline.submit(event(10))
        assert pipeline.flush(timeout_s=30)
        assert (stored(engine), pipeline.written) == (11, 11)
    finally:
        pipeline.stop()


def test_a_full_queue_drops_and_counts_exactly_the_overflow(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = connect(sqlite_url)
    metrics = Metrics()
    # Not started: nothing drains the queue, so it fills.
    pipeline = Pipeline(
        engine, queue_size=5, batch_size=2, flush_interval_s=NEVER_S, metrics=metrics
    )
    with caplog.at_level(logging.WARNING, logger="prodloop.telemetry.pipeline"):
        accepted = [pipeline.submit(event(i)) for i in range(8)]
    assert accepted == [True] * 5 + [False] * 3
    assert (pipeline.dropped, pipeline.queued, stored(engine)) == (3, 5, 0)
    assert metrics.registry.get_sample_value("prodloop_events_dropped_total") == 3
    # The warning is rate-limited: one line for the burst, not one per event.
    assert len([r for r in caplog.records if "queue is full" in r.message]) == 1
    assert pipeline.flush(timeout_s=30)
    assert (pipeline.written, stored(engine)) == (5, 5)


def test_a_failing_store_is_retried_then_counted_as_dropped(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    flaky = RecordingWriter(failures=2)
    pipeline = Pipeline(
        engine, queue_size=100, batch_size=100, flush_interval_s=NEVER_S,
        write=flaky, write_attempts=3, retry_backoff_s=0.0,
    )  # fmt: skip
    pipeline.start()
    for i in range(4):
        pipeline.submit(event(i))
    assert pipeline.flush(timeout_s=30)
    assert (pipeline.written, pipeline.dropped, flaky.attempts) == (4, 0, 3)

    flaky.failures_left = 3  # one more than the attempts allowed
    for i in range(4, 10):
        pipeline.submit(event(i))
    assert pipeline.flush(timeout_s=30)
    assert (pipeline.written, pipeline.dropped) == (4, 6)
    assert pipeline.is_running  # the writer survives a lost batch
    pipeline.submit(event(10))
    assert pipeline.stop(timeout_s=30)
    assert (pipeline.written, stored(engine)) == (5, 5)


def test_events_submitted_after_stop_are_dropped_and_counted(sqlite_url: str) -> None:
    pipeline = Pipeline(connect(sqlite_url), queue_size=10, batch_size=10, flush_interval_s=NEVER_S)
    pipeline.start()
    assert pipeline.stop()
    assert pipeline.submit(event(0)) is False
    assert pipeline.dropped == 1
    with pytest.raises(RuntimeError):
        pipeline.start()


def test_from_config_takes_the_telemetry_settings(sqlite_url: str) -> None:
    config = TelemetryConfig(queue_size=123, batch_size=45, flush_interval_s=0.25)
    pipeline = Pipeline.from_config(connect(sqlite_url), config)
    assert (pipeline.queue_size, pipeline.batch_size, pipeline.flush_interval_s) == (123, 45, 0.25)
    with pytest.raises(ValidationError) as caught:
        Pipeline(connect(sqlite_url), queue_size=0)
    assert caught.value.field == "queue_size"
