"""run_paging over rows of `alerts`: routing, grouping, repeats, resolves, acknowledgements,
failures that are counted and shown — and the surfaces that show them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from prodloop.alerting.acks import ack_link, acknowledge
from prodloop.alerting.deliveries import list_deliveries
from prodloop.alerting.paging import match_route, run_paging
from prodloop.clock import ManualClock
from prodloop.config import Config, parse_config
from prodloop.errors import ConfigError
from prodloop.store import connect
from prodloop.telemetry.metrics import Metrics
from tests.alerting.recorder import (
    PAGERDUTY_PATH,
    ROUTING_KEY,
    SLACK_PATH,
    T0,
    WEBHOOK_PATH,
    Recorder,
    Reply,
    environ,
    insert_alert,
    paging_yaml,
    recording_server,
    resolve_alert,
)
from tests.api.support import running_control_plane
from tests.cli.conftest import run_cli

HOUR = 3600.0
LABELS = {
    "alertname": "ErrorRateAboveThreshold",
    "kind": "threshold",
    "service": "chat",
    "severity": "page",
    "slo": "error-rate",
    "window": "5m",
}


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server


@pytest.fixture
def config(recorder: Recorder) -> Config:
    return parse_config(paging_yaml(recorder.url), environ=environ(recorder.url))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'prodloop.db'}")
    yield engine
    engine.dispose()


def _run(engine: Engine, config: Config, now: float, metrics: Metrics | None = None) -> object:
    with httpx.Client() as http:
        return run_paging(engine, config, now, http=http, metrics=metrics)


def test_first_page_reaches_every_channel_with_the_documented_payloads(
    engine: Engine, config: Config, recorder: Recorder
) -> None:
    alert_id = insert_alert(engine, at=T0)
    report = _run(engine, config, T0 + 15)

    link = ack_link(config.paging, alert_id, T0 + 15)
    assert link is not None
    assert [r.problems for r in recorder.received] == [[], [], []]
    assert [r.status for r in recorder.received] == [200, 200, 202]
    [slack] = recorder.bodies(SLACK_PATH)
    [webhook] = recorder.bodies(WEBHOOK_PATH)
    [pagerduty] = recorder.bodies(PAGERDUTY_PATH)
    assert slack["blocks"][2]["elements"][0]["url"] == link
    assert slack["text"].startswith("FIRING: ErrorRateAboveThreshold on chat: 5.20% &gt; 3.00%")
    assert webhook["alerts"] == [
        {
            "status": "firing",
            "labels": LABELS,
            "annotations": {
                "dashboard_url": "http://dash.example/d/slo?service=chat&slo=error-rate",
                "description": "ErrorRateAboveThreshold on chat: 5.20% > 3.00%",
                "runbook_url": "https://runbooks.example/rollback.md",
                "summary": "chat error-rate: error rate 5.20% over 5m (threshold 3.00%)",
                "threshold": "3.00%",
                "value": "5.20%",
            },
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": f"http://prodloop.example/api/v1/alerts/{alert_id}",
            "fingerprint": "ce5f5f8743ef6724",
        }
    ]
    assert (webhook["receiver"], webhook["status"], webhook["externalURL"]) == (
        "webhook",
        "firing",
        "http://prodloop.example",
    )
    assert pagerduty["routing_key"] == ROUTING_KEY
    assert pagerduty["dedup_key"] == f"prodloop/ce5f5f8743ef6724/{alert_id}"
    assert pagerduty["payload"]["custom_details"]["paged"] == ["alice"]
    assert pagerduty["payload"]["severity"] == "critical"
    assert report.paged == 1  # type: ignore[attr-defined]
    assert _run(engine, config, T0 + 30).deliveries.attempted == 0  # type: ignore[attr-defined]


def test_routes_first_match_wins_and_unrouted_alerts_are_reported(
    engine: Engine, recorder: Recorder
) -> None:
    routes = """
  routes:
    - match: {service: chat, severity: ticket}
      notifiers: [webhook]
    - match: {service: chat}
      notifiers: [slack]
"""
    config = parse_config(paging_yaml(recorder.url, routes=routes), environ=environ(recorder.url))
    ticket = insert_alert(engine, severity="ticket", slo="success-rate", kind="burn_rate")
    page = insert_alert(engine)
    elsewhere = insert_alert(engine, service="search")
    report = _run(engine, config, T0)

    assert match_route(config.paging.routes, {"service": "chat", "severity": "ticket"}) == 0
    assert (report.paged, report.unrouted) == (2, 1)  # type: ignore[attr-defined]
    assert [d.alert_id for d in list_deliveries(engine, notifier="webhook")] == [ticket]
    assert [d.alert_id for d in list_deliveries(engine, notifier="slack")] == [page]
    assert elsewhere not in [d.alert_id for d in list_deliveries(engine)]


def test_alerts_of_one_group_firing_together_share_one_message(
    engine: Engine, recorder: Recorder
) -> None:
    routes = """
  routes:
    - match: {service: chat}
      group_by: [service]
      notifiers: [slack, webhook, pagerduty]
"""
    config = parse_config(paging_yaml(recorder.url, routes=routes), environ=environ(recorder.url))
    first = insert_alert(engine)
    second = insert_alert(engine, slo="latency-p95", value=2630.0, threshold=2500.0)
    _run(engine, config, T0)

    [slack] = recorder.bodies(SLACK_PATH)
    [webhook] = recorder.bodies(WEBHOOK_PATH)
    assert slack["blocks"][0]["text"]["text"].endswith("(+1 more)")
    assert [a["labels"]["slo"] for a in webhook["alerts"]] == ["error-rate", "latency-p95"]
    assert webhook["groupLabels"] == {"service": "chat"}
    assert webhook["groupKey"] == '{}/{service="chat"}:{service="chat"}'
    assert "slo" not in webhook["commonLabels"]
    # PagerDuty gets one event per alert, each with its own dedup_key
    keys = [body["dedup_key"].rsplit("/", 1)[1] for body in recorder.bodies(PAGERDUTY_PATH)]
    assert sorted(keys) == sorted([str(first), str(second)])


def test_still_firing_unacknowledged_alerts_repeat_and_acknowledged_ones_do_not(
    engine: Engine, config: Config, recorder: Recorder
) -> None:
    loud = insert_alert(engine)
    quiet = insert_alert(engine, slo="latency-p95")
    _run(engine, config, T0)
    acknowledge(engine, quiet, "bob", T0 + 60)
    _run(engine, config, T0 + 60)
    reports = [_run(engine, config, T0 + h * HOUR) for h in (3.9, 4.0, 8.1)]

    assert [r.repeated for r in reports] == [0, 1, 1]  # type: ignore[attr-defined]
    repeats = list_deliveries(engine, alert_id=loud)
    assert sorted(d.notifier for d in repeats if d.action == "repeat") == [
        "slack",
        "slack",
        "webhook",
        "webhook",
    ]
    assert all(d.action != "repeat" for d in list_deliveries(engine, alert_id=quiet))
    [acked_message] = [
        body for body in recorder.bodies(SLACK_PATH) if body["text"].startswith("ACKNOWLEDGED")
    ]
    assert "acknowledged by bob" in acked_message["text"]
    assert acked_message["blocks"][0]["text"]["text"] == (
        ":eyes: ACKNOWLEDGED: LatencyP95AboveThreshold on chat"
    )
    # Alertmanager receivers know no acknowledgements
    assert all(body["status"] == "firing" for body in recorder.bodies(WEBHOOK_PATH))


def test_resolved_alerts_are_announced_and_pagerduty_closes_its_incident(
    engine: Engine, config: Config, recorder: Recorder
) -> None:
    alert_id = insert_alert(engine)
    _run(engine, config, T0)
    resolve_alert(engine, alert_id, T0 + 600)
    report = _run(engine, config, T0 + 605)
    again = _run(engine, config, T0 + 700)

    assert (report.resolved, again.resolved) == (1, 0)  # type: ignore[attr-defined]
    assert recorder.bodies(PAGERDUTY_PATH)[-1] == {
        "routing_key": ROUTING_KEY,
        "dedup_key": f"prodloop/ce5f5f8743ef6724/{alert_id}",
        "event_action": "resolve",
    }
    webhook = recorder.bodies(WEBHOOK_PATH)[-1]
    assert webhook["status"] == "resolved"
    assert webhook["alerts"][0]["endsAt"] == "2026-01-01T00:10:00Z"
    assert recorder.bodies(SLACK_PATH)[-1]["text"].startswith("RESOLVED:")


def test_send_resolved_false_still_closes_the_pagerduty_incident(
    engine: Engine, recorder: Recorder
) -> None:
    routes = """
  routes:
    - match: {service: chat}
      notifiers: [slack, pagerduty]
      send_resolved: false
"""
    config = parse_config(paging_yaml(recorder.url, routes=routes), environ=environ(recorder.url))
    alert_id = insert_alert(engine)
    _run(engine, config, T0)
    resolve_alert(engine, alert_id, T0 + 600)
    recorder.clear()
    _run(engine, config, T0 + 605)

    assert [r.path for r in recorder.received] == [PAGERDUTY_PATH]
    assert recorder.bodies(PAGERDUTY_PATH)[0]["event_action"] == "resolve"


def test_a_route_that_pages_nobody_is_refused_at_load() -> None:
    text = "paging:\n  routes:\n    - match: {service: chat}\n"
    with pytest.raises(ConfigError) as bad:
        parse_config(text, environ={})
    assert bad.value.field == "paging.routes.0.notifiers"
    assert "pages nobody" in bad.value.message


def test_failing_notifier_is_counted_listed_and_never_silent(
    tmp_path: Path, recorder: Recorder
) -> None:
    recorder.queue(SLACK_PATH, *[Reply(500, "internal_error")] * 3)
    clock = ManualClock(T0)
    with running_control_plane(
        tmp_path,
        control_yaml=paging_yaml(recorder.url),
        clock=clock,
        environ=environ(recorder.url),
    ) as plane:
        alert_id = insert_alert(plane.engine)
        with httpx.Client() as http:
            for offset in (0, 30, 90):
                run_paging(
                    plane.engine, plane.config, T0 + offset, http=http, metrics=plane.metrics
                )
        clock.set(T0 + 120)
        with plane.client() as api:
            listed = api.get("/api/v1/alerts").json()
            one = api.get(f"/api/v1/alerts/{alert_id}").json()
            log = api.get("/api/v1/notifications", params={"state": "failed"}).json()
            bad_state = api.get("/api/v1/alerts", params={"state": "sleeping"})
            exposition = api.get("/metrics").text
            oncall = api.get("/api/v1/oncall").json()

    [failed] = listed["failed_notifications"]
    assert (failed["notifier"], failed["state"], failed["attempts"]) == ("slack", "failed", 3)
    assert failed["last_error"] == "HTTP 500: internal_error"
    [alert] = listed["alerts"]
    assert (alert["id"], alert["state"], alert["paging"]["notified_at"]) == (alert_id, "firing", T0)
    assert alert["paging"]["notifiers"] == ["slack", "webhook", "pagerduty"]
    assert [a["outcome"] for a in one["attempts"] if a["notifier"] == "slack"] == [
        "retry",
        "retry",
        "failed",
    ]
    [logged] = log["deliveries"]
    assert [(a["attempt"], a["status_code"]) for a in logged["attempt_log"]] == [
        (1, 500),
        (2, 500),
        (3, 500),
    ]
    assert bad_state.status_code == 422 and bad_state.json()["error"]["field"] == "state"
    assert 'prodloop_notification_failures_total{notifier="slack"} 1.0' in exposition
    assert 'prodloop_notification_failures_total{notifier="pagerduty"} 0.0' in exposition
    assert oncall["schedules"][0]["now"]["person"] == "alice"
    assert oncall["schedules"][0]["next"] == {
        "person": "bob",
        "start": 1_767_603_600.0,  # Monday 2026-01-05 09:00 UTC
        "end": 1_768_208_400.0,
        "is_override": False,
    }


def test_alerts_command_lists_alerts_and_failed_notifications(
    tmp_path: Path, recorder: Recorder
) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    config_file = tmp_path / "prodloop.yaml"
    config_file.write_text(f"store:\n  url: {store}\n" + paging_yaml(recorder.url))
    env = {**environ(recorder.url), "PRODLOOP_CONFIG": str(config_file)}
    config = parse_config(config_file.read_text(), environ=env)
    engine = connect(store)
    recorder.queue(SLACK_PATH, Reply(404, "no_service"))
    alert_id = insert_alert(engine)
    _run(engine, config, T0)
    engine.dispose()

    listing = run_cli("alerts", env=env)
    deliveries = run_cli("alerts", "deliveries", "--state", "failed", env=env)
    oncall = run_cli("oncall", "--at", "2026-01-01T00:00:00Z", env=env)
    bad_state = run_cli("alerts", "--state", "sleeping", env=env)

    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == [
        "id", "state", "alert", "service", "severity", "value", "threshold", "since", "acked",
        "by", "paged",
    ]  # fmt: skip
    assert lines[2].split()[:7] == [
        str(alert_id), "firing", "ErrorRateAboveThreshold", "chat", "page", "5.20%", "3.00%",
    ]  # fmt: skip
    assert lines[2].endswith("2026-01-01 00:00 UTC, level 1")
    assert "failed notifications (1):" in listing.stdout
    assert f"slack (slack) firing alert {alert_id}: 1 attempt(s), last HTTP 404: no_service" in (
        listing.stdout
    )
    assert deliveries.returncode == 0
    assert "HTTP 404: no_service" in deliveries.stdout
    assert oncall.returncode == 0, oncall.stderr
    assert oncall.stdout.splitlines()[2].split() == [
        "primary", "alice", "Mon", "2026-01-05", "09:00", "UTC", "bob", "Mon", "2026-01-12",
        "09:00", "UTC",
    ]  # fmt: skip
    assert bad_state.returncode == 2 and "unknown state 'sleeping'" in bad_state.stderr
