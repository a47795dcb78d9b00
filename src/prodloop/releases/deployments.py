"""Deployments: a new version registered, checked, and handed to the rollout controller.

A deploy is refused, with nothing changed, when the service is unknown, the version is
already live, another rollout of the service is under way, the steps are not a ramp to
100 %, the upstream does not answer, or the artifact's signature does not verify (or is
missing when the service requires one, see `releases.signing`). Every deployment is kept
as history with its git SHA, merge time, artifact digest and who deployed it, so
merge → live lead time can be computed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.config import Config
from prodloop.config.releases import check_steps
from prodloop.durations import parse_duration
from prodloop.errors import NotFoundError, ProdloopError, ValidationError
from prodloop.releases.routing import seed_service, service_routes, stable_version, write_weights
from prodloop.releases.signing import PUBLIC_KEY_ENV, check_deploy_signature
from prodloop.store.schema import deployments, rollouts, service_versions

ACTIVE_ROLLOUT_STATES = ("progressing", "paused", "inconclusive")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")
_ENV_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# (upstream base URL, timeout) -> None, or raises ValidationError
Probe = Callable[[str, float], None]


class ConflictError(ProdloopError):
    """The request is well formed but the service's state forbids it (409)."""

    status_code = 409


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """What `prodloop deploy` and POST /api/v1/deployments ask for."""

    service: str
    version: str
    upstream: str
    deployed_by: str
    api_key_env: str | None = None
    steps: Sequence[float] | None = None  # default: releases.steps
    hold_s: float | None = None  # default: releases.hold
    git_sha: str | None = None
    merged_at: float | None = None
    artifact: bytes | None = None
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    """One deployment as history keeps it."""

    id: int
    service: str
    version: str
    upstream: str
    previous_version: str | None
    git_sha: str | None
    merged_at: float | None
    artifact_digest: str | None
    is_signature_verified: bool
    deployed_by: str
    created_at: float
    live_at: float | None
    status: str
    reason: dict[str, Any] | None = field(default=None)

    @property
    def lead_time_s(self) -> float | None:
        """Merge → live, in seconds (the guide's target is ≤ 30 min)."""
        if self.merged_at is None or self.live_at is None:
            return None
        return self.live_at - self.merged_at

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "service": self.service,
            "version": self.version,
            "upstream": self.upstream,
            "previous_version": self.previous_version,
            "git_sha": self.git_sha,
            "merged_at": self.merged_at,
            "artifact_digest": self.artifact_digest,
            "is_signature_verified": self.is_signature_verified,
            "deployed_by": self.deployed_by,
            "created_at": self.created_at,
            "live_at": self.live_at,
            "lead_time_s": self.lead_time_s,
            "status": self.status,
            "reason": self.reason,
        }


def deployment_from_row(row: RowMapping) -> Deployment:
    """A `deployments` row as a Deployment."""
    return Deployment(
        id=int(row["id"]),
        service=row["service"],
        version=row["version"],
        upstream=row["upstream"],
        previous_version=row["previous_version"],
        git_sha=row["git_sha"],
        merged_at=row["merged_at"],
        artifact_digest=row["artifact_digest"],
        is_signature_verified=bool(row["is_signature_verified"]),
        deployed_by=row["deployed_by"],
        created_at=row["created_at"],
        live_at=row["live_at"],
        status=row["status"],
        reason=json.loads(row["reason"]) if row["reason"] else None,
    )


def probe_upstream(upstream: str, timeout_s: float) -> None:
    """GET {upstream}/models: any HTTP answer shows the version is up; no answer refuses."""
    try:
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            client.get(upstream.rstrip("/") + "/models")
    except httpx.HTTPError as exc:
        raise ValidationError(
            f"the upstream {upstream} does not answer ({type(exc).__name__}: {exc}); "
            "no traffic was moved",
            field="upstream",
        ) from exc


def public_key_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The verifying key in PRODLOOP_SIGNING_PUBLIC_KEY, or None when it is not set."""
    environ = os.environ if environ is None else environ
    return environ.get(PUBLIC_KEY_ENV, "").strip() or None


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value or ""):
        raise ValidationError(
            f"{what} must be 1-128 letters, digits or . _ : + - (got {value!r})", field=what
        )
    return value


def _check_upstream(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url or ""):
        raise ValidationError(f"must be an http:// or https:// URL (got {url!r})", field="upstream")
    return url.rstrip("/")


def _check_steps(steps: Sequence[float]) -> list[float]:
    try:
        return check_steps([float(step) for step in steps])
    except ValueError as exc:
        raise ValidationError(str(exc), field="steps") from exc


def active_rollout_id(conn: Connection, service: str) -> int | None:
    """The id of the service's rollout under way, if any."""
    row = conn.execute(
        select(rollouts.c.id).where(
            rollouts.c.service == service, rollouts.c.state.in_(ACTIVE_ROLLOUT_STATES)
        )
    ).first()
    return int(row[0]) if row is not None else None


def register_deployment(
    engine: Engine,
    config: Config,
    request: DeployRequest,
    now: float,
    *,
    probe: Probe = probe_upstream,
    public_key: str | None = None,
) -> Deployment:
    """Validate a deploy, then record it and start its rollout at the first step.

    Every check runs before anything is written: a refused deploy changes nothing.
    """
    service = request.service
    if service not in config.services:
        known = ", ".join(sorted(config.services)) or "none are configured"
        raise NotFoundError(f"unknown service '{service}' ({known})", field="service")
    _check_name(request.version, "version")
    if not request.deployed_by.strip():
        raise ValidationError("say who deploys", field="by")
    if request.api_key_env is not None and not _ENV_REF.match(request.api_key_env):
        raise ValidationError(
            "the name of an environment variable, e.g. OPENAI_API_KEY", field="api_key_env"
        )
    upstream = _check_upstream(request.upstream)
    releases = config.releases
    steps = _check_steps(request.steps if request.steps is not None else releases.steps)
    hold_s = request.hold_s if request.hold_s is not None else parse_duration(releases.hold)
    if hold_s < 0:
        raise ValidationError("the hold cannot be negative", field="hold")
    signed = check_deploy_signature(
        config.services[service],
        request.artifact,
        request.signature,
        public_key,
        service_name=f"service '{service}'",
    )
    with engine.connect() as conn:
        _check_state(conn, config, request)
    probe(upstream, releases.probe_timeout_s)

    with engine.begin() as conn:
        _check_state(conn, config, request)  # again, inside the write transaction
        seed_service(conn, config, service, now)
        stable = stable_version(conn, service)
        assert stable is not None  # seeded above
        _upsert_canary(conn, request, upstream, now)
        result = conn.execute(
            deployments.insert().values(
                service=service,
                version=request.version,
                upstream=upstream,
                previous_version=stable,
                git_sha=request.git_sha,
                merged_at=request.merged_at,
                artifact_digest=signed.digest,
                signature=signed.signature,
                is_signature_verified=signed.is_verified,
                deployed_by=request.deployed_by,
                created_at=now,
                status="rolling_out",
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        deployment_id = int(key[0])
        first = steps[0]
        conn.execute(
            rollouts.insert().values(
                deployment_id=deployment_id,
                service=service,
                canary_version=request.version,
                stable_version=stable,
                state="progressing",
                steps=json.dumps(steps),
                step_index=0,
                weight=first,
                hold_s=hold_s,
                step_started_at=now,
                failed_checks=0,
                created_at=now,
                updated_at=now,
            )
        )
        write_weights(conn, service, {stable: 100.0 - first, request.version: first}, now)
        row = conn.execute(select(deployments).where(deployments.c.id == deployment_id))
        return deployment_from_row(row.mappings().one())


def _check_state(conn: Connection, config: Config, request: DeployRequest) -> None:
    service = request.service
    if active_rollout_id(conn, service) is not None:
        raise ConflictError(
            f"a rollout of '{service}' is under way: wait for it, or `prodloop rollout abort "
            f"{service}`",
            field="service",
        )
    routes = service_routes(conn, service)
    stable = stable_version(conn, service) if routes else config.services[service].stable
    if request.version == stable:
        raise ConflictError(f"version '{request.version}' is already live", field="version")


def _upsert_canary(conn: Connection, request: DeployRequest, upstream: str, now: float) -> None:
    api_key_ref = f"${{{request.api_key_env}}}" if request.api_key_env else None
    existing = service_routes(conn, request.service).get(request.version)
    values = {"upstream": upstream, "api_key_ref": api_key_ref, "role": "canary", "weight": 0.0}
    if existing is None:
        conn.execute(
            service_versions.insert().values(
                service=request.service,
                version=request.version,
                created_at=now,
                updated_at=now,
                **values,
            )
        )
    else:  # redeploying a retired version: its upstream may have moved
        conn.execute(
            update(service_versions)
            .where(
                service_versions.c.service == request.service,
                service_versions.c.version == request.version,
            )
            .values(updated_at=now, **values)
        )


def list_deployments(
    engine: Engine, *, service: str | None = None, limit: int = 100
) -> list[Deployment]:
    """Deployments, newest first."""
    query = select(deployments).order_by(deployments.c.id.desc()).limit(limit)
    if service is not None:
        query = query.where(deployments.c.service == service)
    with engine.connect() as conn:
        return [deployment_from_row(row) for row in conn.execute(query).mappings()]


def get_deployment(conn: Connection, deployment_id: int) -> Deployment:
    """One deployment by id."""
    row = conn.execute(select(deployments).where(deployments.c.id == deployment_id)).first()
    if row is None:
        raise NotFoundError(f"no deployment {deployment_id}", field="deployment")
    return deployment_from_row(row._mapping)
