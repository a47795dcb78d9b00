"""Rows for status page tests: incidents, updates, alerts, traffic, as other rooms write them."""

from __future__ import annotations

import json

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from prodloop.store.schema import (
    alerts,
    component_overrides,
    incident_alerts,
    incident_events,
    incidents,
    maintenances,
    status_updates,
)
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events

# The services the status page tests show as components (statuspage.components must name
# configured services).
SERVICES_YAML = """
services:
  chat:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
  search:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
"""

# Internal data planted in every kind of row; none of it may reach a public response.
SECRETS = {
    "title": "SECRET-TITLE HighErrorRate chat error_rate 0.0734",
    "assignee": "SECRET-ASSIGNEE alice.oncall",
    "runbook": "SECRET-RUNBOOK ops/runbooks/triage.md",
    "summary": "SECRET-SUMMARY error rate 7.34% above 3%",
    "event": "SECRET-EVENT paged alice via pagerduty",
    "note": "SECRET-NOTE root cause is the new prompt",
    "by": "SECRET-AUTHOR bob",
    "reason": "SECRET-REASON vendor ticket 4711",
    "user": "SECRET-USER user-42@example.com",
    "drill": "SECRET-DRILL rehearsal message",
    "maintainer": "SECRET-MAINTAINER carol",
}


def add_incident(
    engine: Engine,
    service: str,
    *,
    detected_at: float,
    status: str = "investigating",
    impact: str = "major",
    severity: str = "SEV2",
    is_drill: bool = False,
    resolved_at: float | None = None,
) -> int:
    row = {
        "service": service,
        "title": SECRETS["title"],
        "severity": severity,
        "status": status,
        "impact": impact,
        "assignee": SECRETS["assignee"],
        "is_drill": is_drill,
        "runbook": SECRETS["runbook"],
        "detected_at": detected_at,
        "acknowledged_at": detected_at + 60,
        "resolved_at": resolved_at,
        "created_at": detected_at,
        "updated_at": resolved_at or detected_at,
    }
    with engine.begin() as conn:
        key = conn.execute(insert(incidents).values(**row)).inserted_primary_key
        assert key is not None
        incident_id = int(key[0])
        conn.execute(
            insert(incident_events).values(
                incident_id=incident_id,
                at=detected_at,
                kind="note",
                actor=SECRETS["assignee"],
                message=SECRETS["event"] + " " + SECRETS["note"],
                data=json.dumps({"user": SECRETS["user"]}),
            )
        )
    return incident_id


def add_update(engine: Engine, incident_id: int, at: float, status: str, message: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(status_updates).values(
                incident_id=incident_id,
                at=at,
                status=status,
                message=message,
                by=SECRETS["by"],
                is_templated=False,
            )
        )


def add_alert(
    engine: Engine,
    service: str,
    severity: str,
    *,
    fired_at: float,
    state: str = "firing",
    incident_id: int | None = None,
) -> int:
    row = {
        "fingerprint": f"{service}-{severity}-{fired_at}",
        "alertname": "HighErrorRate",
        "kind": "threshold",
        "severity": severity,
        "service": service,
        "labels": json.dumps({"service": service, "user": SECRETS["user"]}),
        "state": state,
        "active_at": fired_at - 300,
        "fired_at": fired_at,
        "last_eval_at": fired_at,
        "value": 0.0734,
        "threshold": 0.03,
        "summary": SECRETS["summary"],
    }
    with engine.begin() as conn:
        key = conn.execute(insert(alerts).values(**row)).inserted_primary_key
        assert key is not None
        alert_id = int(key[0])
        if incident_id is not None:
            conn.execute(
                insert(incident_alerts).values(
                    incident_id=incident_id, alert_id=alert_id, joined_at=fired_at
                )
            )
    return alert_id


def add_override(
    engine: Engine, component: str, status: str, *, at: float, expires_at: float | None = None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(component_overrides).values(
                component=component,
                status=status,
                reason=SECRETS["reason"],
                set_by=SECRETS["by"],
                set_at=at,
                expires_at=expires_at,
            )
        )


def add_maintenance(
    engine: Engine,
    components: list[str],
    *,
    starts_at: float,
    ends_at: float,
    title: str = "Database upgrade",
    message: str = "We are upgrading the database.",
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(maintenances).values(
                components=json.dumps(components),
                title=title,
                message=message,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=SECRETS["maintainer"],
                created_at=starts_at - 86400,
            )
        )


def add_traffic(engine: Engine, service: str, *, at: float, requests: int, errors: int) -> None:
    """`requests` events at `at`, the first `errors` of them failing server-side."""
    events = [
        RequestEvent(
            ts=at,
            service=service,
            version="v1",
            route="/v1/chat/completions",
            status=503 if i < errors else 200,
            latency_ms=120.0,
            error_class="upstream_5xx" if i < errors else None,
            user=SECRETS["user"],
        )
        for i in range(requests)
    ]
    write_events(engine, events)
