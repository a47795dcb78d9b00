"""The incident timeline: every step with its time, and the durations read off it.

Kinds written to `incident_events`: ``detected``, ``alert_joined``, ``paged``,
``acknowledged``, ``severity``, ``mitigation_proposed``, ``mitigation_started``,
``mitigation_done``, ``alerts_resolved``, ``status_update``, ``reminder``,
``deadline_escalated``, ``deadline_template``, ``note`` and ``resolved``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from prodloop.store.schema import incident_events


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step of an incident."""

    id: int
    incident_id: int
    at: float
    kind: str
    actor: str | None
    message: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "at": self.at,
            "kind": self.kind,
            "actor": self.actor,
            "message": self.message,
            "data": self.data,
        }


def record(
    conn: Connection,
    incident_id: int,
    at: float,
    kind: str,
    message: str,
    *,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one step to an incident's timeline."""
    conn.execute(
        insert(incident_events).values(
            incident_id=incident_id,
            at=at,
            kind=kind,
            actor=actor,
            message=message,
            data=json.dumps(data, sort_keys=True, default=str) if data is not None else None,
        )
    )


def read_timeline(conn: Connection, incident_id: int) -> list[TimelineEntry]:
    """An incident's steps, oldest first (ties in the order they were written)."""
    rows = conn.execute(
        select(incident_events)
        .where(incident_events.c.incident_id == incident_id)
        .order_by(incident_events.c.at, incident_events.c.id)
    ).mappings()
    entries = []
    for row in rows:
        try:
            data = json.loads(row["data"]) if row["data"] else {}
        except ValueError:
            data = {}
        entries.append(
            TimelineEntry(
                id=int(row["id"]),
                incident_id=int(row["incident_id"]),
                at=float(row["at"]),
                kind=row["kind"],
                actor=row["actor"],
                message=row["message"] or "",
                data=data if isinstance(data, dict) else {},
            )
        )
    return entries


def recorded_keys(conn: Connection, incident_id: int, kind: str) -> set[str]:
    """The `key` data of an incident's steps of one kind, to record each thing only once."""
    rows = conn.execute(
        select(incident_events.c.data).where(
            incident_events.c.incident_id == incident_id, incident_events.c.kind == kind
        )
    )
    keys: set[str] = set()
    for (data,) in rows:
        try:
            value = json.loads(data) if data else {}
        except ValueError:
            continue
        if isinstance(value, dict) and "key" in value:
            keys.add(str(value["key"]))
    return keys
