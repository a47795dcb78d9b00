"""run_incidents: the incident step of the loop tick.

Firing alerts that belong to no incident open one (a page) or join their service's open
incident; member alerts' pages, acknowledgements and resolution are copied to the
timeline; a newly opened incident is mitigated; the status-update deadline is checked.
Everything is read from the store, so a tick that was missed is caught up by the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.incidents.comms import check_deadline
from prodloop.incidents.lifecycle import (
    affected_share,
    alert_ids_of,
    get_incident,
    incident_from_row,
    join_incident,
    open_incident,
    open_incident_of,
    sync_members,
    unclaimed_firing_alerts,
)
from prodloop.incidents.mitigation import Mitigation, mitigate_on_open
from prodloop.store.schema import incidents


@dataclass(frozen=True, slots=True)
class IncidentReport:
    """What one run of the incident step did."""

    opened: list[int] = field(default_factory=list)
    joined: list[int] = field(default_factory=list)  # alert ids that joined an open incident
    mitigations: list[Mitigation] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)
    deadline_acted: list[int] = field(default_factory=list)


def run_incidents(engine: Engine, config: Config, now: float) -> IncidentReport:
    """Open, join, sync, mitigate and chase status updates for `now`."""
    opened: list[int] = []
    joined: list[int] = []
    with engine.connect() as conn:
        candidates = unclaimed_firing_alerts(conn)
    for alert in candidates:
        with engine.connect() as conn:
            has_open = open_incident_of(conn, alert.service) is not None
        if not has_open and alert.severity != "page":
            continue  # a ticket alert only joins an incident a page opened
        at = alert.fired_at if alert.fired_at is not None else now
        share = affected_share(engine, config, alert, at)
        with engine.begin() as conn:
            current = open_incident_of(conn, alert.service)
            if current is not None:
                join_incident(conn, config, current, alert, now, share=share)
                joined.append(alert.id)
            elif alert.severity == "page":
                opened.append(open_incident(conn, config, alert, now, share=share).id)
    mitigations = [mitigate_on_open(engine, config, incident_id, now) for incident_id in opened]
    reminded: list[int] = []
    acted: list[int] = []
    with engine.begin() as conn:
        rows = conn.execute(
            select(incidents).where(incidents.c.status != "resolved").order_by(incidents.c.id)
        ).mappings()
        for row in list(rows):
            incident = incident_from_row(row, alert_ids_of(conn, int(row["id"])))
            sync_members(conn, incident, now)
            done = check_deadline(conn, config, get_incident(conn, incident.id), now)
            if "reminder" in done:
                reminded.append(incident.id)
            if any(kind.startswith("deadline") for kind in done):
                acted.append(incident.id)
    return IncidentReport(opened, joined, mitigations, reminded, acted)
