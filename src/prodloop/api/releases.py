"""Deployments, rollouts and rollbacks over HTTP, and the Kubernetes interop endpoints.

Argo Rollouts' web metric provider calls ``GET /api/v1/analysis/{service}`` and reads
``{$.verdict}`` (successCondition ``result == "pass"``). Flagger's webhooks post to
``/api/v1/flagger/{confirm-rollout|confirm-promotion|rollback}``: 200 approves (for the
rollback hook: rolls back), 403 holds. Every route needs an API token.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from prodloop.api.auth import Principal, authenticate_reader, bearer_token, require_reader
from prodloop.api.models import parse_timestamp
from prodloop.api.state import get_state
from prodloop.durations import parse_duration
from prodloop.errors import ValidationError
from prodloop.releases.analysis import firing_pages, judge_window
from prodloop.releases.control import (
    abort_rollout,
    pause_rollout,
    promote_rollout,
    resume_rollout,
    rollback,
    split_traffic,
)
from prodloop.releases.deployments import (
    DeployRequest,
    list_deployments,
    public_key_from_env,
    register_deployment,
)
from prodloop.releases.rollouts import get_rollout

router = APIRouter(tags=["releases"])

Reader = Annotated[Principal, Depends(require_reader)]
ServiceName = Annotated[str, Path(min_length=1, max_length=128)]


class DeployIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    service: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=128)
    upstream: str = Field(min_length=1, max_length=2000, description="base URL, e.g. …/v1")
    api_key_env: str | None = Field(None, description="environment variable with its key")
    steps: list[float] | None = Field(None, description="canary weights, e.g. [5, 25, 50, 100]")
    hold: str | None = Field(None, description="hold per step, e.g. 5m")
    git_sha: str | None = Field(None, max_length=64)
    merged_at: float | str | None = Field(None, description="Unix seconds or ISO 8601")
    artifact_base64: str | None = Field(None, description="the artifact's bytes, base64")
    signature: str | None = Field(None, description="Ed25519 signature of the artifact, base64")
    by: str | None = Field(None, max_length=128, description="who deploys (default: the token)")


class ActorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(None, max_length=128, description="who acts (default: the token)")


@router.post("/api/v1/deployments", status_code=201, summary="Deploy a version as a canary")
def post_deployment(
    request: Request, principal: Reader, body: Annotated[DeployIn, Body()]
) -> dict[str, Any]:
    """Check the deploy (nothing changes if it is refused), then start its rollout."""
    control = get_state(request)
    artifact = None
    if body.artifact_base64 is not None:
        try:
            artifact = base64.b64decode(body.artifact_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("not valid base64", field="artifact_base64") from exc
    deploy = DeployRequest(
        service=body.service,
        version=body.version,
        upstream=body.upstream,
        deployed_by=body.by or principal.name,
        api_key_env=body.api_key_env,
        steps=body.steps,
        hold_s=parse_duration(body.hold, field="hold") if body.hold is not None else None,
        git_sha=body.git_sha,
        merged_at=parse_timestamp(body.merged_at, field="merged_at")
        if body.merged_at is not None
        else None,
        artifact=artifact,
        signature=body.signature,
    )
    deployment = register_deployment(
        control.engine,
        control.config,
        deploy,
        control.clock.now(),
        public_key=public_key_from_env(),
    )
    rollout = get_rollout(control.engine, deployment.service)
    return {"deployment": deployment.to_dict(), "rollout": rollout.to_dict()}


@router.get("/api/v1/deployments", summary="Deployment history")
def get_deployments(
    request: Request,
    _principal: Reader,
    service: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Deployments, newest first, with merge → live lead times."""
    control = get_state(request)
    found = list_deployments(control.engine, service=service, limit=limit)
    return {"deployments": [d.to_dict() for d in found]}


@router.get("/api/v1/rollouts/{service}", summary="The service's latest rollout")
def get_one_rollout(request: Request, _principal: Reader, service: ServiceName) -> dict[str, Any]:
    """Its state, step, weight, failed analyses and the latest analyses."""
    return get_rollout(get_state(request).engine, service).to_dict()


@router.post("/api/v1/rollouts/{service}/{action}", summary="Pause, resume, promote or abort")
def post_rollout_action(
    request: Request,
    principal: Reader,
    service: ServiceName,
    action: Literal["pause", "resume", "promote", "abort"],
    body: Annotated[ActorIn | None, Body()] = None,
) -> dict[str, Any]:
    """Control the rollout under way; 404 when there is none."""
    control = get_state(request)
    engine, config, now = control.engine, control.config, control.clock.now()
    by = (body.by if body else None) or principal.name
    if action == "pause":
        rollout = pause_rollout(engine, service, now, by=by)
    elif action == "resume":
        rollout = resume_rollout(engine, service, now, by=by)
    elif action == "promote":
        rollout = promote_rollout(engine, config, service, now, by=by)
    else:
        rollout = abort_rollout(engine, config, service, now, by=by)
    return rollout.to_dict()


@router.post("/api/v1/services/{service}/rollback", summary="Roll back to the previous stable")
def post_rollback(
    request: Request,
    principal: Reader,
    service: ServiceName,
    body: Annotated[ActorIn | None, Body()] = None,
) -> dict[str, Any]:
    """All traffic back on the previous stable version, during a rollout or after one."""
    control = get_state(request)
    by = (body.by if body else None) or principal.name
    result = rollback(control.engine, control.config, service, control.clock.now(), by=by)
    return result.to_dict()


class WeightsIn(BaseModel):
    weights: dict[str, float]
    by: str | None = None


@router.put("/api/v1/services/{service}/weights", summary="Split the traffic by hand")
def put_weights(
    request: Request, principal: Reader, service: ServiceName, body: WeightsIn
) -> dict[str, Any]:
    """Set the versions' shares (summing to 100); refused while a rollout is under way."""
    control = get_state(request)
    weights = split_traffic(
        control.engine,
        control.config,
        service,
        body.weights,
        control.clock.now(),
        by=body.by or principal.name,
    )
    return {"service": service, "weights": weights}


@router.get("/api/v1/analysis/{service}", summary="Judge a canary (Argo Rollouts web metric)")
def get_analysis(
    request: Request,
    _principal: Reader,
    service: ServiceName,
    canary: Annotated[str, Query(min_length=1, max_length=128, description="canary version")],
    stable: Annotated[str, Query(min_length=1, max_length=128, description="stable version")],
    window: Annotated[str, Query(description="how far back to look, e.g. 5m")] = "5m",
) -> dict[str, Any]:
    """The verdict (`pass`, `fail` or `inconclusive`) and every check, over the window."""
    control = get_state(request)
    window_s = parse_duration(window, field="window")
    if window_s <= 0:
        raise ValidationError("the window must be longer than 0s", field="window")
    end = control.clock.now()
    result = judge_window(
        control.engine, control.config, service, canary, stable, end - window_s, end
    )
    return result.to_dict()


class FlaggerIn(BaseModel):
    """Flagger's webhook payload."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=253)
    namespace: str = Field("", max_length=253)
    phase: str = Field("", max_length=64)
    checksum: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


FlaggerHook = Literal["confirm-rollout", "confirm-promotion", "rollback"]


@router.post("/api/v1/flagger/{hook}", summary="Flagger webhooks")
def post_flagger(
    request: Request, hook: FlaggerHook, body: Annotated[FlaggerIn, Body()]
) -> JSONResponse:
    """Flagger's gates: 200 approves (rollback hook: roll back now), 403 holds.

    metadata: ``service`` (default: the canary's name), ``canary`` and ``stable`` (the
    versions as the gateway labels them), ``window`` (default 5m) and, since Flagger's
    webhooks cannot send headers, ``token`` when no Authorization header is sent.
    """
    control = get_state(request)
    meta = body.metadata
    authenticate_reader(control.keys, bearer_token(request) or meta.get("token"))
    service = meta.get("service", body.name)
    if hook == "confirm-rollout":
        pages = firing_pages(control.engine, service)
        if pages:
            names = ", ".join(str(p["alertname"]) for p in pages)
            return _flagger(403, hook, f"held: a page is firing on {service} ({names})")
        return _flagger(200, hook, "approved: no page is firing")
    canary, stable = meta.get("canary"), meta.get("stable")
    if not canary or not stable:
        raise ValidationError(
            "metadata needs 'canary' and 'stable': the versions to compare", field="metadata"
        )
    window_s = parse_duration(meta.get("window", "5m"), field="metadata.window")
    end = control.clock.now()
    result = judge_window(
        control.engine, control.config, service, canary, stable, end - window_s, end
    )
    verdict = result.analysis.result
    if hook == "confirm-promotion":
        status = 200 if verdict == "pass" else 403
    else:  # rollback: 200 tells Flagger to roll back
        status = 200 if verdict == "fail" else 403
    return _flagger(status, hook, f"verdict {verdict}", result.to_dict())


def _flagger(
    status: int, hook: str, message: str, analysis: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"hook": hook, "message": message, "analysis": analysis}, status_code=status
    )
