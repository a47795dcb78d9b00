"""The incidents pages: the list (/incidents) and one incident (/incidents/{id}) with its
timeline, public status updates, acknowledge, roll back, the post-mortem draft and the
countdown to the first public update."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from prodloop.api.state import ControlState
from prodloop.config import duration_s
from prodloop.errors import NotFoundError, ProdloopError, ValidationError
from prodloop.incidents.comms import list_updates, post_status_update
from prodloop.incidents.lifecycle import (
    LIST_FILTERS,
    STATUSES,
    Incident,
    acknowledge_incident,
    get_incident,
    list_incidents,
)
from prodloop.incidents.mitigation import mitigate_by_rollback
from prodloop.incidents.postmortem import minutes, postmortem_filename, write_postmortem
from prodloop.incidents.timeline import read_timeline
from prodloop.web.dashboard.auth import Control, CurrentUser, require_role
from prodloop.web.dashboard.csrf import verify_csrf
from prodloop.web.dashboard.service import run_action
from prodloop.web.dashboard.templating import SECURITY_HEADERS, NavItem, register_nav, render
from prodloop.web.dashboard.users import User
from prodloop.web.status import status_cache

router = APIRouter(include_in_schema=False)
register_nav(NavItem("Incidents", "/incidents", order=42))

Operator = Annotated[User, Depends(require_role("operator"))]
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
UPDATE_FIELDS = ("status", "message")
LIST_LIMIT = 200


def first_update_deadline(control: ControlState, incident: Incident) -> float:
    """When the first public update is due (``incidents.update_deadline`` after detection)."""
    return incident.detected_at + duration_s(control.config.incidents.update_deadline)


def time_to_first_update(incident: Incident) -> str | None:
    """How long after detection the first update came, or None before one is posted."""
    if incident.first_update_at is None:
        return None
    return minutes(incident.first_update_at - incident.detected_at)


def postmortem_path(control: ControlState, incident: Incident) -> FilePath:
    """Where `prodloop postmortem draft` writes this incident's draft."""
    return FilePath(control.config.incidents.postmortem_dir) / postmortem_filename(incident)


def _refreshed(response: Response) -> Response:
    """A successful htmx action reloads the page: the incident's state and timeline moved."""
    if 200 <= response.status_code < 300:
        response.headers["HX-Refresh"] = "true"
    return response


def _list_context(control: ControlState, which: str) -> dict[str, Any]:
    found = list_incidents(control.engine, which=which, limit=LIST_LIMIT)
    return {
        "incidents": [
            {
                "incident": i,
                "first_update": time_to_first_update(i),
                "deadline": first_update_deadline(control, i),
            }
            for i in found
        ],
        "which": which,
        "filters": LIST_FILTERS,
        "now": control.clock.now(),
    }


@router.get("/incidents")
def incidents_page(
    request: Request, _user: CurrentUser, control: Control, status: str = "all"
) -> Response:
    """Incidents, the most recently detected first; ?status=open|resolved|all."""
    try:
        context = _list_context(control, status)
    except ValidationError as exc:
        return render(
            request,
            "error.html",
            {"title": "Unknown filter", "message": exc.message},
            status_code=422,
        )
    return render(request, "incidents.html", context)


def _detail(
    request: Request,
    control: ControlState,
    incident_id: int,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with control.engine.connect() as conn:
        try:
            incident = get_incident(conn, incident_id, field="id")
        except NotFoundError as exc:
            return render(
                request,
                "error.html",
                {"title": "No such incident", "message": exc.message},
                status_code=404,
            )
        timeline = read_timeline(conn, incident_id)
        updates = list_updates(conn, incident_id)
    default_status = incident.status if incident.is_open else "resolved"
    return render(
        request,
        "incidents_detail.html",
        {
            "incident": incident,
            "timeline": timeline,
            "updates": updates,
            "statuses": STATUSES,
            "now": control.clock.now(),
            "deadline": first_update_deadline(control, incident),
            "first_update": time_to_first_update(incident),
            "has_postmortem": postmortem_path(control, incident).is_file(),
            "form": form or {"status": default_status, "message": ""},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/incidents/{incident_id}")
def incident_page(
    request: Request, _user: CurrentUser, control: Control, incident_id: IncidentId
) -> Response:
    return _detail(request, control, incident_id)


@router.post("/incidents/{incident_id}/updates", dependencies=[Depends(verify_csrf)])
async def post_update(
    request: Request, user: Operator, control: Control, incident_id: IncidentId
) -> Response:
    """Operators: publish a status update (the incident takes its status) on /status."""
    data = await request.form()
    form = {name: str(data.get(name) or "") for name in UPDATE_FIELDS}
    response = await anyio.to_thread.run_sync(
        lambda: _post_update(request, user, control, incident_id, form)
    )
    if response.status_code == 303:
        status_cache(request).invalidate()  # the public page shows it now, not at its refresh
    return response


def _post_update(
    request: Request, user: User, control: ControlState, incident_id: int, form: dict[str, str]
) -> Response:
    try:
        post_status_update(
            control.engine,
            incident_id,
            form["status"],
            form["message"],
            user.name,
            control.clock.now(),
        )
    except NotFoundError:
        return _detail(request, control, incident_id)  # its 404 page
    except ProdloopError as exc:
        field = exc.field if exc.field in UPDATE_FIELDS else "message"
        return _detail(
            request,
            control,
            incident_id,
            form=form,
            errors={field: exc.message},
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/incidents/{incident_id}#updates", status_code=303)


@router.post("/incidents/{incident_id}/ack", dependencies=[Depends(verify_csrf)])
def post_ack(
    request: Request, user: Operator, control: Control, incident_id: IncidentId
) -> Response:
    """Operators: acknowledge the incident and its firing alerts."""

    def act() -> str:
        acknowledge_incident(control.engine, incident_id, user.name, control.clock.now())
        return f"Incident {incident_id} acknowledged: escalation stops."

    return _refreshed(run_action(request, act, back=f"/incidents/{incident_id}"))


@router.post("/incidents/{incident_id}/mitigate", dependencies=[Depends(verify_csrf)])
def post_mitigate(
    request: Request, user: Operator, control: Control, incident_id: IncidentId
) -> Response:
    """Operators: roll the incident's service back to its previous stable version."""

    def act() -> str:
        done = mitigate_by_rollback(
            control.engine, control.config, incident_id, control.clock.now(), by=user.name
        )
        assert done.rollback is not None
        return (
            f"Rolled {done.rollback.service} back from {done.rollback.from_version} "
            f"to {done.rollback.to_version}."
        )

    return _refreshed(run_action(request, act, back=f"/incidents/{incident_id}"))


@router.post("/incidents/{incident_id}/postmortem", dependencies=[Depends(verify_csrf)])
def post_postmortem(
    request: Request, _user: Operator, control: Control, incident_id: IncidentId
) -> Response:
    """Operators: write the post-mortem draft (an existing draft is kept)."""

    def act() -> str:
        path = write_postmortem(control.engine, control.config, incident_id, control.clock.now())
        return f"Drafted {path.name}."

    return _refreshed(run_action(request, act, back=f"/incidents/{incident_id}", status_code=201))


@router.get("/incidents/{incident_id}/postmortem")
def get_postmortem(
    request: Request, _user: CurrentUser, control: Control, incident_id: IncidentId
) -> Response:
    """The post-mortem draft as Markdown text, once drafted."""
    message = f"no post-mortem drafted for incident {incident_id} yet"
    try:
        with control.engine.connect() as conn:
            path = postmortem_path(control, get_incident(conn, incident_id, field="id"))
    except NotFoundError as exc:
        message = exc.message
    else:
        if path.is_file():
            return PlainTextResponse(
                path.read_text(encoding="utf-8"),
                media_type="text/markdown; charset=utf-8",
                headers=SECURITY_HEADERS,
            )
    return render(
        request, "error.html", {"title": "No post-mortem", "message": message}, status_code=404
    )
