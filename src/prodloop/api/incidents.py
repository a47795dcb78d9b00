"""Incidents over HTTP: list, show with the timeline, post status updates, ack, mitigate.

Every route needs an API token. Status updates are checked by the same domain function
the CLI calls, so an unknown status, an empty message or an update to a resolved
incident is refused with the same message naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from prodloop.api.auth import Principal, require_reader
from prodloop.api.state import get_state
from prodloop.errors import ValidationError
from prodloop.incidents.comms import list_updates, post_status_update
from prodloop.incidents.lifecycle import (
    acknowledge_incident,
    get_incident,
    list_incidents,
    mark_drill,
)
from prodloop.incidents.mitigation import mitigate_by_rollback
from prodloop.incidents.timeline import read_timeline
from prodloop.web.status import status_cache

router = APIRouter(tags=["incidents"])

Reader = Annotated[Principal, Depends(require_reader)]
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the incident's id")]


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Plain strings: the domain check names the field in its own words.
    status: str = Field(description="investigating | identified | monitoring | resolved")
    message: str = Field(description="what the public status page says")
    by: str = Field(description="who posts it")


class ActorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(description="who does it")


class MitigateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["rollback"] = Field("rollback", description="only rollback is known")
    by: str = Field(description="who mitigates")


def _detail(request: Request, incident_id: int) -> dict[str, Any]:
    engine = get_state(request).engine
    with engine.connect() as conn:
        incident = get_incident(conn, incident_id, field="id")
        return {
            **incident.to_dict(),
            "timeline": [e.to_dict() for e in read_timeline(conn, incident_id)],
            "updates": [u.to_dict() for u in list_updates(conn, incident_id)],
        }


@router.get("/api/v1/incidents", summary="Incidents")
def get_incidents(
    request: Request,
    _principal: Reader,
    status: Annotated[str, Query(description="open, resolved or all")] = "all",
    service: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Incidents, the most recently detected first."""
    engine = get_state(request).engine
    found = list_incidents(engine, which=status, service=service, limit=limit)
    return {"incidents": [i.to_dict() for i in found]}


@router.get("/api/v1/incidents/{incident_id}", summary="One incident with its timeline")
def get_one(request: Request, _principal: Reader, incident_id: IncidentId) -> dict[str, Any]:
    """The incident, its timeline and its public status updates."""
    return _detail(request, incident_id)


@router.post(
    "/api/v1/incidents/{incident_id}/updates", status_code=201, summary="Post a status update"
)
def post_update(
    request: Request,
    _principal: Reader,
    incident_id: IncidentId,
    body: Annotated[UpdateIn, Body()],
) -> dict[str, Any]:
    """Publish a status update; the incident takes its status."""
    control = get_state(request)
    posted = post_status_update(
        control.engine, incident_id, body.status, body.message, body.by, control.clock.now()
    )
    status_cache(request).invalidate()  # public at once, not at the page's next rebuild
    return {"update": posted.to_dict(), "incident": _detail(request, incident_id)}


@router.post("/api/v1/incidents/{incident_id}/ack", summary="Acknowledge an incident")
def post_ack(
    request: Request, _principal: Reader, incident_id: IncidentId, body: Annotated[ActorIn, Body()]
) -> dict[str, Any]:
    """Acknowledge the incident and its firing alerts: escalation stops."""
    control = get_state(request)
    return acknowledge_incident(control.engine, incident_id, body.by, control.clock.now()).to_dict()


@router.post("/api/v1/incidents/{incident_id}/drill", summary="Mark an incident as a drill's")
def post_drill(
    request: Request, _principal: Reader, incident_id: IncidentId, body: Annotated[ActorIn, Body()]
) -> dict[str, Any]:
    """Flag the incident as caused by a drill: the public status page stops showing it."""
    control = get_state(request)
    marked = mark_drill(control.engine, incident_id, body.by, control.clock.now())
    status_cache(request).invalidate()
    return marked.to_dict()


@router.post("/api/v1/incidents/{incident_id}/mitigate", summary="Mitigate an incident")
def post_mitigate(
    request: Request,
    _principal: Reader,
    incident_id: IncidentId,
    body: Annotated[MitigateIn, Body()],
) -> dict[str, Any]:
    """Roll the incident's service back to its previous stable version."""
    control = get_state(request)
    if body.action != "rollback":
        raise ValidationError("only rollback is known", field="action")
    done = mitigate_by_rollback(
        control.engine, control.config, incident_id, control.clock.now(), by=body.by
    )
    return done.to_dict()
