"""The alerts page (/alerts): firing and pending alerts with acknowledge, silences, who is
on call now and next, and the notification delivery log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from prodloop.alerting.acks import AlertRecord, acknowledge, list_alerts
from prodloop.alerting.deliveries import list_deliveries
from prodloop.alerting.notifiers import format_value
from prodloop.alerting.oncall import who_is_on_call
from prodloop.alerting.paging import unit_for
from prodloop.alerting.silences import create_silence, expire_silence, list_silences, parse_matchers
from prodloop.api.state import ControlState
from prodloop.durations import parse_duration
from prodloop.errors import ValidationError
from prodloop.web.dashboard.auth import Control, CurrentUser, require_role
from prodloop.web.dashboard.csrf import verify_csrf
from prodloop.web.dashboard.service import run_action
from prodloop.web.dashboard.templating import NavItem, register_nav, render
from prodloop.web.dashboard.users import User

router = APIRouter(include_in_schema=False)
register_nav(NavItem("Alerts", "/alerts", order=40))

Operator = Annotated[User, Depends(require_role("operator"))]
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1)]
POLL_S = 15
DELIVERY_LIMIT = 50
CHANGED_EVENT = "alerts-changed"  # the list re-reads itself when an action sends this
SILENCE_FIELDS = ("matchers", "duration", "reason")
MAX_REASON = 2000  # as the API's silence body allows
# create_silence names the end of the window; the form asks for a duration.
_FORM_FIELD = {"matchers": "matchers", "ends_at": "duration", "reason": "reason"}
_MATCHER_SPLIT = re.compile(r"[,\n]")


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert as the list shows it: its value in the SLO's unit."""

    alert: AlertRecord
    value: str
    threshold: str

    @property
    def can_ack(self) -> bool:
        return self.alert.state == "firing" and self.alert.acked_at is None


def alert_rows(control: ControlState) -> list[AlertRow]:
    """Pending and firing alerts, the most recently active first."""
    rows = []
    for alert in list_alerts(control.engine):
        unit = unit_for(control.config, alert)
        rows.append(
            AlertRow(alert, format_value(alert.value, unit), format_value(alert.threshold, unit))
        )
    return rows


def _page(
    request: Request,
    control: ControlState,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    now = control.clock.now()
    return render(
        request,
        "alerts.html",
        {
            "now": now,
            "alerts": alert_rows(control),
            "silences": list_silences(control.engine, now),
            "oncall": who_is_on_call(control.config.paging, now),
            "deliveries": list_deliveries(control.engine, limit=DELIVERY_LIMIT),
            "form": form or {"matchers": "", "duration": "2h", "reason": ""},
            "errors": errors or {},
            "poll_s": POLL_S,
            "changed_event": CHANGED_EVENT,
        },
        status_code=status_code,
    )


@router.get("/alerts")
def alerts_page(request: Request, _user: CurrentUser, control: Control) -> Response:
    return _page(request, control)


@router.get("/dashboard/partials/alerts")
def alerts_fragment(request: Request, _user: CurrentUser, control: Control) -> Response:
    """The alert list alone, for htmx to swap in every few seconds or after an action."""
    return render(
        request, "_alerts_list.html", {"alerts": alert_rows(control), "now": control.clock.now()}
    )


def _changed(response: Response) -> Response:
    if 200 <= response.status_code < 300:
        response.headers["HX-Trigger"] = CHANGED_EVENT
    return response


@router.post("/alerts/{alert_id}/ack", dependencies=[Depends(verify_csrf)])
def post_ack(request: Request, user: Operator, control: Control, alert_id: ItemId) -> Response:
    """Operators: acknowledge a firing alert as themselves; escalation stops."""

    def act() -> str:
        result = acknowledge(control.engine, alert_id, user.name, control.clock.now())
        alert = result.alert
        if result.was_already_acked:
            return f"Alert {alert.id} was already acknowledged by {alert.acked_by}."
        return f"Acknowledged alert {alert.id} ({alert.alertname} on {alert.service})."

    return _changed(run_action(request, act, back="/alerts"))


def _silence_errors(form: dict[str, str], now: float) -> tuple[dict[str, str], dict[str, Any]]:
    """The form's problems found before storing, by field, and the values checked."""
    errors: dict[str, str] = {}
    checked: dict[str, Any] = {}
    parts = [p for p in _MATCHER_SPLIT.split(form["matchers"]) if p.strip()]
    try:
        checked["matchers"] = parse_matchers(parts, field="matchers")
    except ValidationError as exc:
        errors["matchers"] = exc.message
    try:
        length = parse_duration(form["duration"], field="duration")
        if length <= 0:
            raise ValidationError("must be longer than zero", field="duration")
        checked["ends_at"] = now + length
    except ValidationError as exc:
        errors["duration"] = exc.message
    # Whether there is a reason at all is create_silence's to say; the length is the API's.
    if len(form["reason"]) > MAX_REASON:
        errors["reason"] = f"at most {MAX_REASON} characters"
    checked["reason"] = form["reason"]
    return errors, checked


@router.post("/alerts/silences", dependencies=[Depends(verify_csrf)])
async def post_silence(request: Request, user: Operator, control: Control) -> Response:
    """Operators: silence alerts whose labels match, for a while, with a reason."""
    data = await request.form()
    form = {name: str(data.get(name) or "") for name in SILENCE_FIELDS}
    return await anyio.to_thread.run_sync(lambda: _silence(request, user, control, form))


def _silence(request: Request, user: User, control: ControlState, form: dict[str, str]) -> Response:
    now = control.clock.now()
    errors, checked = _silence_errors(form, now)
    if not errors:
        try:
            create_silence(
                control.engine,
                matchers=checked["matchers"],
                ends_at=checked["ends_at"],
                reason=checked["reason"],
                created_by=user.name,
                now=now,
            )
        except ValidationError as exc:
            errors[_FORM_FIELD.get(exc.field or "", "matchers")] = exc.message
    if errors:
        return _page(request, control, form=form, errors=errors, status_code=422)
    return RedirectResponse("/alerts", status_code=303)


@router.post("/alerts/silences/{silence_id}/expire", dependencies=[Depends(verify_csrf)])
def post_expire(
    request: Request, _user: Operator, control: Control, silence_id: ItemId
) -> Response:
    """Operators: lift a silence now."""

    def act() -> str:
        lifted = expire_silence(control.engine, silence_id, control.clock.now())
        return f"Lifted silence {lifted.id}."

    return run_action(request, act, back="/alerts")
