"""The delivery log and retry queue, driven by a manual `now`, against the recording server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from prodloop.alerting.deliveries import (
    backoff_s,
    enqueue,
    failed_notifications,
    list_attempts,
    list_deliveries,
    prune_deliveries,
    send_due,
)
from prodloop.alerting.notifiers import Rendered
from prodloop.alerting.paging import run_paging
from prodloop.clock import ManualClock
from prodloop.config import Config, parse_config
from prodloop.errors import ValidationError
from prodloop.store import connect
from prodloop.telemetry.metrics import Metrics
from tests.alerting.recorder import (
    PAGERDUTY_PATH,
    SLACK_PATH,
    T0,
    Recorder,
    Reply,
    environ,
    paging_yaml,
    recording_server,
)

MESSAGE = {"text": "FIRING: ErrorRateAboveThreshold on chat"}


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server


@pytest.fixture
def config(recorder: Recorder) -> Config:
    return parse_config(paging_yaml(recorder.url), environ=environ(recorder.url))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return connect(f"sqlite:///{tmp_path / 'prodloop.db'}")


def _queue(
    engine: Engine, notifier: str = "slack", payload: dict | None = None, now: float = T0
) -> int:
    kind = "pagerduty" if notifier == "pagerduty" else "slack"
    with engine.begin() as conn:
        return enqueue(
            conn,
            notifier=notifier,
            kind=kind,
            action="firing",
            rendered=Rendered((42,), payload or MESSAGE),
            group_key="g",
            recipients=["alice"],
            now=now,
        )


def _failures(metrics: Metrics, notifier: str) -> float:
    value = metrics.registry.get_sample_value(
        "prodloop_notification_failures_total", {"notifier": notifier}
    )
    return value or 0.0


def test_retries_back_off_exponentially_on_the_manual_clock(
    engine: Engine, config: Config, recorder: Recorder
) -> None:
    recorder.queue(SLACK_PATH, Reply(500, "oops"), Reply(503, "busy"))
    delivery_id = _queue(engine)
    paging = config.paging
    with httpx.Client() as http:
        first = send_due(engine, paging, T0, http)
        early = send_due(engine, paging, T0 + 29, http)
        second = send_due(engine, paging, T0 + 30, http)
        not_yet = send_due(engine, paging, T0 + 89, http)
        third = send_due(engine, paging, T0 + 90, http)

    assert (first.retrying, early.attempted, second.retrying, not_yet.attempted) == (1, 0, 1, 0)
    assert third.sent == 1
    attempts = list_attempts(engine, delivery_ids=[delivery_id])
    assert [(a.attempt, a.at - T0, a.status_code, a.outcome) for a in attempts] == [
        (1, 0, 500, "retry"),
        (2, 30, 503, "retry"),
        (3, 90, 200, "sent"),
    ]
    assert attempts[0].error == "HTTP 500: oops"
    [delivery] = list_deliveries(engine)
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("sent", 3, None)
    assert recorder.bodies(SLACK_PATH) == [MESSAGE] * 3


def test_backoff_doubles_up_to_its_cap(config: Config) -> None:
    waits = [backoff_s(attempt, config.paging) for attempt in range(1, 8)]
    assert waits == [30, 60, 120, 240, 480, 600, 600]


def test_429_waits_for_retry_after_instead_of_the_backoff(
    engine: Engine, config: Config, recorder: Recorder
) -> None:
    recorder.queue(
        PAGERDUTY_PATH,
        Reply(429, '{"status":"throttled"}', {"Retry-After": "120"}),
        Reply(429, "", {"Retry-After": "Thu, 01 Jan 2026 00:05:00 GMT"}),
    )
    delivery_id = _queue(engine, "pagerduty", {"event_action": "resolve", "dedup_key": "k"})
    with httpx.Client() as http:
        send_due(engine, config.paging, T0, http)
        [after_seconds] = list_deliveries(engine)
        assert send_due(engine, config.paging, T0 + 119, http).attempted == 0
        send_due(engine, config.paging, T0 + 120, http)
        [after_date] = list_deliveries(engine)
        send_due(engine, config.paging, T0 + 300, http)

    assert after_seconds.next_attempt_at == T0 + 120
    assert after_date.next_attempt_at == T0 + 300
    outcomes = [(a.status_code, a.outcome) for a in list_attempts(engine, alert_id=42)]
    assert outcomes == [(429, "retry"), (429, "retry"), (202, "sent")]
    assert list_deliveries(engine)[0].id == delivery_id


def test_other_4xx_is_not_retried_and_is_counted_and_listed(
    engine: Engine, config: Config, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.queue(SLACK_PATH, Reply(404, "no_service"))
    metrics = Metrics()
    _queue(engine)
    with caplog.at_level(logging.ERROR, logger="prodloop.alerts"), httpx.Client() as http:
        report = send_due(engine, config.paging, T0, http, metrics=metrics)
        later = send_due(engine, config.paging, T0 + 3600, http, metrics=metrics)

    assert (report.failed, later.attempted) == (1, 0)
    assert len(recorder.at(SLACK_PATH)) == 1
    [failed] = failed_notifications(engine, T0 + 3600)
    assert (failed.state, failed.attempts, failed.last_status) == ("failed", 1, 404)
    assert failed.last_error == "HTTP 404: no_service"
    assert _failures(metrics, "slack") == 1
    assert "failed after 1 attempt(s): HTTP 404: no_service" in caplog.text
    assert recorder.url not in caplog.text  # the webhook URL is a secret


def test_a_notifier_that_keeps_failing_gives_up_after_max_attempts(
    engine: Engine, config: Config, recorder: Recorder
) -> None:
    recorder.queue(SLACK_PATH, *[Reply(502, "bad gateway")] * 5)
    metrics = Metrics()
    _queue(engine)
    with httpx.Client() as http:
        for offset in (0, 30, 90):  # slack's max_attempts is 3 in this config
            send_due(engine, config.paging, T0 + offset, http, metrics=metrics)
        assert send_due(engine, config.paging, T0 + 10_000, http, metrics=metrics).attempted == 0

    [delivery] = list_deliveries(engine, state="failed")
    assert delivery.attempts == 3
    assert [a.outcome for a in list_attempts(engine)] == ["retry", "retry", "failed"]
    assert _failures(metrics, "slack") == 1
    # still listed a week later: its alert is active
    assert failed_notifications(engine, T0 + 7 * 86_400, [42]) == [delivery]
    assert failed_notifications(engine, T0 + 7 * 86_400) == []


def test_network_errors_are_retried(engine: Engine, config: Config) -> None:
    from tests.gateway.servers import closed_port

    unreachable = parse_config(
        paging_yaml(f"http://127.0.0.1:{closed_port()}"),
        environ=environ(f"http://127.0.0.1:{closed_port()}"),
    )
    _queue(engine)
    with httpx.Client() as http:
        report = send_due(engine, unreachable.paging, T0, http)

    assert report.retrying == 1
    [attempt] = list_attempts(engine)
    assert attempt.status_code is None and attempt.error is not None
    assert attempt.error.startswith("ConnectError")


def test_unset_secret_and_removed_notifier_fail_at_once(engine: Engine, recorder: Recorder) -> None:
    env = environ(recorder.url)
    del env["T_SLACK_URL"]
    config = parse_config(paging_yaml(recorder.url), environ=env)
    metrics = Metrics()
    _queue(engine, "slack")
    _queue(engine, "gone")
    with httpx.Client() as http:
        report = send_due(engine, config.paging, T0, http, metrics=metrics)

    assert report.failed == 2 and recorder.received == []
    errors = sorted(d.last_error or "" for d in list_deliveries(engine, state="failed"))
    assert errors == [
        "notifier 'gone' is no longer configured",
        "url is not set: environment variable T_SLACK_URL is empty",
    ]
    assert _failures(metrics, "slack") == 1 and _failures(metrics, "gone") == 1


def test_listing_filters_are_checked(engine: Engine) -> None:
    with pytest.raises(ValidationError) as bad:
        list_deliveries(engine, state="lost")
    assert bad.value.field == "state"


def test_queue_survives_a_restart_on_both_engines(store_url: str, recorder: Recorder) -> None:
    config = parse_config(paging_yaml(recorder.url), environ=environ(recorder.url))
    recorder.queue(SLACK_PATH, Reply(500, "down"))
    engine = connect(store_url)
    _queue(engine)
    with httpx.Client() as http:
        send_due(engine, config.paging, T0, http)
    engine.dispose()

    restarted = connect(store_url)
    with httpx.Client() as http:
        assert send_due(restarted, config.paging, T0 + 10, http).attempted == 0
        assert send_due(restarted, config.paging, T0 + 30, http).sent == 1
    assert [a.outcome for a in list_attempts(restarted)] == ["retry", "sent"]
    restarted.dispose()


def test_sent_and_failed_deliveries_go_after_the_retention(
    store_url: str, recorder: Recorder
) -> None:
    engine = connect(store_url)
    config = parse_config(
        paging_yaml(recorder.url, extra="  retention_days: 2"), environ=environ(recorder.url)
    )
    clock = ManualClock(T0)
    recorder.queue(SLACK_PATH, Reply(404, "no_service"))
    failed = _queue(engine)
    sent = _queue(engine)
    # A 429 far in the future keeps a delivery pending past the retention: still owed.
    recorder.queue(PAGERDUTY_PATH, Reply(429, "", {"Retry-After": str(10 * 86_400)}))
    pending = _queue(engine, "pagerduty", {"event_action": "resolve", "dedup_key": "k"})
    with httpx.Client() as http:
        first = run_paging(engine, config, clock.now(), http=http)
        assert (first.deliveries.sent, first.deliveries.failed) == (1, 1)
        newer = _queue(engine, now=clock.advance(86_400))
        run_paging(engine, config, clock.now(), http=http)

        clock.set(T0 + 2 * 86_400)
        assert run_paging(engine, config, clock.now(), http=http).pruned_deliveries == 0
        after = run_paging(engine, config, clock.advance(1), http=http)

    assert after.pruned_deliveries == 2
    states = {d.id: d.state for d in list_deliveries(engine)}
    assert states == {newer: "sent", pending: "pending"}
    kept = {a.delivery_id for a in list_attempts(engine)}
    assert kept == {newer, pending}
    assert failed not in kept and sent not in kept
    # Nothing left to delete until the newer one ages out too.
    assert prune_deliveries(engine, config.paging, clock.now() + 86_400 - 2) == 0
    assert prune_deliveries(engine, config.paging, clock.now() + 86_400) == 1
    engine.dispose()
