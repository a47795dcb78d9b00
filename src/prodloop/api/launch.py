"""The launch over HTTP: the checklist, sign-offs, declaring GA, its status, exit criteria.

The same domain functions as `prodloop launch` answer: GA is refused with a 409 naming
the failing lines while the checklist fails, and changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from prodloop.api.auth import Principal, require_reader
from prodloop.api.errors import error_payload
from prodloop.api.state import get_state
from prodloop.reviews.checklist import check_launch
from prodloop.reviews.exit_criteria import exit_criteria, parse_quarter, quarter_of
from prodloop.reviews.launch import LaunchNotReady, declare_ga, launch_status, record_signoff

router = APIRouter(tags=["launch"])

Reader = Annotated[Principal, Depends(require_reader)]


class SignoffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(max_length=128, description="who signs off")
    role: str = Field(max_length=64, description="the role signed for (launch.required_signoffs)")
    note: str = Field("", max_length=10_000, description="anything the sign-off depends on")


class DeclareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(max_length=128, description="who declares GA")


@router.get("/api/v1/launch/check", summary="The launch checklist")
def get_check(request: Request, _principal: Reader) -> dict[str, Any]:
    """Every checklist line with its evidence, and "ok" when all pass (200 either way)."""
    control = get_state(request)
    return check_launch(control.engine, control.config, control.clock.now()).to_dict()


@router.post("/api/v1/launch/signoffs", status_code=201, summary="Sign off on the launch")
def post_signoff(
    request: Request, _principal: Reader, body: Annotated[SignoffIn, Body()]
) -> dict[str, Any]:
    """Record a stakeholder's sign-off in one of launch.required_signoffs."""
    control = get_state(request)
    done = record_signoff(
        control.engine,
        control.config,
        by=body.by,
        role=body.role,
        note=body.note,
        now=control.clock.now(),
    )
    return done.to_dict()


@router.post(
    "/api/v1/launch/ga",
    summary="Declare GA",
    responses={409: {"description": "the checklist fails, or GA is already declared"}},
    response_model=None,
)
def post_ga(
    request: Request, _principal: Reader, body: Annotated[DeclareIn, Body()]
) -> dict[str, Any] | JSONResponse:
    """Once the checklist passes, serve the launch flag to 100 % and start the watch."""
    control = get_state(request)
    try:
        result = declare_ga(control.engine, control.config, control.clock.now(), body.by)
    except LaunchNotReady as refused:
        # The lines travel with the refusal, so a caller sees why without a second request.
        payload: dict[str, Any] = error_payload(refused.message, refused.field)
        payload["failing"] = [line.to_dict() for line in refused.checklist.failing]
        return JSONResponse(payload, status_code=refused.status_code)
    return result.to_dict()


@router.get("/api/v1/launch/status", summary="Where the launch stands")
def get_status(request: Request, _principal: Reader) -> dict[str, Any]:
    """Sign-offs, GA, the watch and the launch post."""
    control = get_state(request)
    return launch_status(control.engine, control.config, control.clock.now()).to_dict()


@router.get("/api/v1/launch/exit-criteria", summary="The exit criteria of a quarter")
def get_exit_criteria(
    request: Request,
    _principal: Reader,
    quarter: Annotated[
        str | None, Query(max_length=16, description="e.g. 2026-Q4 (default: the current one)")
    ] = None,
) -> dict[str, Any]:
    """Whether the quarter meets the move to maintenance mode, criterion by criterion."""
    control = get_state(request)
    config, now = control.config, control.clock.now()
    which = parse_quarter(quarter) if quarter else quarter_of(now, config.reviews.time_zone)
    return exit_criteria(control.engine, config, which, now).to_dict()
