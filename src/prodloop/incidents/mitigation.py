"""Mitigation: roll back what most likely caused the incident, or propose it.

When an incident opens on a service:

* a rollout under way is rolled back (``incidents.rollback_rollouts``; the rollout
  controller may already have done it for the page, which is then recorded);
* otherwise a deployment that went live within ``incidents.recent_deploy_window`` before
  detection is a suspect: policy ``auto`` rolls back to the previous stable version,
  ``suggest`` records the proposal on the timeline for a person to act on.

`mitigate_by_rollback` is the same rollback by hand (`prodloop incident mitigate --rollback`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.alerting.acks import check_actor
from prodloop.config import Config, duration_s
from prodloop.errors import ProdloopError
from prodloop.incidents.lifecycle import (
    Incident,
    IncidentStateError,
    get_incident,
    set_once,
)
from prodloop.incidents.timeline import record, recorded_keys
from prodloop.releases.control import RollbackResult, rollback
from prodloop.releases.deployments import ACTIVE_ROLLOUT_STATES
from prodloop.store.schema import deployments, rollouts


@dataclass(frozen=True, slots=True)
class Mitigation:
    """What mitigation did (or proposed) for an incident."""

    incident_id: int
    action: str  # rolled_back | proposed | recorded | none | failed
    detail: str
    rollback: RollbackResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "incident_id": self.incident_id,
            "action": self.action,
            "detail": self.detail,
            "rollback": self.rollback.to_dict() if self.rollback else None,
        }


def _record_rollback(
    engine: Engine, incident: Incident, result: RollbackResult, now: float, actor: str, why: str
) -> None:
    with engine.begin() as conn:
        set_once(conn, incident.id, "mitigation_started_at", now, now)
        data = {**result.to_dict(), "why": why}
        record(conn, incident.id, now, "mitigation_started",
               f"rolling {result.service} back from {result.from_version} to "
               f"{result.to_version} ({why})", actor=actor, data=data)  # fmt: skip
        set_once(conn, incident.id, "mitigated_at", now, now)
        record(conn, incident.id, now, "mitigation_done",
               f"{result.service} rolled back to {result.to_version}: all traffic is on it",
               actor=actor, data=data)  # fmt: skip


def _already_rolled_back(engine: Engine, incident: Incident, config: Config) -> Mitigation | None:
    """A rollout of the service the controller rolled back since the incident began."""
    since = incident.detected_at - duration_s(config.incidents.impact_window)
    with engine.begin() as conn:
        row = (
            conn.execute(
                select(rollouts)
                .where(
                    rollouts.c.service == incident.service,
                    rollouts.c.state == "rolled_back",
                    rollouts.c.finished_at >= since,
                )
                .order_by(rollouts.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        key = f"rollout:{row['id']}"
        if key in recorded_keys(conn, incident.id, "mitigation_done"):
            return Mitigation(incident.id, "recorded", key)
        at = float(row["finished_at"])
        data = {"key": key, "rollout_id": int(row["id"]), "service": incident.service,
                "from_version": row["canary_version"], "to_version": row["stable_version"],
                "during_rollout": True}  # fmt: skip
        set_once(conn, incident.id, "mitigation_started_at", at, at)
        record(conn, incident.id, at, "mitigation_started",
               f"the rollout controller rolled canary {row['canary_version']} back",
               actor="rollout controller", data=data)  # fmt: skip
        set_once(conn, incident.id, "mitigated_at", at, at)
        record(conn, incident.id, at, "mitigation_done",
               f"all traffic of {incident.service} is back on {row['stable_version']}",
               actor="rollout controller", data=data)  # fmt: skip
    return Mitigation(incident.id, "recorded", f"rollout {row['id']} rolled back")


def _has_active_rollout(engine: Engine, service: str) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            select(rollouts.c.id).where(
                rollouts.c.service == service, rollouts.c.state.in_(ACTIVE_ROLLOUT_STATES)
            )
        ).first()
    return row is not None


def recent_deployment(engine: Engine, config: Config, incident: Incident) -> dict[str, Any] | None:
    """The service's live deployment that went live within the window before detection."""
    window_s = duration_s(config.incidents.recent_deploy_window)
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(deployments)
                .where(
                    deployments.c.service == incident.service,
                    deployments.c.status == "live",
                    deployments.c.previous_version.is_not(None),
                    deployments.c.live_at >= incident.detected_at - window_s,
                    deployments.c.live_at <= incident.detected_at,
                )
                .order_by(deployments.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return dict(row) if row is not None else None


def mitigate_on_open(engine: Engine, config: Config, incident_id: int, now: float) -> Mitigation:
    """The automatic mitigation of a newly opened incident (see the module's docstring)."""
    with engine.connect() as conn:
        incident = get_incident(conn, incident_id)
    actor = f"prodloop (incident {incident.id})"
    done = _already_rolled_back(engine, incident, config)
    if done is not None:
        return done
    if config.incidents.rollback_rollouts and _has_active_rollout(engine, incident.service):
        return _roll_back(engine, config, incident, now, actor, "a rollout was under way")
    suspect = recent_deployment(engine, config, incident)
    if suspect is None:
        return Mitigation(incident.id, "none", "no rollout under way and no recent deployment")
    minutes = (incident.detected_at - float(suspect["live_at"])) / 60
    why = (
        f"{suspect['version']} went live {minutes:.0f} min before detection "
        f"(deployment {suspect['id']})"
    )
    if config.incidents.mitigation == "auto":
        return _roll_back(engine, config, incident, now, actor, why)
    with engine.begin() as conn:
        record(conn, incident.id, now, "mitigation_proposed",
               f"{why}: roll back to {suspect['previous_version']} with `prodloop incident "
               f"mitigate {incident.id} --rollback`",
               data={"deployment_id": int(suspect["id"]), "version": suspect["version"],
                     "previous_version": suspect["previous_version"]})  # fmt: skip
    return Mitigation(incident.id, "proposed", why)


def _roll_back(
    engine: Engine, config: Config, incident: Incident, now: float, actor: str, why: str
) -> Mitigation:
    try:
        result = rollback(engine, config, incident.service, now, by=actor)
    except ProdloopError as exc:
        with engine.begin() as conn:
            record(conn, incident.id, now, "note", f"rollback failed: {exc}", actor=actor)
        return Mitigation(incident.id, "failed", str(exc))
    _record_rollback(engine, incident, result, now, actor, why)
    return Mitigation(incident.id, "rolled_back", why, result)


def mitigate_by_rollback(
    engine: Engine, config: Config, incident_id: int, now: float, *, by: str
) -> Mitigation:
    """Roll the incident's service back to its previous stable version, by hand.

    Raises IncidentStateError for a resolved incident, and the release errors (nothing to
    roll back to) as they are.
    """
    who = check_actor(by, doing="mitigates")
    with engine.connect() as conn:
        incident = get_incident(conn, incident_id, field="id")
    if not incident.is_open:
        raise IncidentStateError(f"incident {incident_id} is resolved", field="id")
    result = rollback(engine, config, incident.service, now, by=who)
    _record_rollback(engine, incident, result, now, who, "by hand")
    return Mitigation(incident.id, "rolled_back", "by hand", result)
