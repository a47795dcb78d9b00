"""The overview page (/), the SLO cards fragment htmx polls, and the chart data."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from prodloop.errors import ValidationError
from prodloop.slo.status import slo_status
from prodloop.web.dashboard.auth import Control, CurrentUser
from prodloop.web.dashboard.cards import slo_cards
from prodloop.web.dashboard.charts import DEFAULT_RANGE, RANGES, chart_data, check_range
from prodloop.web.dashboard.templating import SECURITY_HEADERS, NavItem, register_nav, render

router = APIRouter(include_in_schema=False)
register_nav(NavItem("Overview", "/", order=0))

POLL_S = 15  # how often the SLO cards refresh
CHART_TITLES = (
    ("latency_p50_ms", "p50 latency (ms)"),
    ("latency_p95_ms", "p95 latency (ms)"),
    ("error_rate", "error rate"),
    ("cost_per_request_usd", "cost per request (USD)"),
    ("guardrail_triggers", "guardrail triggers"),
)


def chart_context(range_name: str, *, service: str | None = None) -> dict[str, Any]:
    """What _ranges.html and _charts.html need: the range, its choices, the data URL."""
    src = f"/dashboard/data/charts?range={range_name}"
    if service is not None:
        src += "&service=" + quote(service, safe="")
    return {
        "range": range_name,
        "ranges": list(RANGES),
        "chart_src": src,
        "chart_titles": CHART_TITLES,
        "poll_s": POLL_S,
    }


def bad_range(request: Request, exc: ValidationError) -> Response:
    return render(
        request,
        "error.html",
        {"title": "Unknown range", "message": exc.message},
        status_code=422,
    )


@router.get("/")
def overview(
    request: Request, _user: CurrentUser, control: Control, range: str = DEFAULT_RANGE
) -> Response:
    """Every SLO as a card, and the charts of every service, by version."""
    try:
        check_range(range)
    except ValidationError as exc:
        return bad_range(request, exc)
    now = control.clock.now()
    cards = slo_cards(slo_status(control.engine, control.config, now))
    return render(request, "overview.html", {"cards": cards, **chart_context(range)})


@router.get("/dashboard/partials/slo-cards")
def cards_fragment(
    request: Request, _user: CurrentUser, control: Control, service: str | None = None
) -> Response:
    """The SLO cards alone, for htmx to swap in every few seconds."""
    now = control.clock.now()
    try:
        statuses = slo_status(control.engine, control.config, now, service=service)
    except ValidationError as exc:
        return render(
            request, "_message.html", {"ok": False, "message": exc.message}, status_code=404
        )
    return render(request, "_cards.html", {"cards": slo_cards(statuses)})


@router.get("/dashboard/data/charts")
def charts(
    _user: CurrentUser,
    control: Control,
    range: str = DEFAULT_RANGE,
    service: str | None = None,
) -> Response:
    """Chart data as JSON (see charts.ChartData); a bad range is a 422 naming it."""
    data = chart_data(control.engine, range, control.clock.now(), service=service)
    return Response(
        orjson.dumps(data.to_dict()), media_type="application/json", headers=SECURITY_HEADERS
    )
