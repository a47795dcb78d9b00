"""Experiments over HTTP: list, create, read the results, conclude.

The same domain functions as `prodloop experiment` answer, so a bad metric, an unknown
flag or a conclusion without a verdict is refused with the same message naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from prodloop.api.auth import Principal, require_reader
from prodloop.api.state import get_state
from prodloop.reviews.experiments import (
    conclude,
    create_experiment,
    experiment_results,
    list_experiments,
)

router = APIRouter(tags=["experiments"])

Reader = Annotated[Principal, Depends(require_reader)]
ExperimentName = Annotated[
    str, Path(min_length=1, max_length=128, description="the experiment's name")
]


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Plain strings: the domain check names the field in its own words.
    name: str = Field(max_length=128, description="letters, digits, '.', '_' or '-'")
    flag: str = Field(max_length=128, description="the flag whose variants are compared")
    metric: str = Field(
        max_length=256,
        description="thumbs_up_rate, conversion:EVENT, p95_latency or cost_per_request",
    )
    description: str = Field("", max_length=10_000, description="what the experiment tries")
    by: str = Field(min_length=1, max_length=128, description="who creates it")


class ConcludeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: str | None = Field(
        None, description="ship, dont_ship or keep_running; default the test's own"
    )
    by: str = Field(min_length=1, max_length=128, description="who concludes it")


@router.get("/api/v1/experiments", summary="Experiments")
def get_experiments(request: Request, _principal: Reader) -> dict[str, Any]:
    """Every experiment, the newest first."""
    engine = get_state(request).engine
    return {"experiments": [e.to_dict() for e in list_experiments(engine)]}


@router.post("/api/v1/experiments", status_code=201, summary="Create an experiment")
def post_experiment(
    request: Request, _principal: Reader, body: Annotated[ExperimentIn, Body()]
) -> dict[str, Any]:
    """Start an experiment now on a flag with two or more variants."""
    control = get_state(request)
    created = create_experiment(
        control.engine,
        body.name,
        body.flag,
        body.metric,
        by=body.by,
        now=control.clock.now(),
        description=body.description,
    )
    return created.to_dict()


@router.get("/api/v1/experiments/{name}", summary="An experiment's results")
def get_results(request: Request, _principal: Reader, name: ExperimentName) -> dict[str, Any]:
    """Per variant the metric and its interval, the difference, SRM and the verdict."""
    control = get_state(request)
    return experiment_results(control.engine, control.config, name, control.clock.now()).to_dict()


@router.post("/api/v1/experiments/{name}/conclude", summary="Conclude an experiment")
def post_conclude(
    request: Request,
    _principal: Reader,
    name: ExperimentName,
    body: Annotated[ConcludeIn, Body()],
) -> dict[str, Any]:
    """Stop the experiment and record its verdict for the weekly review."""
    control = get_state(request)
    result = conclude(
        control.engine, control.config, name, control.clock.now(), verdict=body.verdict, by=body.by
    )
    return result.to_dict()
