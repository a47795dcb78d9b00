"""Communicate: public status updates and the deadline for the first one.

The guide wants the status page updated within 15 minutes of detection. Until the first
update is posted, the loop reminds the incident's owner at ``incidents.reminder_after``
(through their paging notifiers) and, at ``incidents.update_deadline``, either pages the
next level of the escalation policy (``escalate``) or posts the templated
"investigating" update itself (``post_template``). Each happens once per incident.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.alerting.acks import AlertRecord, check_actor
from prodloop.alerting.deliveries import enqueue
from prodloop.alerting.notifiers import Action, Notification, handles, render
from prodloop.alerting.oncall import resolve_targets
from prodloop.alerting.paging import alert_view, match_route
from prodloop.config import Config, duration_s
from prodloop.errors import ValidationError
from prodloop.incidents.lifecycle import (
    STATUSES,
    Incident,
    IncidentStateError,
    get_incident,
    member_alerts,
    set_once,
)
from prodloop.incidents.timeline import record
from prodloop.store.schema import incidents, status_updates

MAX_MESSAGE = 5000


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One update published on the public status page."""

    id: int
    incident_id: int
    at: float
    status: str
    message: str
    by: str
    is_templated: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "at": self.at,
            "status": self.status,
            "message": self.message,
            "by": self.by,
            "is_templated": self.is_templated,
        }


def _update(row: RowMapping) -> StatusUpdate:
    return StatusUpdate(
        id=int(row["id"]),
        incident_id=int(row["incident_id"]),
        at=float(row["at"]),
        status=row["status"],
        message=row["message"],
        by=row["by"],
        is_templated=bool(row["is_templated"]),
    )


def list_updates(conn: Connection, incident_id: int) -> list[StatusUpdate]:
    """An incident's public updates, oldest first."""
    rows = conn.execute(
        select(status_updates)
        .where(status_updates.c.incident_id == incident_id)
        .order_by(status_updates.c.at, status_updates.c.id)
    ).mappings()
    return [_update(row) for row in rows]


def check_status(status: object) -> str:
    """A known public status, or ValidationError naming the field."""
    if not isinstance(status, str) or status.strip() not in STATUSES:
        raise ValidationError(
            f"unknown status {status!r} (use {', '.join(STATUSES)})", field="status"
        )
    return status.strip()


def check_message(message: object) -> str:
    """A non-empty message of at most 5000 characters."""
    text = message.strip() if isinstance(message, str) else ""
    if not text:
        raise ValidationError("the update needs a message (it is published)", field="message")
    if len(text) > MAX_MESSAGE:
        raise ValidationError(f"at most {MAX_MESSAGE} characters", field="message")
    return text


def _publish(
    conn: Connection,
    incident: Incident,
    status: str,
    message: str,
    by: str,
    now: float,
    *,
    is_templated: bool,
) -> StatusUpdate:
    if not incident.is_open:
        when = datetime.fromtimestamp(incident.resolved_at or now, UTC).strftime("%Y-%m-%d %H:%M")
        raise IncidentStateError(
            f"incident {incident.id} was resolved at {when} UTC: it cannot move back to "
            f"'{status}' (a new problem opens a new incident)",
            field="status",
        )
    result = conn.execute(
        insert(status_updates).values(
            incident_id=incident.id,
            at=now,
            status=status,
            message=message,
            by=by,
            is_templated=is_templated,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "resolved":
        values["resolved_at"] = now
    conn.execute(incidents.update().where(incidents.c.id == incident.id).values(**values))
    is_first = set_once(conn, incident.id, "first_update_at", now, now)
    if status in ("monitoring", "resolved") and set_once(
        conn, incident.id, "mitigated_at", now, now
    ):
        set_once(conn, incident.id, "mitigation_started_at", now, now)
        record(conn, incident.id, now, "mitigation_done", f"marked {status} by {by}", actor=by)
    data: dict[str, Any] = {"status": status, "is_templated": is_templated}
    if is_first:
        data["time_to_first_update_s"] = now - incident.detected_at
    record(conn, incident.id, now, "status_update", f"{status}: {message}", actor=by, data=data)
    if status == "resolved":
        record(conn, incident.id, now, "resolved", f"resolved by {by}", actor=by)
    return StatusUpdate(int(key[0]), incident.id, now, status, message, by, is_templated)


def post_status_update(
    engine: Engine, incident_id: int, status: str, message: str, by: str, now: float
) -> StatusUpdate:
    """Publish a status update; the incident takes its status.

    Refused with a ValidationError naming the field for an unknown status, an empty
    message or no author; NotFoundError for an unknown incident; IncidentStateError (409)
    for an incident already resolved.
    """
    checked_status = check_status(status)
    text = check_message(message)
    who = check_actor(by, doing="posts the update")
    with engine.begin() as conn:
        incident = get_incident(conn, incident_id)
        return _publish(conn, incident, checked_status, text, who, now, is_templated=False)


def resolve_incident(
    engine: Engine, incident_id: int, by: str, now: float, *, message: str | None = None
) -> StatusUpdate:
    """Resolve an incident: a ``resolved`` status update (a default message without one)."""
    text = message if message and message.strip() else "This incident has been resolved."
    return post_status_update(engine, incident_id, "resolved", text, by, now)


def template_message(config: Config, incident: Incident) -> str:
    """The templated "investigating" update for an incident."""
    return config.incidents.template_message.format(
        service=incident.service, title=incident.title, id=incident.id, severity=incident.severity
    )


def _notify(
    conn: Connection,
    config: Config,
    incident: Incident,
    people: list[str],
    action: Action,
    text: str,
    now: float,
) -> int:
    """Queue a message about an incident to people's notifiers; how many were queued.

    A reminder (``repeat``) is a message, not a page: it goes to people's Slack, webhook
    and console channels, never PagerDuty, where it would either page again or be folded
    into the acknowledged incident unseen. An escalation (``escalation``) is a page and
    goes to PagerDuty too, as an incident of its own. Without anyone to tell, the route's
    notifiers are used.
    """
    members = member_alerts(conn, incident.id)
    if not members:
        return 0
    first: AlertRecord = members[0]
    paging = config.paging
    names: list[str] = []
    for person in people:
        if person in paging.people:
            names.extend(n for n in paging.people[person].notify if n not in names)
    if not people:
        index = match_route(paging.routes, first.all_labels)
        if index is not None:
            names = list(paging.routes[index].notifiers)
    is_page = action == "escalation"
    # The page's own alert, renamed and re-worded, so every channel shows the incident's
    # ask; its own fingerprint keeps PagerDuty from folding it into the alert's incident.
    alertname = "IncidentUpdateOverdue" if is_page else "IncidentUpdateDue"
    view = dataclasses.replace(
        alert_view(config, first, now, with_ack_link=False),
        alertname=alertname,
        fingerprint=f"incident-{incident.id}-{alertname}",
        summary=text,
    )
    queued = 0
    for receiver in names:
        notifier = paging.notifiers.get(receiver)
        if notifier is None or not handles(notifier.kind, action):
            continue
        if notifier.kind == "pagerduty" and not is_page:
            continue
        notification = Notification(
            action=action,
            receiver=receiver,
            group_key=f"incident:{incident.id}",
            group_labels={"service": incident.service, "incident": str(incident.id)},
            alerts=(view,),
            dashboard_url=config.alerts.dashboard_url,
            public_url=paging.public_url,
            now=now,
            paged=tuple(people),
        )
        for rendered in render(notifier.kind, notification):
            enqueue(conn, notifier=receiver, kind=notifier.kind, action=action,
                    rendered=rendered, group_key=f"incident:{incident.id}", recipients=people,
                    now=now)  # fmt: skip
            queued += 1
    return queued


def _next_level_people(
    config: Config, incident: Incident, first: AlertRecord, now: float
) -> list[str]:
    paging = config.paging
    index = match_route(paging.routes, first.all_labels)
    name = paging.routes[index].escalation_policy if index is not None else None
    policy = paging.escalation_policies.get(name) if name else None
    if policy is None:
        return [incident.assignee] if incident.assignee else []
    level = policy.levels[1] if len(policy.levels) > 1 else policy.levels[0]
    return resolve_targets(paging, level.targets, now)


def check_deadline(conn: Connection, config: Config, incident: Incident, now: float) -> list[str]:
    """Remind at `reminder_after`, act at `update_deadline`; what was done (once each)."""
    if not incident.is_open or incident.first_update_at is not None:
        return []
    settings = config.incidents
    done: list[str] = []
    elapsed = now - incident.detected_at
    deadline_s = duration_s(settings.update_deadline)
    due = datetime.fromtimestamp(incident.detected_at + deadline_s, UTC).strftime("%H:%M UTC")
    reminder_s = duration_s(settings.reminder_after)
    if (
        reminder_s <= elapsed < deadline_s
        and incident.reminded_at is None
        and set_once(conn, incident.id, "reminded_at", now, now)
    ):
        people = [incident.assignee] if incident.assignee else []
        text = (
            f"Incident {incident.id} ({incident.severity}, {incident.service}): no public "
            f"status update yet; post one by {due} with `prodloop status update "
            f"{incident.id} --status investigating --message ...`"
        )
        queued = _notify(conn, config, incident, people, "repeat", text, now)
        record(conn, incident.id, now, "reminder",
               f"reminded {incident.assignee or 'the route'}: status update due by {due}",
               data={"to": people, "queued": queued})  # fmt: skip
        done.append("reminder")
    if elapsed >= deadline_s and incident.deadline_acted_at is None:
        if not set_once(conn, incident.id, "deadline_acted_at", now, now):
            return done
        if settings.deadline_policy == "post_template":
            message = template_message(config, incident)
            record(conn, incident.id, now, "deadline_template",
                   f"no update {deadline_s / 60:g} minutes after detection: posted the template",
                   data={"policy": "post_template"})  # fmt: skip
            _publish(conn, incident, "investigating", message, settings.template_by, now,
                     is_templated=True)  # fmt: skip
            done.append("deadline_template")
        else:
            members = member_alerts(conn, incident.id)
            people = _next_level_people(config, incident, members[0], now) if members else []
            text = (
                f"Incident {incident.id} ({incident.severity}, {incident.service}): no public "
                f"status update {deadline_s / 60:g} minutes after detection"
            )
            queued = _notify(conn, config, incident, people, "escalation", text, now)
            record(conn, incident.id, now, "deadline_escalated",
                   f"no update {deadline_s / 60:g} minutes after detection: escalated to "
                   f"{', '.join(people) or 'the route'}",
                   data={"policy": "escalate", "to": people, "queued": queued})  # fmt: skip
            done.append("deadline_escalated")
    return done
