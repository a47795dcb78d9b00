"""Product analytics over HTTP: funnels, retention, click heatmaps, event counts.

Every route reads, so every route needs an API token; an ingest key is refused (403).
Parameters are parsed by the same functions as the CLI, so a bad window, order or
breakdown is a 422 naming the parameter.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from prodloop.analytics.events import count_events
from prodloop.analytics.funnel import FunnelQuery, compute_funnel
from prodloop.analytics.heatmap import MAX_SIDE, MIN_SIDE, Heatmap, build_heatmap
from prodloop.analytics.params import (
    check_steps_for_order,
    parse_breakdown,
    parse_order,
    parse_steps,
    parse_time_range,
    parse_window,
)
from prodloop.analytics.retention import compute_retention, parse_mode
from prodloop.api.auth import Principal, require_reader
from prodloop.api.state import get_state

router = APIRouter(tags=["analytics"])

Reader = Annotated[Principal, Depends(require_reader)]
Since = Annotated[str | None, Query(max_length=64, description="a duration ago (30d) or ISO time")]
Until = Annotated[
    str | None, Query(max_length=64, description="end: a duration ago or ISO time (now)")
]
Page = Annotated[str, Query(min_length=1, max_length=1024, description="page path, e.g. /chat")]
Side = Annotated[int, Query(ge=MIN_SIDE, le=MAX_SIDE)]


@router.get("/api/v1/analytics/funnel", summary="A funnel")
def get_funnel(
    request: Request,
    _principal: Reader,
    steps: Annotated[str, Query(max_length=4000, description="event names, comma-separated")],
    window: Annotated[str, Query(max_length=32, description="conversion window")] = "14d",
    order: Annotated[str, Query(description="sequential | strict | any")] = "sequential",
    breakdown: Annotated[
        str | None, Query(max_length=300, description="version | flag:NAME | property:KEY")
    ] = None,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Users per step, conversion from the first and previous step, median time, drop-off."""
    state = get_state(request)
    names = parse_steps(steps)
    chosen = parse_order(order)
    check_steps_for_order(names, chosen)
    query = FunnelQuery(
        steps=tuple(names),
        window_s=parse_window(window),
        time_range=parse_time_range(since or "30d", until, state.clock.now()),
        order=chosen,
        breakdown=parse_breakdown(breakdown),
    )
    return compute_funnel(state.engine, query).to_dict()


@router.get("/api/v1/analytics/retention", summary="Weekly retention cohorts")
def get_retention(
    request: Request,
    _principal: Reader,
    start_event: Annotated[str | None, Query(max_length=200)] = None,
    return_event: Annotated[str | None, Query(max_length=200)] = None,
    mode: Annotated[str, Query(description="first-time | recurring")] = "first-time",
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Cohorts by week of the start event, and the share who returned each week after."""
    state = get_state(request)
    chosen = parse_mode(mode)
    span = parse_time_range(since or "8w", until, state.clock.now())
    result = compute_retention(
        state.engine, span, mode=chosen, start_event=start_event, return_event=return_event
    )
    return result.to_dict()


def _heatmap(
    request: Request,
    page: str,
    since: str | None,
    until: str | None,
    size: tuple[int, int] | None = None,
) -> Heatmap:
    state = get_state(request)
    span = parse_time_range(since or "7d", until, state.clock.now())
    width, height = size or (MIN_SIDE, MIN_SIDE)
    return build_heatmap(
        state.engine,
        state.config.analytics,
        page,
        span,
        width=width,
        height=height,
        is_rendered=size is not None,
    )


@router.get(
    "/api/v1/analytics/heatmap.png",
    summary="Click heatmap of a page (PNG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def get_heatmap_png(
    request: Request,
    _principal: Reader,
    page: Page,
    since: Since = None,
    until: Until = None,
    width: Side = 1280,
    height: Side = 800,
) -> Response:
    """The heatmap image; the click and rage-click counts are in X-Prodloop-* headers."""
    found = _heatmap(request, page, since, until, (width, height))
    headers = {
        "X-Prodloop-Clicks": str(found.clicks),
        "X-Prodloop-Rage-Clicks": str(len(found.rage_clicks)),
        "Cache-Control": "no-store",
    }
    return Response(found.png, media_type="image/png", headers=headers)


@router.get("/api/v1/analytics/heatmap", summary="Clicks and rage-click spots of a page")
def get_heatmap(
    request: Request,
    _principal: Reader,
    page: Page,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """The numbers behind the heatmap: clicks, rage clicks and where they cluster."""
    found = _heatmap(request, page, since, until)
    return {**found.to_dict(), "rage_click_bursts": [r.to_dict() for r in found.rage_clicks]}


@router.get("/api/v1/analytics/events", summary="Events per name")
def get_events(
    request: Request, _principal: Reader, since: Since = None, until: Until = None
) -> dict[str, Any]:
    """Each event name seen in the range: count, users, first and last seen."""
    state = get_state(request)
    span = parse_time_range(since or "7d", until, state.clock.now())
    return {
        "since": span.since,
        "until": span.until,
        "events": [e.to_dict() for e in count_events(state.engine, span)],
    }
