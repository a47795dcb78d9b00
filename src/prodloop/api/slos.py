"""GET /api/v1/slos: where every SLO stands — indicator, error budget, burn rates, this week."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from prodloop.api.auth import Principal, require_reader
from prodloop.api.state import get_state
from prodloop.slo.status import slo_status

router = APIRouter(tags=["slos"])


class SloStatusOut(BaseModel):
    service: str
    slo: str
    kind: str = Field(description="ratio | latency | average | rate")
    description: str
    indicator: str = Field(
        description="error_rate, success_rate, latency_p95_ms, cost_per_request_usd, …"
    )
    comparator: str = Field(description="<= or >=: how the indicator must compare to target")
    target: float = Field(description="in the indicator's unit (share, ms or USD)")
    objective: float | None = Field(description="share of good events; null for averages")
    now: float
    window_days: int
    window_start: float
    requests: int
    eligible: int = Field(description="events the SLO counts (average: requests with a cost)")
    bad: float = Field(description="bad events (average: total cost, USD)")
    sli: float | None = Field(description="the indicator over the SLO window; null: no traffic")
    error_budget: float | None = Field(description="bad events allowed (average: USD allowed)")
    budget_remaining: float | None = Field(description="1 untouched, 0 spent, < 0 overspent")
    budget_remaining_pct: float | None
    is_met: bool | None
    burn_rates: dict[str, float | None] = Field(description="over 1h, 6h and 1d")
    week_start: float = Field(description="Monday 00:00 of this week in slos.timezone")
    week_sli: float | None
    is_met_this_week: bool | None


class SloResponse(BaseModel):
    now: float
    slos: list[SloStatusOut]


@router.get("/api/v1/slos", response_model=SloResponse, summary="SLO status")
def get_slos(
    request: Request,
    _principal: Annotated[Principal, Depends(require_reader)],
    service: Annotated[
        str | None, Query(min_length=1, max_length=128, description="only this service")
    ] = None,
) -> SloResponse:
    """Per service and SLO: the SLI, target, error budget left, burn rates, met this week."""
    state = get_state(request)
    now = state.clock.now()
    statuses = slo_status(state.engine, state.config, now, service=service)
    return SloResponse(
        now=now, slos=[SloStatusOut.model_validate(status.to_dict()) for status in statuses]
    )
