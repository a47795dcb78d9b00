"""The incident lifecycle: opened by a page, joined by related alerts, resolved by people.

* A page-severity alert that starts firing opens an incident on its service, unless the
  service has one open already: then it joins that one (so does any other alert of the
  service, page or ticket). Ticket alerts never open incidents on their own.
* The assignee is whoever is on call at the first level of the escalation policy of the
  route that pages the alert (none without a policy).
* Severity: SEV1 when a page affects at least ``incidents.sev1_traffic_share`` of the
  service's traffic, SEV2 for any other page (or a ticket above ``sev2_traffic_share``),
  SEV3 otherwise. A joining alert can raise it, never lower it.
* Status follows the public status updates: investigating → identified → monitoring →
  resolved. The first three may go back and forth; nothing moves an incident out of
  resolved (a new page opens a new incident).
* When every member alert has resolved, the timeline records ``alerts_resolved`` and the
  mitigation as done (if nothing was recorded before), and suggests resolving: the
  incident stays open until a person resolves it, since alerts clearing is not proof
  the problem is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.alerting.acks import AlertRecord, acknowledge, alert_record, check_actor
from prodloop.alerting.oncall import resolve_targets
from prodloop.alerting.paging import alert_runbook_url, match_route
from prodloop.config import Config, Paging, duration_s
from prodloop.config.incidents import Incidents
from prodloop.errors import NotFoundError, ProdloopError, ValidationError
from prodloop.incidents.timeline import record, recorded_keys
from prodloop.slo.budget import tally
from prodloop.slo.counts import read_segments
from prodloop.store.schema import alert_paging, alerts, incident_alerts, incidents

Status = Literal["investigating", "identified", "monitoring", "resolved"]
STATUSES: tuple[Status, ...] = ("investigating", "identified", "monitoring", "resolved")
SEVERITIES = ("SEV1", "SEV2", "SEV3")
# Atlassian Statuspage's incident impact for each severity.
IMPACT_BY_SEVERITY = {"SEV1": "critical", "SEV2": "major", "SEV3": "minor"}
LIST_FILTERS = ("open", "resolved", "all")


class IncidentStateError(ProdloopError):
    """The incident is not in a state that allows this (updating a resolved incident)."""

    status_code = 409


@dataclass(frozen=True, slots=True)
class Incident:
    """One row of `incidents`, with the ids of its alerts."""

    id: int
    service: str
    title: str
    severity: str
    status: str
    impact: str
    assignee: str | None
    is_drill: bool
    runbook: str | None
    detected_at: float
    acknowledged_at: float | None
    mitigation_started_at: float | None
    mitigated_at: float | None
    first_update_at: float | None
    reminded_at: float | None
    deadline_acted_at: float | None
    resolved_at: float | None
    created_at: float
    updated_at: float
    alert_ids: tuple[int, ...] = ()

    @property
    def is_open(self) -> bool:
        """Not resolved yet."""
        return self.status != "resolved"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "service": self.service,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "impact": self.impact,
            "assignee": self.assignee,
            "is_drill": self.is_drill,
            "runbook": self.runbook,
            "detected_at": self.detected_at,
            "acknowledged_at": self.acknowledged_at,
            "mitigation_started_at": self.mitigation_started_at,
            "mitigated_at": self.mitigated_at,
            "first_update_at": self.first_update_at,
            "reminded_at": self.reminded_at,
            "deadline_acted_at": self.deadline_acted_at,
            "resolved_at": self.resolved_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "alert_ids": list(self.alert_ids),
        }


def incident_from_row(row: RowMapping, alert_ids: Sequence[int] = ()) -> Incident:
    return Incident(
        id=int(row["id"]),
        service=row["service"],
        title=row["title"],
        severity=row["severity"],
        status=row["status"],
        impact=row["impact"],
        assignee=row["assignee"],
        is_drill=bool(row["is_drill"]),
        runbook=row["runbook"],
        detected_at=float(row["detected_at"]),
        acknowledged_at=row["acknowledged_at"],
        mitigation_started_at=row["mitigation_started_at"],
        mitigated_at=row["mitigated_at"],
        first_update_at=row["first_update_at"],
        reminded_at=row["reminded_at"],
        deadline_acted_at=row["deadline_acted_at"],
        resolved_at=row["resolved_at"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        alert_ids=tuple(alert_ids),
    )


def alert_ids_of(conn: Connection, incident_id: int) -> list[int]:
    rows = conn.execute(
        select(incident_alerts.c.alert_id)
        .where(incident_alerts.c.incident_id == incident_id)
        .order_by(incident_alerts.c.joined_at, incident_alerts.c.alert_id)
    )
    return [int(alert_id) for (alert_id,) in rows]


def get_incident(conn: Connection, incident_id: int, *, field: str = "incident") -> Incident:
    """One incident by id, or NotFoundError naming it."""
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no incident {incident_id}", field=field)
    return incident_from_row(row, alert_ids_of(conn, incident_id))


def load_incident(engine: Engine, incident_id: int, *, field: str = "incident") -> Incident:
    """One incident by id, in its own connection."""
    with engine.connect() as conn:
        return get_incident(conn, incident_id, field=field)


def list_incidents(
    engine: Engine, *, which: str = "all", service: str | None = None, limit: int = 100
) -> list[Incident]:
    """Incidents, the most recently detected first: open, resolved or all of them."""
    if which not in LIST_FILTERS:
        raise ValidationError(
            f"unknown filter '{which}' (use {', '.join(LIST_FILTERS)})", field="status"
        )
    query = select(incidents)
    if which == "open":
        query = query.where(incidents.c.status != "resolved")
    elif which == "resolved":
        query = query.where(incidents.c.status == "resolved")
    if service is not None:
        query = query.where(incidents.c.service == service)
    query = query.order_by(incidents.c.detected_at.desc(), incidents.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [
            incident_from_row(row, alert_ids_of(conn, int(row["id"])))
            for row in conn.execute(query).mappings()
        ]


def member_alerts(conn: Connection, incident_id: int) -> list[AlertRecord]:
    """The alerts of an incident, in the order they joined."""
    rows = conn.execute(
        select(alerts)
        .select_from(alerts.join(incident_alerts, incident_alerts.c.alert_id == alerts.c.id))
        .where(incident_alerts.c.incident_id == incident_id)
        .order_by(incident_alerts.c.joined_at, alerts.c.id)
    ).mappings()
    return [alert_record(row) for row in rows]


def severity_for(alert_severity: str, share: float | None, settings: Incidents) -> str:
    """SEV1–SEV3 from the alert's severity (page | ticket) and the share of traffic affected."""
    affected = share or 0.0
    if alert_severity == "page":
        return "SEV1" if affected >= settings.sev1_traffic_share else "SEV2"
    return "SEV2" if affected >= settings.sev2_traffic_share else "SEV3"


def worse(a: str, b: str) -> str:
    """The more severe of two severities (SEV1 is the worst)."""
    return min(a, b, key=SEVERITIES.index)


def affected_share(engine: Engine, config: Config, alert: AlertRecord, at: float) -> float | None:
    """Share of the service's requests the alert's SLO counted bad over the impact window.

    Without an SLO that counts requests (a cost average), the share of requests that did
    not succeed. None when the service had no requests.
    """
    window_s = duration_s(config.incidents.impact_window)
    segment = read_segments(engine, [at - window_s, at + 1e-6], service=alert.service)[0]
    aggregate = segment.get(alert.service)
    if aggregate is None or aggregate.count == 0:
        return None
    for slo in config.slos.objectives:
        if slo.name == alert.slo and slo.kind != "average":
            counted = tally(slo, aggregate)
            return counted.share
    return (aggregate.count - aggregate.successes) / aggregate.count


def assignee_for(paging: Paging, alert: AlertRecord, now: float) -> str | None:
    """Who is on call at level 1 of the escalation policy of the route that pages the alert."""
    index = match_route(paging.routes, alert.all_labels)
    if index is None:
        return None
    name = paging.routes[index].escalation_policy
    policy = paging.escalation_policies.get(name) if name else None
    if policy is None:
        return None
    people = resolve_targets(paging, policy.levels[0].targets, now)
    return people[0] if people else None


def open_incident_of(conn: Connection, service: str) -> Incident | None:
    """The service's open incident (not a drill), if there is one."""
    row = (
        conn.execute(
            select(incidents)
            .where(
                incidents.c.service == service,
                incidents.c.status != "resolved",
                incidents.c.is_drill.is_(False),
            )
            .order_by(incidents.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return incident_from_row(row, alert_ids_of(conn, int(row["id"]))) if row is not None else None


def _title(alert: AlertRecord) -> str:
    return alert.summary or f"{alert.alertname} on {alert.service}"


def open_incident(
    conn: Connection,
    config: Config,
    alert: AlertRecord,
    now: float,
    *,
    share: float | None,
    is_drill: bool = False,
) -> Incident:
    """Open an incident for a page that started firing, and record its detection."""
    detected_at = alert.fired_at if alert.fired_at is not None else now
    severity = severity_for(alert.severity, share, config.incidents)
    assignee = assignee_for(config.paging, alert, now)
    result = conn.execute(
        insert(incidents).values(
            service=alert.service,
            title=_title(alert),
            severity=severity,
            status="investigating",
            impact=IMPACT_BY_SEVERITY[severity],
            assignee=assignee,
            is_drill=is_drill,
            runbook=alert_runbook_url(config, alert),
            detected_at=detected_at,
            created_at=now,
            updated_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    incident_id = int(key[0])
    conn.execute(
        insert(incident_alerts).values(incident_id=incident_id, alert_id=alert.id, joined_at=now)
    )
    share_text = f"{share * 100:.1f}% of requests affected" if share is not None else "no traffic"
    record(
        conn,
        incident_id,
        detected_at,
        "detected",
        f"{alert.alertname} fired on {alert.service} ({share_text}): {severity}, "
        f"assigned to {assignee or 'nobody'}",
        data={
            "key": str(alert.id),
            "alert_id": alert.id,
            "alertname": alert.alertname,
            "severity": severity,
            "share": share,
            "assignee": assignee,
            "active_at": alert.active_at,
        },
    )
    return get_incident(conn, incident_id)


def join_incident(
    conn: Connection,
    config: Config,
    incident: Incident,
    alert: AlertRecord,
    now: float,
    *,
    share: float | None,
) -> Incident:
    """Add a related alert to an open incident; a page can raise its severity."""
    conn.execute(
        insert(incident_alerts).values(incident_id=incident.id, alert_id=alert.id, joined_at=now)
    )
    at = alert.fired_at if alert.fired_at is not None else now
    record(
        conn,
        incident.id,
        at,
        "alert_joined",
        f"{alert.alertname} ({alert.severity}) fired on {alert.service} and joined the incident",
        data={"key": str(alert.id), "alert_id": alert.id, "alertname": alert.alertname},
    )
    severity = worse(incident.severity, severity_for(alert.severity, share, config.incidents))
    if severity != incident.severity:
        _set(conn, incident.id, now, severity=severity, impact=IMPACT_BY_SEVERITY[severity])
        record(
            conn,
            incident.id,
            now,
            "severity",
            f"severity raised from {incident.severity} to {severity} by {alert.alertname}",
            data={"from": incident.severity, "to": severity},
        )
    return get_incident(conn, incident.id)


def _set(conn: Connection, incident_id: int, now: float, **values: Any) -> None:
    conn.execute(
        update(incidents).where(incidents.c.id == incident_id).values(updated_at=now, **values)
    )


def set_once(conn: Connection, incident_id: int, column: str, at: float, now: float) -> bool:
    """Set a timestamp column unless it is set already; whether this call set it."""
    result = conn.execute(
        update(incidents)
        .where(and_(incidents.c.id == incident_id, incidents.c[column].is_(None)))
        .values({column: at, "updated_at": now})
    )
    return result.rowcount == 1


def unclaimed_firing_alerts(conn: Connection) -> list[AlertRecord]:
    """Firing alerts that belong to no incident yet, oldest first."""
    taken = select(incident_alerts.c.alert_id).where(incident_alerts.c.alert_id == alerts.c.id)
    rows = conn.execute(
        select(alerts)
        .where(alerts.c.state == "firing", ~taken.exists())
        .order_by(alerts.c.fired_at, alerts.c.id)
    ).mappings()
    return [alert_record(row) for row in rows]


def sync_members(conn: Connection, incident: Incident, now: float) -> list[str]:
    """Record what happened to the incident's alerts: paged, acknowledged, all resolved."""
    done: list[str] = []
    members = member_alerts(conn, incident.id)
    paged = recorded_keys(conn, incident.id, "paged")
    pages = dict(
        conn.execute(
            select(alert_paging.c.alert_id, alert_paging.c.notified_at).where(
                alert_paging.c.alert_id.in_([a.id for a in members]),
                alert_paging.c.notified_at.is_not(None),
            )
        ).all()
    )
    for alert in members:
        notified_at = pages.get(alert.id)
        if notified_at is not None and str(alert.id) not in paged:
            record(
                conn,
                incident.id,
                float(notified_at),
                "paged",
                f"{alert.alertname} paged {incident.assignee or 'the route'}",
                data={"key": str(alert.id), "alert_id": alert.id},
            )
            done.append("paged")
    acked = [a for a in members if a.acked_at is not None]
    if acked and incident.acknowledged_at is None:
        first = min(acked, key=lambda a: float(a.acked_at or 0.0))
        at = float(first.acked_at or now)
        if set_once(conn, incident.id, "acknowledged_at", at, now):
            record(
                conn,
                incident.id,
                at,
                "acknowledged",
                f"{first.acked_by} acknowledged {first.alertname}",
                actor=first.acked_by,
                data={"alert_id": first.id},
            )
            done.append("acknowledged")
    if members and all(a.state == "resolved" for a in members):
        last = max(float(a.resolved_at or now) for a in members)
        if str(last) not in recorded_keys(conn, incident.id, "alerts_resolved"):
            record(
                conn,
                incident.id,
                last,
                "alerts_resolved",
                "every alert of the incident has resolved: check and resolve it "
                f"(`prodloop incident resolve {incident.id}`)",
                data={"key": str(last)},
            )
            done.append("alerts_resolved")
            if set_once(conn, incident.id, "mitigated_at", last, now):
                set_once(conn, incident.id, "mitigation_started_at", last, now)
                record(
                    conn,
                    incident.id,
                    last,
                    "mitigation_done",
                    "impact ended: the alerts cleared",
                    data={"how": "alerts_resolved"},
                )
    return done


def acknowledge_incident(engine: Engine, incident_id: int, by: str, now: float) -> Incident:
    """Acknowledge an incident and every firing alert of it (escalation stops)."""
    who = check_actor(by, doing="acknowledges")
    with engine.connect() as conn:
        incident = get_incident(conn, incident_id, field="id")
        firing = [a for a in member_alerts(conn, incident_id) if a.state == "firing"]
    for alert in firing:
        acknowledge(engine, alert.id, who, now)
    with engine.begin() as conn:
        if set_once(conn, incident_id, "acknowledged_at", now, now):
            record(conn, incident_id, now, "acknowledged", f"{who} acknowledged", actor=who)
        return get_incident(conn, incident.id)


def mark_drill(engine: Engine, incident_id: int, by: str, now: float) -> Incident:
    """Flag an incident as a drill's: it leaves the public status page (drill view only)."""
    who = check_actor(by, doing="marks the drill")
    with engine.begin() as conn:
        incident = get_incident(conn, incident_id, field="id")
        if not incident.is_drill:
            conn.execute(
                update(incidents).where(incidents.c.id == incident_id).values(is_drill=True)
            )
            record(conn, incident_id, now, "marked_drill", f"{who} marked it a drill", actor=who)
        return get_incident(conn, incident.id)
