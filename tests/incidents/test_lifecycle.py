"""The incident lifecycle through loop.tick: traffic into an outage on a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop import loop
from prodloop.alerting.acks import acknowledge
from prodloop.clock import ManualClock
from prodloop.config import Config, parse_config
from prodloop.config.incidents import Incidents
from prodloop.incidents.comms import post_status_update
from prodloop.incidents.lifecycle import (
    acknowledge_incident,
    list_incidents,
    load_incident,
    severity_for,
    worse,
)
from prodloop.incidents.timeline import read_timeline
from prodloop.store import connect
from prodloop.store.schema import alerts, notification_deliveries
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events

START = 1_767_258_000.0  # 2026-01-01T09:00:00Z: alice is on call
TICK_S = 60.0
PER_TICK = 20


def incident_yaml(extra: str = "") -> str:
    """chat with two page-severity SLO alerts, alice then bob on call, console paging."""
    return f"""
services:
  chat:
    stable: v1
    versions:
      v1: {{upstream: "http://127.0.0.1:9/v1"}}
slos:
  objectives:
    - name: error-rate
      kind: ratio
      objective: 0.99
      bad: errors
      alert: {{above: 0.03, window: 5m, for: 1m}}
      burn_rate_alerts: false
    - name: success-rate
      kind: ratio
      objective: 0.995
      bad: failures
      alert: {{above: 0.05, window: 5m, for: 3m}}
      burn_rate_alerts: false
releases:
  analysis_interval: 1h
  hold: 1h
paging:
  notifiers:
    console: {{kind: console}}
  people:
    alice: {{notify: [console]}}
    bob: {{notify: [console]}}
  schedules:
    primary: {{rotation: daily, people: [alice, bob], start: 2026-01-01, handoff: "08:00"}}
  escalation_policies:
    chat:
      levels:
        - {{targets: ["schedule:primary"], after: 30m}}
        - {{targets: ["person:bob"], after: 30m}}
  routes:
    - match: {{severity: page}}
      notifiers: [console]
      escalation_policy: chat
    - match: {{}}
      notifiers: [console]
{extra}
"""


def incident_config(store_url: str, extra: str = "") -> Config:
    """The incident settings over a store at `store_url`."""
    return parse_config(f"store:\n  url: {store_url}\n" + incident_yaml(extra), environ={})


@pytest.fixture
def store(store_url: str) -> Iterator[tuple[Config, Engine]]:
    """The incident config over a migrated store: SQLite, then PostgreSQL."""
    config = incident_config(store_url)
    engine = connect(config.store.url)
    yield config, engine
    engine.dispose()


def traffic(
    engine: Engine, start: float, end: float, error_share: float, version: str = "v1"
) -> None:
    """PER_TICK requests spread over [start, end), the first `error_share` of them 503s."""
    errors = round(PER_TICK * error_share)
    step = (end - start) / PER_TICK
    events = [
        RequestEvent(
            ts=start + i * step,
            service="chat",
            version=version,
            route="/v1/chat/completions",
            status=503 if i < errors else 200,
            latency_ms=120.0,
            error_class="upstream_5xx" if i < errors else None,
        )
        for i in range(PER_TICK)
    ]
    write_events(engine, events)


def drive(
    engine: Engine, config: Config, clock: ManualClock, ticks: int, error_share: float
) -> list[loop.TickReport]:
    """Every tick: a minute of traffic, then loop.tick at its end."""
    reports = []
    for _ in range(ticks):
        start = clock.now()
        clock.advance(TICK_S)
        traffic(engine, start, clock.now(), error_share)
        reports.append(loop.tick(engine, config, clock.now()))
    return reports


def kinds(engine: Engine, incident_id: int) -> list[str]:
    with engine.connect() as conn:
        return [entry.kind for entry in read_timeline(conn, incident_id)]


def test_severity_rules() -> None:
    settings = Incidents()
    assert severity_for("page", 0.5, settings) == "SEV1"
    assert severity_for("page", 0.25, settings) == "SEV1"
    assert severity_for("page", 0.10, settings) == "SEV2"
    assert severity_for("page", None, settings) == "SEV2"
    assert severity_for("ticket", 0.10, settings) == "SEV2"
    assert severity_for("ticket", 0.01, settings) == "SEV3"
    assert worse("SEV2", "SEV1") == "SEV1"
    assert worse("SEV3", "SEV2") == "SEV2"


def test_a_page_opens_one_incident_and_a_related_alert_joins_it(
    store: tuple[Config, Engine],
) -> None:
    config, engine = store
    clock = ManualClock(START)
    drive(engine, config, clock, 10, 0.0)
    assert list_incidents(engine) == []

    reports = drive(engine, config, clock, 8, 1.0)

    opened = [i for r in reports for i in r.incidents.opened]
    assert len(opened) == 1
    incident = load_incident(engine, opened[0])
    assert incident.service == "chat"
    assert incident.assignee == "alice"  # on call at level 1 of the route's policy
    assert incident.severity == "SEV1"  # a page with every request failing
    assert incident.impact == "critical"
    assert incident.status == "investigating"
    assert len(incident.alert_ids) == 2  # success-rate fired later and joined
    with engine.connect() as conn:
        fired = conn.execute(
            select(alerts.c.alertname, alerts.c.fired_at).order_by(alerts.c.id)
        ).all()
    assert [name for name, _ in fired] == ["ErrorRateAboveThreshold", "SuccessRateAboveThreshold"]
    assert incident.detected_at == fired[0][1]
    timeline = kinds(engine, incident.id)
    assert timeline[:2] == ["detected", "paged"]
    assert "alert_joined" in timeline
    assert len(list_incidents(engine, which="open")) == 1


def test_acknowledging_a_member_alert_acknowledges_the_incident(
    store: tuple[Config, Engine],
) -> None:
    config, engine = store
    clock = ManualClock(START)
    drive(engine, config, clock, 8, 1.0)
    (incident,) = list_incidents(engine)
    clock.advance(30)
    acknowledge(engine, incident.alert_ids[0], "alice", clock.now())
    acked_at = clock.now()
    drive(engine, config, clock, 1, 1.0)

    incident = load_incident(engine, incident.id)
    assert incident.acknowledged_at == acked_at
    with engine.connect() as conn:
        entry = [e for e in read_timeline(conn, incident.id) if e.kind == "acknowledged"]
    assert len(entry) == 1 and entry[0].actor == "alice" and entry[0].at == acked_at


def test_acknowledge_incident_acks_its_firing_alerts(store: tuple[Config, Engine]) -> None:
    config, engine = store
    clock = ManualClock(START)
    drive(engine, config, clock, 8, 1.0)
    (incident,) = list_incidents(engine)

    acked = acknowledge_incident(engine, incident.id, "bob", clock.now())

    assert acked.acknowledged_at == clock.now()
    with engine.connect() as conn:
        rows = conn.execute(select(alerts.c.acked_by).where(alerts.c.state == "firing")).all()
    assert rows and all(by == "bob" for (by,) in rows)


def test_recovery_records_mitigation_and_suggests_resolving(store: tuple[Config, Engine]) -> None:
    config, engine = store
    clock = ManualClock(START)
    drive(engine, config, clock, 8, 1.0)
    (incident,) = list_incidents(engine)
    drive(engine, config, clock, 12, 0.0)

    incident = load_incident(engine, incident.id)
    assert incident.status == "investigating"  # people resolve it, not the alerts
    assert incident.mitigated_at is not None
    timeline = kinds(engine, incident.id)
    assert timeline.count("alerts_resolved") == 1
    assert "mitigation_done" in timeline

    post_status_update(engine, incident.id, "resolved", "Fixed.", "alice", clock.now())
    # A new page after the incident was resolved opens a new incident.
    reports = drive(engine, config, clock, 8, 1.0)
    assert len([i for r in reports for i in r.incidents.opened]) == 1
    assert len(list_incidents(engine)) == 2


def test_reminder_at_10_minutes_and_template_at_15(store: tuple[Config, Engine]) -> None:
    config, engine = store
    clock = ManualClock(START)
    reports = drive(engine, config, clock, 25, 1.0)
    incident = list_incidents(engine)[0]
    detected = incident.detected_at

    assert incident.reminded_at == detected + 600
    assert incident.deadline_acted_at == detected + 900
    assert incident.first_update_at == detected + 900  # the template was the first update
    assert [r.now for r in reports if r.incidents.reminded] == [detected + 600]
    with engine.connect() as conn:
        timeline = read_timeline(conn, incident.id)
        reminders = conn.execute(
            select(notification_deliveries.c.recipients).where(
                notification_deliveries.c.group_key == f"incident:{incident.id}"
            )
        ).all()
    assert reminders == [("alice",)]
    update = next(e for e in timeline if e.kind == "status_update")
    assert update.actor == "prodloop"
    assert update.data["is_templated"] is True
    assert update.data["time_to_first_update_s"] == 900
    assert "We are investigating a problem affecting chat" in update.message


def test_escalate_policy_pages_the_next_level(tmp_path: Path) -> None:
    config = incident_config(
        f"sqlite:///{tmp_path / 'p.db'}", "incidents:\n  deadline_policy: escalate\n"
    )
    engine = connect(config.store.url)
    clock = ManualClock(START)
    drive(engine, config, clock, 25, 1.0)
    incident = list_incidents(engine)[0]
    assert incident.first_update_at is None  # nothing was published
    assert "deadline_escalated" in kinds(engine, incident.id)
    with engine.connect() as conn:
        sent = conn.execute(
            select(notification_deliveries.c.action, notification_deliveries.c.recipients)
            .where(notification_deliveries.c.group_key == f"incident:{incident.id}")
            .order_by(notification_deliveries.c.id)
        ).all()
    assert sent == [("repeat", "alice"), ("escalation", "bob")]


def test_an_update_before_the_reminder_stops_the_deadline(store: tuple[Config, Engine]) -> None:
    config, engine = store
    clock = ManualClock(START)
    drive(engine, config, clock, 8, 1.0)
    (incident,) = list_incidents(engine)
    post_status_update(engine, incident.id, "identified", "Bad config.", "alice", clock.now())
    drive(engine, config, clock, 16, 1.0)

    incident = load_incident(engine, incident.id)
    assert incident.status == "identified"
    assert incident.reminded_at is None and incident.deadline_acted_at is None
    timeline = kinds(engine, incident.id)
    assert "reminder" not in timeline and "deadline_template" not in timeline


def test_the_whole_story_with_timestamps(store: tuple[Config, Engine]) -> None:
    """A canary goes bad: detect, page, roll back, acknowledge, remind, template, resolve."""
    from prodloop.releases.deployments import DeployRequest, register_deployment

    config, engine = store
    clock = ManualClock(START)
    drive(engine, config, clock, 6, 0.0)
    request = DeployRequest(service="chat", version="v2", upstream="http://127.0.0.1:9/v1",
                            deployed_by="carol")  # fmt: skip
    register_deployment(engine, config, request, clock.now(), probe=lambda _u, _t: None)
    drive(engine, config, clock, 3, 1.0)
    (incident,) = list_incidents(engine)
    t = incident.detected_at
    clock.set(t + 120)
    acknowledge(engine, incident.alert_ids[0], "alice", clock.now())
    drive(engine, config, clock, 15, 1.0)  # to t + 1020: reminder, then the template
    drive(engine, config, clock, 10, 0.0)  # recovery: the alerts resolve
    clock.advance(60)
    post_status_update(engine, incident.id, "resolved", "Rolled back v2.", "alice", clock.now())

    with engine.connect() as conn:
        steps = [(e.kind, e.at - t) for e in read_timeline(conn, incident.id)]
    firsts: dict[str, float] = {}
    for kind, offset in steps:
        firsts.setdefault(kind, offset)
    assert firsts["detected"] == 0
    assert firsts["paged"] == 0
    assert firsts["mitigation_started"] == 0  # the rollout controller rolled the canary back
    assert firsts["mitigation_done"] == 0
    assert firsts["acknowledged"] == 120
    assert firsts["alert_joined"] == 180  # success-rate waits out its longer `for`
    assert firsts["reminder"] == 600
    assert firsts["deadline_template"] == 900
    assert firsts["status_update"] == 900
    assert firsts["resolved"] == steps[-1][1]
    assert [kind for kind, _ in steps].count("status_update") == 2
    incident = load_incident(engine, incident.id)
    assert incident.first_update_at is not None
    assert incident.first_update_at - t == 900  # time to first update
    assert incident.mitigated_at == t
    assert incident.status == "resolved"
