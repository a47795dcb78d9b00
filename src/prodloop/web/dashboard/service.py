"""A service's page: its SLO cards and charts, versions, models, top errors, the raw
requests of a minute, and the operator's rollback."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.errors import ProdloopError, ValidationError
from prodloop.releases.control import rollback
from prodloop.releases.routing import service_routes
from prodloop.slo.status import slo_status
from prodloop.store.schema import feedback, request_events
from prodloop.telemetry.rollups import MINUTE_S
from prodloop.telemetry.sli import query_slis
from prodloop.web.dashboard.auth import Control, CurrentUser, require_role
from prodloop.web.dashboard.cards import slo_cards
from prodloop.web.dashboard.charts import DEFAULT_RANGE, check_range, window_of
from prodloop.web.dashboard.csrf import verify_csrf
from prodloop.web.dashboard.overview import bad_range, chart_context
from prodloop.web.dashboard.templating import render
from prodloop.web.dashboard.users import User

router = APIRouter(include_in_schema=False)

ServiceName = Annotated[str, Path(min_length=1, max_length=128)]
MINUTE_LIMIT = 200  # raw requests listed for one minute
TOP_ERRORS = 10


@dataclass(frozen=True, slots=True)
class ErrorCount:
    error_class: str
    version: str
    count: int
    share: float | None  # of the version's requests


@dataclass(frozen=True, slots=True)
class FeedbackNote:
    summary: str
    comment: str
    is_negative: bool


def top_errors(engine: Engine, service: str, start: float, end: float) -> list[ErrorCount]:
    """The most frequent error classes of a service in [start, end), per version."""
    found = []
    for row in query_slis(engine, start=start, end=end, service=service, group_by=("version",)):
        for error_class, count in row.errors_by_class.items():
            share = count / row.requests if row.requests else None
            found.append(ErrorCount(error_class, row.group["version"], count, share))
    found.sort(key=lambda e: (-e.count, e.error_class, e.version))
    return found[:TOP_ERRORS]


def _feedback_summary(rating: float | None, kind: str | None, category: str | None) -> str:
    if kind == "thumbs" and rating is not None:
        return "thumbs up" if rating >= 1 else "thumbs down"
    if kind == "stars" and rating is not None:
        return f"{rating:g}/5 stars"
    if rating is not None:
        return f"{rating:g}"
    return category or "comment"


def minute_requests(engine: Engine, service: str, minute_start: float) -> list[dict[str, Any]]:
    """The raw requests of one minute, with the feedback given on each (by trace id)."""
    t = request_events.c
    query = (
        select(request_events)
        .where(t.service == service, t.ts >= minute_start, t.ts < minute_start + MINUTE_S)
        .order_by(t.ts)
        .limit(MINUTE_LIMIT + 1)
    )
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
        traces = sorted({row["trace_id"] for row in rows if row["trace_id"]})
        notes: dict[str, list[FeedbackNote]] = {}
        if traces:
            f = feedback.c
            for fb in conn.execute(
                select(f.trace_id, f.rating, f.rating_kind, f.category, f.comment, f.is_negative)
                .where(f.trace_id.in_(traces))
                .order_by(f.created_at)
            ):
                notes.setdefault(fb.trace_id, []).append(
                    FeedbackNote(
                        _feedback_summary(fb.rating, fb.rating_kind, fb.category),
                        fb.comment or "",
                        bool(fb.is_negative),
                    )
                )
    for row in rows:
        row["feedback"] = notes.get(row["trace_id"], []) if row["trace_id"] else []
    return rows


def _not_found(request: Request, message: str) -> Response:
    return render(
        request, "error.html", {"title": "No such service", "message": message}, status_code=404
    )


@router.get("/services/{service}")
def service_page(
    request: Request,
    _user: CurrentUser,
    control: Control,
    service: ServiceName,
    range: str = DEFAULT_RANGE,
) -> Response:
    try:
        check_range(range)
    except ValidationError as exc:
        return bad_range(request, exc)
    now = control.clock.now()
    try:
        statuses = slo_status(control.engine, control.config, now, service=service)
    except ValidationError as exc:
        return _not_found(request, exc.message)
    start, step_end, _step = window_of(range, now)
    end = min(step_end, now)  # the last step holds `now`: nothing after it is data yet
    with control.engine.connect() as conn:
        versions = sorted(
            service_routes(conn, service).values(), key=lambda v: (-v.weight, v.version)
        )
    models = query_slis(control.engine, start=start, end=end, service=service, group_by=("model",))
    return render(
        request,
        "service.html",
        {
            "service": service,
            "cards": slo_cards(statuses),
            "versions": versions,
            "models": [m for m in models if m.requests],
            "top_errors": top_errors(control.engine, service, start, end),
            "minute_url": f"/services/{_quote(service)}/minute",
            **chart_context(range, service=service),
        },
    )


def _quote(text: str) -> str:
    return quote(text, safe="")


@router.get("/services/{service}/minute")
def minute_fragment(
    request: Request, _user: CurrentUser, control: Control, service: ServiceName, ts: str = ""
) -> Response:
    """The raw requests of the minute holding `ts` (Unix seconds), as an htmx fragment."""
    try:
        when = float(ts)
        if not math.isfinite(when) or when < 0:
            raise ValueError(ts)
    except ValueError:
        return render(
            request,
            "_message.html",
            {"ok": False, "message": "ts: expected Unix seconds, e.g. 1767225600"},
            status_code=422,
        )
    minute_start = math.floor(when / MINUTE_S) * MINUTE_S
    rows = minute_requests(control.engine, service, minute_start)
    return render(
        request,
        "_minute.html",
        {
            "minute_start": minute_start,
            "requests": rows[:MINUTE_LIMIT],
            "truncated": len(rows) > MINUTE_LIMIT,
        },
    )


def action_result(
    request: Request, *, ok: bool, message: str, status_code: int, back: str
) -> Response:
    """An action's outcome: a message fragment for htmx, else a page (or a redirect back)."""
    if request.headers.get("hx-request") == "true":
        return render(
            request, "_message.html", {"ok": ok, "message": message}, status_code=status_code
        )
    if ok:
        return RedirectResponse(back, status_code=303)
    title = "The action failed"
    return render(
        request, "error.html", {"title": title, "message": message}, status_code=status_code
    )


def run_action(
    request: Request, act: Callable[[], str], *, back: str, status_code: int = 200
) -> Response:
    """Run an action that returns what to tell the user; a refusal is shown as it failed."""
    try:
        message = act()
    except ProdloopError as exc:
        return action_result(
            request, ok=False, message=exc.message, status_code=exc.status_code, back=back
        )
    return action_result(request, ok=True, message=message, status_code=status_code, back=back)


@router.post("/services/{service}/rollback", dependencies=[Depends(verify_csrf)])
def post_rollback(
    request: Request,
    user: Annotated[User, Depends(require_role("operator"))],
    control: Control,
    service: ServiceName,
) -> Response:
    """Operators: all traffic back on the previous stable version."""

    def act() -> str:
        result = rollback(
            control.engine, control.config, service, control.clock.now(), by=user.name
        )
        return f"Rolled back from {result.from_version} to {result.to_version}."

    return run_action(request, act, back=f"/services/{_quote(service)}")
