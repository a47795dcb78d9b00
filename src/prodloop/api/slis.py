"""GET /api/v1/slis: the SLIs of any window, filtered and grouped."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from prodloop.api.auth import Principal, require_reader
from prodloop.api.models import SliResponse, parse_timestamp
from prodloop.api.state import get_state
from prodloop.durations import parse_duration
from prodloop.errors import ValidationError
from prodloop.telemetry.sli import GROUPABLE, query_slis

router = APIRouter(tags=["slis"])

DEFAULT_SINCE = "1h"


def parse_group_by(text: str | None) -> tuple[str, ...]:
    """("version", "model") from "version,model"; query_slis refuses unknown names."""
    if not text:
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def resolve_window(
    now: float, *, since: str | None, start: str | None, end: str | None
) -> tuple[float, float]:
    """(start, end) in Unix seconds from since/start/end; the last hour by default."""
    if since is not None and start is not None:
        raise ValidationError("give either since or start, not both", field="since")
    end_s = parse_timestamp(end, field="end") if end is not None else now
    if start is not None:
        start_s = parse_timestamp(start, field="start")
    else:
        span_s = parse_duration(since or DEFAULT_SINCE, field="since")
        if span_s <= 0:
            raise ValidationError("must be longer than zero", field="since")
        start_s = end_s - span_s
    if start_s >= end_s:
        raise ValidationError("start must be before end", field="start" if start else "end")
    return start_s, end_s


@router.get("/api/v1/slis", response_model=SliResponse, summary="SLIs of a window")
def get_slis(
    request: Request,
    _principal: Annotated[Principal, Depends(require_reader)],
    service: Annotated[str | None, Query(description="only this service")] = None,
    version: Annotated[str | None, Query(description="only this version")] = None,
    route: Annotated[str | None, Query(description="only this route")] = None,
    model: Annotated[str | None, Query(description="only this model")] = None,
    since: Annotated[
        str | None, Query(description="window length back from end, e.g. 15m, 1h, 7d")
    ] = None,
    start: Annotated[
        str | None, Query(description="window start: Unix seconds or ISO 8601")
    ] = None,
    end: Annotated[
        str | None, Query(description="window end (default now): Unix seconds or ISO 8601")
    ] = None,
    group_by: Annotated[
        str | None, Query(description="comma list of " + ", ".join(GROUPABLE))
    ] = None,
) -> SliResponse:
    """Request count, error and success rates, latency and TTFT percentiles, tokens, cost."""
    state = get_state(request)
    start_s, end_s = resolve_window(state.clock.now(), since=since, start=start, end=end)
    rows = query_slis(
        state.engine,
        start=start_s,
        end=end_s,
        service=service,
        version=version,
        route=route,
        model=model,
        group_by=parse_group_by(group_by),
    )
    return SliResponse(start=start_s, end=end_s, rows=[row.to_dict() for row in rows])
