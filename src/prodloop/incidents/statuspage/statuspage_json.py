"""The page in Atlassian Statuspage's v2 JSON shapes (summary, status, components,
incidents, unresolved incidents, scheduled maintenances), field for field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prodloop.incidents.statuspage.model import (
    PublicComponent,
    PublicIncident,
    PublicMaintenance,
    PublicPage,
    PublicUpdate,
)

Json = dict[str, Any]

_MAINTENANCE_NOTES = {
    "in_progress": "Scheduled maintenance is currently in progress.",
    "completed": "The scheduled maintenance has been completed.",
}


def iso(ts: float | None) -> str | None:
    """Statuspage's timestamp form: ISO 8601 with milliseconds and a UTC offset."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def page_json(page: PublicPage) -> Json:
    return {
        "id": page.id,
        "name": page.name,
        "url": page.url,
        "time_zone": page.time_zone,
        "updated_at": iso(page.updated_at),
    }


def status_json(page: PublicPage) -> Json:
    return {"indicator": page.indicator, "description": page.description}


def component_json(page: PublicPage, component: PublicComponent) -> Json:
    return {
        "id": component.id,
        "name": component.name,
        "status": component.status,
        "created_at": iso(component.created_at),
        "updated_at": iso(component.updated_at),
        "position": component.position,
        "description": component.description or None,
        "showcase": True,
        "start_date": iso(component.created_at)[:10],  # type: ignore[index]
        "group_id": None,
        "page_id": page.id,
        "group": False,
        "only_show_if_degraded": False,
    }


def _update_json(update: PublicUpdate, incident_id: str) -> Json:
    return {
        "id": update.id,
        "status": update.status,
        "body": update.body,
        "incident_id": incident_id,
        "created_at": iso(update.at),
        "updated_at": iso(update.at),
        "display_at": iso(update.at),
        "affected_components": None,
    }


def _components_of(page: PublicPage, ids: tuple[str, ...]) -> list[Json]:
    return [component_json(page, c) for c in page.components if c.id in ids]


def incident_json(page: PublicPage, incident: PublicIncident) -> Json:
    return {
        "id": incident.id,
        "name": incident.name,
        "status": incident.status,
        "created_at": iso(incident.created_at),
        "updated_at": iso(incident.updated_at),
        "monitoring_at": iso(incident.monitoring_at),
        "resolved_at": iso(incident.resolved_at),
        "impact": incident.impact,
        "shortlink": page.incident_url(incident),
        "started_at": iso(incident.started_at),
        "page_id": page.id,
        "incident_updates": [_update_json(u, incident.id) for u in incident.updates],
        "components": _components_of(page, incident.component_ids),
    }


def maintenance_updates(maintenance: PublicMaintenance) -> list[PublicUpdate]:
    """The announcement, then (as time passes) in-progress and completed notes; newest first."""
    updates = [
        PublicUpdate(
            f"{maintenance.id}-scheduled",
            "scheduled",
            maintenance.body or maintenance.name,
            maintenance.created_at,
        )
    ]
    if maintenance.status in ("in_progress", "completed"):
        updates.append(
            PublicUpdate(
                f"{maintenance.id}-in_progress",
                "in_progress",
                _MAINTENANCE_NOTES["in_progress"],
                maintenance.starts_at,
            )
        )
    if maintenance.status == "completed":
        updates.append(
            PublicUpdate(
                f"{maintenance.id}-completed",
                "completed",
                _MAINTENANCE_NOTES["completed"],
                maintenance.ends_at,
            )
        )
    return updates[::-1]


def maintenance_json(page: PublicPage, maintenance: PublicMaintenance) -> Json:
    updates = maintenance_updates(maintenance)
    return {
        "id": maintenance.id,
        "name": maintenance.name,
        "status": maintenance.status,
        "created_at": iso(maintenance.created_at),
        "updated_at": iso(updates[0].at),
        "monitoring_at": None,
        "resolved_at": iso(maintenance.ends_at) if maintenance.status == "completed" else None,
        "impact": "maintenance",
        "shortlink": f"{page.url}#maintenance-{maintenance.id}",
        "started_at": iso(maintenance.starts_at),
        "page_id": page.id,
        "incident_updates": [_update_json(u, maintenance.id) for u in updates],
        "components": _components_of(page, maintenance.component_ids),
        "scheduled_for": iso(maintenance.starts_at),
        "scheduled_until": iso(maintenance.ends_at),
    }


def summary(page: PublicPage) -> Json:
    """/api/v2/summary.json: components, unresolved incidents, upcoming and active maintenance."""
    return {
        "page": page_json(page),
        "components": [component_json(page, c) for c in page.components],
        "incidents": [incident_json(page, i) for i in page.unresolved_incidents],
        "scheduled_maintenances": [
            maintenance_json(page, m) for m in page.maintenances if m.status != "completed"
        ],
        "status": status_json(page),
    }


def status(page: PublicPage) -> Json:
    return {"page": page_json(page), "status": status_json(page)}


def components(page: PublicPage) -> Json:
    return {
        "page": page_json(page),
        "components": [component_json(page, c) for c in page.components],
    }


def incidents(page: PublicPage) -> Json:
    return {"page": page_json(page), "incidents": [incident_json(page, i) for i in page.incidents]}


def unresolved_incidents(page: PublicPage) -> Json:
    return {
        "page": page_json(page),
        "incidents": [incident_json(page, i) for i in page.unresolved_incidents],
    }


def scheduled_maintenances(page: PublicPage, which: str = "all") -> Json:
    """All maintenances, or only the `upcoming` or `active` ones."""
    wanted = {"all": None, "upcoming": "scheduled", "active": "in_progress"}[which]
    return {
        "page": page_json(page),
        "scheduled_maintenances": [
            maintenance_json(page, m)
            for m in page.maintenances
            if wanted is None or m.status == wanted
        ],
    }


DOCUMENTS = {
    "summary.json": summary,
    "status.json": status,
    "components.json": components,
    "incidents.json": incidents,
    "incidents/unresolved.json": unresolved_incidents,
    "scheduled-maintenances.json": scheduled_maintenances,
    "scheduled-maintenances/upcoming.json": lambda page: scheduled_maintenances(page, "upcoming"),
    "scheduled-maintenances/active.json": lambda page: scheduled_maintenances(page, "active"),
}
