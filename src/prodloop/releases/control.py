"""What people do to a rollout: pause, resume, promote, abort, and roll back at any time."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from prodloop.config import Config
from prodloop.errors import NotFoundError
from prodloop.releases.deployments import ACTIVE_ROLLOUT_STATES, ConflictError
from prodloop.releases.notify import RolloutNotice, notify_through_routes
from prodloop.releases.rollouts import (
    Notify,
    Rollout,
    active_rollout,
    finish,
    get_rollout,
    rollout_from_row,
    set_state,
)
from prodloop.releases.routing import (
    seed_service,
    service_routes,
    stable_version,
    write_weights,
)
from prodloop.store.schema import deployments, rollouts

log = logging.getLogger("prodloop.releases")


def pause_rollout(engine: Engine, service: str, now: float, *, by: str) -> Rollout:
    """Hold the rollout at its weight: no analysis and no step until resumed."""
    with engine.begin() as conn:
        rollout = active_rollout(conn, service)
        if rollout.state == "progressing":
            reason = json.dumps({"kind": "manual", "by": by, "action": "pause"})
            set_state(conn, rollout, "paused", now, reason=reason)
    return get_rollout(engine, service)


def resume_rollout(engine: Engine, service: str, now: float, *, by: str) -> Rollout:
    """Carry on from the current step; its hold and the analysis streak start again."""
    with engine.begin() as conn:
        rollout = active_rollout(conn, service)
        if rollout.state != "progressing":
            # The step starts again: its hold, and the analyses that count for it.
            set_state(conn, rollout, "progressing", now, step_started_at=now, reason=None)
    return get_rollout(engine, service)


def promote_rollout(
    engine: Engine, config: Config, service: str, now: float, *, by: str
) -> Rollout:
    """Skip the remaining steps: the canary takes all the traffic and becomes stable."""
    with engine.begin() as conn:
        rollout = active_rollout(conn, service)
        finish(conn, config, rollout, "promoted", {"kind": "manual", "by": by}, now, None)
    return get_rollout(engine, service)


def abort_rollout(
    engine: Engine, config: Config, service: str, now: float, *, by: str,
    notify: Notify | None = notify_through_routes,
) -> Rollout:  # fmt: skip
    """Stop the rollout: all traffic back on the stable version, the deployment aborted."""
    with engine.begin() as conn:
        rollout = active_rollout(conn, service)
        finish(conn, config, rollout, "aborted", {"kind": "manual", "by": by}, now, notify)
    return get_rollout(engine, service)


@dataclass(frozen=True, slots=True)
class RollbackResult:
    """Where a rollback left the service."""

    service: str
    from_version: str
    to_version: str
    during_rollout: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "service": self.service,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "during_rollout": self.during_rollout,
        }


def rollback(
    engine: Engine,
    config: Config,
    service: str,
    now: float,
    *,
    by: str,
    notify: Notify | None = notify_through_routes,
) -> RollbackResult:
    """Return all traffic to the previous stable version, during a rollout or after one."""
    reason = {"kind": "manual", "by": by}
    with engine.begin() as conn:
        row = (
            conn.execute(
                select(rollouts).where(
                    rollouts.c.service == service, rollouts.c.state.in_(ACTIVE_ROLLOUT_STATES)
                )
            )
            .mappings()
            .first()
        )
        if row is not None:
            rollout = rollout_from_row(row)
            finish(conn, config, rollout, "rolled_back", reason, now, notify)
            return RollbackResult(service, rollout.canary_version, rollout.stable_version, True)
        return _rollback_live(conn, config, service, now, reason, notify)


def _rollback_live(
    conn: Connection,
    config: Config,
    service: str,
    now: float,
    reason: dict[str, Any],
    notify: Notify | None,
) -> RollbackResult:
    current = stable_version(conn, service)
    live = (
        conn.execute(
            select(deployments)
            .where(
                deployments.c.service == service,
                deployments.c.status == "live",
                deployments.c.version == current,
            )
            .order_by(deployments.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if current is None or live is None or not live["previous_version"]:
        if service not in config.services:
            raise NotFoundError(f"unknown service '{service}'", field="service")
        raise ConflictError(
            f"'{service}' has no deployment to roll back from: it runs the version "
            "prodloop.yaml names",
            field="service",
        )
    previous = str(live["previous_version"])
    if previous not in service_routes(conn, service):
        raise ConflictError(f"the previous version '{previous}' is no longer known")
    write_weights(conn, service, {previous: 100.0}, now,
                  roles={previous: "stable", current: "retired"})  # fmt: skip
    conn.execute(
        update(deployments)
        .where(deployments.c.id == live["id"])
        .values(status="rolled_back", reason=json.dumps(reason))
    )
    # The deployment that brought the previous version in is live again.
    conn.execute(
        update(deployments)
        .where(
            deployments.c.service == service,
            deployments.c.version == previous,
            deployments.c.status == "superseded",
        )
        .values(status="live")
    )
    if notify is not None:
        summary = f"{service} rolled back from {current} to {previous} by {reason['by']}"
        notify(conn, config, RolloutNotice("ServiceRolledBack", service, current, previous,
                                           summary, reason), now)  # fmt: skip
    return RollbackResult(service, current, previous, False)


def split_traffic(
    engine: Engine,
    config: Config,
    service: str,
    weights: dict[str, float],
    now: float,
    *,
    by: str,
) -> dict[str, float]:
    """Set a service's traffic split by hand (blue/green, or a manual canary).

    Refused, with nothing changed, while a rollout is under way (the controller owns the
    weights then), when a version is unknown, or when the weights do not sum to 100.
    Roles are unchanged: the stable version stays the one the next canary is judged
    against.
    """
    if service not in config.services:
        raise NotFoundError(f"unknown service '{service}'", field="service")
    with engine.begin() as conn:
        row = conn.execute(
            select(rollouts.c.id).where(
                rollouts.c.service == service, rollouts.c.state.in_(ACTIVE_ROLLOUT_STATES)
            )
        ).first()
        if row is not None:
            raise ConflictError(
                f"a rollout of '{service}' is under way: pause, promote or abort it first",
                field="service",
            )
        seed_service(conn, config, service, now)
        write_weights(conn, service, weights, now)
        log.info("traffic of %s split by %s: %s", service, by, weights)
        return {route.version: route.weight for route in service_routes(conn, service).values()}
