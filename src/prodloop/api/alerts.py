"""Alerts, acknowledgements, silences, on-call and the delivery log over HTTP.

Every /api/v1 route needs an API token (an ingest key gets 403, even for writes). The
signed acknowledge link, GET /ack/{token}, is public: its signature is the credential.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from prodloop.alerting.acks import (
    AckResult,
    acknowledge,
    check_actor,
    get_alert,
    list_alerts,
    parse_states,
    signing_key,
    verify_ack_token,
)
from prodloop.alerting.deliveries import failed_notifications, list_attempts, list_deliveries
from prodloop.alerting.oncall import who_is_on_call
from prodloop.alerting.paging import paging_details
from prodloop.alerting.silences import create_silence, expire_silence, list_silences
from prodloop.api.auth import Principal, require_reader
from prodloop.api.models import parse_timestamp
from prodloop.api.state import get_state
from prodloop.durations import parse_duration
from prodloop.errors import NotFoundError, ValidationError

router = APIRouter(tags=["alerts"])

Reader = Annotated[Principal, Depends(require_reader)]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the alert's id")]


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=128, description="who acknowledges")


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: dict[str, str] = Field(
        min_length=1, description='labels an alert must carry, e.g. {"service": "chat"}'
    )
    duration: str | None = Field(None, description="how long from starts_at, e.g. 2h")
    ends_at: float | str | None = Field(None, description="Unix seconds or ISO 8601")
    starts_at: float | str | None = Field(None, description="default: now")
    reason: str = Field(min_length=1, max_length=2000)
    created_by: str = Field(min_length=1, max_length=128)


def _with_paging(engine: Any, records: list[Any]) -> list[dict[str, Any]]:
    details = paging_details(engine, [r.id for r in records])
    return [{**r.to_dict(), "paging": details.get(r.id)} for r in records]


@router.get("/api/v1/alerts", summary="Alerts, and notifications that failed")
def get_alerts(
    request: Request,
    _principal: Reader,
    state: Annotated[
        str | None, Query(description="pending, firing, resolved (comma list), active or all")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Alerts in the given states (default: pending and firing) with what paging did."""
    control = get_state(request)
    records = list_alerts(control.engine, parse_states(state), limit=limit)
    now = control.clock.now()
    active = [r.id for r in records if r.state != "resolved"]
    failed = failed_notifications(control.engine, now, active)
    return {
        "now": now,
        "alerts": _with_paging(control.engine, records),
        "failed_notifications": [d.to_dict() for d in failed],
    }


@router.get("/api/v1/alerts/{alert_id}", summary="One alert with its deliveries")
def get_one_alert(request: Request, _principal: Reader, alert_id: AlertId) -> dict[str, Any]:
    """The alert, what paging did, and every delivery and attempt made for it."""
    control = get_state(request)
    with control.engine.connect() as conn:
        record = get_alert(conn, alert_id)
    deliveries = list_deliveries(control.engine, alert_id=alert_id, limit=1000)
    return {
        **_with_paging(control.engine, [record])[0],
        "deliveries": [d.to_dict() for d in deliveries],
        "attempts": [a.to_dict() for a in list_attempts(control.engine, alert_id=alert_id)],
    }


@router.post("/api/v1/alerts/{alert_id}/ack", summary="Acknowledge an alert")
def post_ack(
    request: Request, _principal: Reader, alert_id: AlertId, body: Annotated[AckIn, Body()]
) -> dict[str, Any]:
    """Acknowledge a firing alert: escalation stops; PagerDuty and Slack hear of it."""
    control = get_state(request)
    return acknowledge(control.engine, alert_id, body.by, control.clock.now()).to_dict()


def _confirmation(result: AckResult) -> str:
    alert = result.alert
    when = datetime.fromtimestamp(alert.acked_at or 0, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    title = f"Alert {alert.id} acknowledged"
    what = f"{alert.alertname} on {alert.service}"
    already = " (it was already acknowledged)" if result.was_already_acked else ""
    body = (
        f"<h1>{html.escape(title)}</h1><p>{html.escape(what)}: acknowledged by "
        f"{html.escape(alert.acked_by or '')} at {when}{already}. Escalation stops.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    )


def _ack_by_link(request: Request, token: str, by: str | None) -> Response:
    control = get_state(request)
    key = signing_key(control.config.paging)
    if not key:
        raise NotFoundError(
            "acknowledge links are off: set paging.signing_key", field="paging.signing_key"
        )
    now = control.clock.now()
    alert_id = verify_ack_token(token, key, now)
    who = check_actor(by, field="by") if by is not None else "ack link"
    result = acknowledge(control.engine, alert_id, who, now)
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return JSONResponse(result.to_dict())
    return HTMLResponse(_confirmation(result))


@router.get("/ack/{token}", summary="Acknowledge by signed link", tags=["public"])
def get_ack_link(
    request: Request,
    token: Annotated[str, Path(max_length=200)],
    by: Annotated[str | None, Query(max_length=128, description="who clicked")] = None,
) -> Response:
    """The link sent in notifications; refused (403/410) when changed or expired."""
    return _ack_by_link(request, token, by)


@router.post("/ack/{token}", summary="Acknowledge by signed link", tags=["public"])
def post_ack_link(
    request: Request,
    token: Annotated[str, Path(max_length=200)],
    by: Annotated[str | None, Query(max_length=128, description="who clicked")] = None,
) -> Response:
    """Same as GET, for clients that post."""
    return _ack_by_link(request, token, by)


@router.get("/api/v1/silences", summary="Silences")
def get_silences(
    request: Request,
    _principal: Reader,
    include_expired: Annotated[bool, Query(alias="all", description="expired ones too")] = False,
) -> dict[str, Any]:
    """Active and pending silences (and expired ones with all=true), newest first."""
    control = get_state(request)
    now = control.clock.now()
    found = list_silences(control.engine, now, include_expired=include_expired)
    return {"now": now, "silences": [s.to_dict(now) for s in found]}


@router.post("/api/v1/silences", status_code=201, summary="Create a silence")
def post_silence(
    request: Request, _principal: Reader, body: Annotated[SilenceIn, Body()]
) -> dict[str, Any]:
    """Mute notifications for alerts with these labels, until ends_at or for duration."""
    control = get_state(request)
    now = control.clock.now()
    starts = (
        parse_timestamp(body.starts_at, field="starts_at") if body.starts_at is not None else now
    )
    if (body.duration is None) == (body.ends_at is None):
        raise ValidationError("give either duration or ends_at", field="duration")
    if body.duration is not None:
        length = parse_duration(body.duration, field="duration")
        if length <= 0:
            raise ValidationError("must be longer than zero", field="duration")
        ends = starts + length
    else:
        ends = parse_timestamp(body.ends_at, field="ends_at")
    silence = create_silence(
        control.engine,
        matchers=body.matchers,
        starts_at=starts,
        ends_at=ends,
        reason=body.reason,
        created_by=body.created_by,
        now=now,
    )
    return silence.to_dict(now)


@router.delete("/api/v1/silences/{silence_id}", summary="Lift a silence")
def delete_silence(
    request: Request,
    _principal: Reader,
    silence_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> dict[str, Any]:
    """Expire the silence now; its alerts are paged at the next tick if still firing."""
    control = get_state(request)
    now = control.clock.now()
    return expire_silence(control.engine, silence_id, now).to_dict(now)


@router.get("/api/v1/oncall", summary="Who is on call now and next")
def get_oncall(
    request: Request,
    _principal: Reader,
    schedule: Annotated[str | None, Query(description="only this schedule")] = None,
    at: Annotated[str | None, Query(description="Unix seconds or ISO 8601 (default now)")] = None,
) -> dict[str, Any]:
    """Per schedule: who is on call at `at` and until when, and who is next."""
    control = get_state(request)
    when = parse_timestamp(at, field="at") if at is not None else control.clock.now()
    found = who_is_on_call(control.config.paging, when, schedule)
    return {"at": when, "schedules": [o.to_dict() for o in found]}


@router.get("/api/v1/notifications", summary="The delivery log")
def get_notifications(
    request: Request,
    _principal: Reader,
    state: Annotated[str | None, Query(description="pending, sent or failed")] = None,
    alert_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    notifier: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Deliveries, newest first, each with every attempt made (status, error, when)."""
    control = get_state(request)
    deliveries = list_deliveries(
        control.engine, state=state, alert_id=alert_id, notifier=notifier, limit=limit
    )
    attempts = list_attempts(control.engine, delivery_ids=[d.id for d in deliveries], limit=10_000)
    by_delivery: dict[int, list[dict[str, Any]]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt.to_dict())
    return {
        "deliveries": [
            {**d.to_dict(), "attempt_log": by_delivery.get(d.id, [])} for d in deliveries
        ]
    }
