"""The analytics page: a funnel builder (steps picked from the events seen, window, order,
breakdown) drawn as bars of per-step conversion with the numbers beside them, weekly
retention cohorts, and a page's click heatmap with its rage-click spots.

The form is read with the same parsers as the API and the CLI (prodloop.analytics.params)
and the numbers come from the same functions, so the page and the API always agree. It is
a GET form: it reads, and the URL of a funnel can be shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.analytics.events import count_events
from prodloop.analytics.funnel import FunnelQuery, FunnelResult, compute_funnel
from prodloop.analytics.heatmap import CLICK_EVENT, MAX_SIDE, MIN_SIDE, Heatmap, build_heatmap
from prodloop.analytics.params import (
    MAX_STEPS,
    ORDERS,
    check_steps_for_order,
    parse_breakdown,
    parse_order,
    parse_steps,
    parse_time_range,
    parse_window,
)
from prodloop.analytics.retention import MODES, RetentionResult, compute_retention, parse_mode
from prodloop.api.state import ControlState
from prodloop.errors import ValidationError
from prodloop.store.schema import analytics_events
from prodloop.web.dashboard.auth import Control, CurrentUser
from prodloop.web.dashboard.templating import SECURITY_HEADERS, NavItem, register_nav, render

router = APIRouter(include_in_schema=False)
register_nav(NavItem("Analytics", "/analytics", order=60))

STEP_SLOTS = 6  # step pickers shown; more steps come from the URL
EVENTS_SINCE = "30d"  # the step pickers list events seen this recently
PAGES_SHOWN = 200
T = TypeVar("T")


@dataclass(slots=True)
class Form:
    """What the user typed, as typed, and what is wrong with it, by field."""

    steps: list[str]
    window: str = "14d"
    order: str = "sequential"
    breakdown: str = ""
    since: str = "30d"
    until: str = ""
    ret_start: str = ""
    ret_return: str = ""
    ret_mode: str = "first-time"
    ret_since: str = "8w"
    page: str = ""
    hm_since: str = "7d"
    errors: dict[str, str] = field(default_factory=dict)

    def check(self, name: str, parse: Callable[[], T]) -> T | None:
        """`parse()`, or None with its ValidationError noted beside field `name`."""
        try:
            return parse()
        except ValidationError as exc:
            self.errors[exc.field or name] = exc.message
            return None


def duration_text(seconds: float | None) -> str:
    """A median time between steps as people read it."""
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.3g} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} d"


def click_pages(engine: Engine) -> list[str]:
    """Page paths that have clicks, for the heatmap picker."""
    t = analytics_events.c
    query = select(t.path).where(t.event == CLICK_EVENT, t.path.is_not(None)).distinct()
    with engine.connect() as conn:
        return sorted(str(p) for (p,) in conn.execute(query.limit(PAGES_SHOWN)))


def funnel_of(form: Form, state: ControlState) -> FunnelResult | None:
    """The funnel the form asks for; None when no step is picked or a field is wrong."""
    picked = [step for step in form.steps if step.strip()]
    if not picked:
        return None
    # Joined and split again by the API's parser, so both refuse the same steps.
    names = form.check("steps", lambda: parse_steps(",".join(picked), field="steps"))
    order = form.check("order", lambda: parse_order(form.order))
    window = form.check("window", lambda: parse_window(form.window))
    breakdown = form.check("breakdown", lambda: parse_breakdown(form.breakdown))
    now = state.clock.now()
    span = form.check("since", lambda: parse_time_range(form.since or "30d", form.until, now))
    if names is not None and order is not None:
        form.check("steps", lambda: check_steps_for_order(names, order))
    if form.errors or names is None or order is None or window is None or span is None:
        return None
    query = FunnelQuery(tuple(names), window, span, order, breakdown)
    return compute_funnel(state.engine, query)


def retention_of(form: Form, state: ControlState) -> RetentionResult | None:
    mode = form.check("ret_mode", lambda: parse_mode(form.ret_mode, field="ret_mode"))
    span = form.check(
        "ret_since",
        lambda: parse_time_range(form.ret_since or "8w", None, state.clock.now(),
                                 since_field="ret_since", until_field="ret_since"),
    )  # fmt: skip
    if mode is None or span is None:
        return None
    return compute_retention(state.engine, span, mode=mode,
                             start_event=form.ret_start.strip() or None,
                             return_event=form.ret_return.strip() or None)  # fmt: skip


def heatmap_of(form: Form, state: ControlState) -> Heatmap | None:
    """The rage-click spots of the picked page (the image itself is its own request)."""
    if not form.page.strip():
        return None
    now = state.clock.now()
    span = form.check(
        "hm_since",
        lambda: parse_time_range(form.hm_since or "7d", None, now, since_field="hm_since",
                                 until_field="hm_since"),
    )  # fmt: skip
    if span is None:
        return None
    return form.check(
        "page",
        lambda: build_heatmap(state.engine, state.config.analytics, form.page, span,
                              is_rendered=False),
    )  # fmt: skip


def chart_data(result: FunnelResult) -> dict[str, Any]:
    """What analytics.js draws: one bar per step, its conversion from the first step in %."""
    return {
        "names": [s.name for s in result.steps],
        "counts": [s.count for s in result.steps],
        "conversion": [
            None if s.conversion_from_first is None else round(100 * s.conversion_from_first, 2)
            for s in result.steps
        ],
    }


@router.get("/analytics")
def analytics_page(
    request: Request,
    _user: CurrentUser,
    control: Control,
    step: Annotated[list[str] | None, Query()] = None,
    window: Annotated[str, Query(max_length=32)] = "14d",
    order: Annotated[str, Query(max_length=32)] = "sequential",
    breakdown: Annotated[str, Query(max_length=300)] = "",
    since: Annotated[str, Query(max_length=64)] = "30d",
    until: Annotated[str, Query(max_length=64)] = "",
    ret_start: Annotated[str, Query(max_length=200)] = "",
    ret_return: Annotated[str, Query(max_length=200)] = "",
    ret_mode: Annotated[str, Query(max_length=32)] = "first-time",
    ret_since: Annotated[str, Query(max_length=64)] = "8w",
    page: Annotated[str, Query(max_length=1024)] = "",
    hm_since: Annotated[str, Query(max_length=64)] = "7d",
) -> Response:
    """The funnel builder, retention and heatmaps; a bad field is a 422 with its message."""
    form = Form(list(step or [])[: MAX_STEPS + 1], window, order, breakdown, since, until,
                ret_start, ret_return, ret_mode, ret_since, page, hm_since)  # fmt: skip
    funnel = funnel_of(form, control)
    retention = retention_of(form, control)
    heatmap = heatmap_of(form, control)
    now = control.clock.now()
    events = count_events(control.engine, parse_time_range(EVENTS_SINCE, None, now))
    names = [e.event for e in events if e.event != CLICK_EVENT]
    slots = form.steps + [""] * max(0, STEP_SLOTS - len(form.steps))
    context = {
        "form": form,
        "errors": form.errors,
        "slots": slots,
        "event_names": names,
        "orders": ORDERS,
        "modes": MODES,
        "funnel": funnel,
        "chart": chart_data(funnel) if funnel is not None else None,
        "retention": retention,
        "heatmap": heatmap,
        "pages": click_pages(control.engine),
        "duration": duration_text,
    }
    return render(request, "analytics.html", context, status_code=422 if form.errors else 200)


@router.get("/analytics/heatmap.png")
def heatmap_png(
    _user: CurrentUser,
    control: Control,
    page: Annotated[str, Query(min_length=1, max_length=1024)],
    since: Annotated[str, Query(max_length=64)] = "7d",
    width: Annotated[int, Query(ge=MIN_SIDE, le=MAX_SIDE)] = 1280,
    height: Annotated[int, Query(ge=MIN_SIDE, le=MAX_SIDE)] = 800,
) -> Response:
    """The heatmap image of `page`, drawn by the same code as /api/v1/analytics/heatmap.png."""
    try:
        span = parse_time_range(since or "7d", None, control.clock.now())
        found = build_heatmap(control.engine, control.config.analytics, page, span,
                              width=width, height=height)  # fmt: skip
    except ValidationError as exc:
        return Response(str(exc), status_code=422, media_type="text/plain",
                        headers=SECURITY_HEADERS)  # fmt: skip
    headers = {**SECURITY_HEADERS, "X-Prodloop-Clicks": str(found.clicks)}
    return Response(found.png, media_type="image/png", headers=headers)
