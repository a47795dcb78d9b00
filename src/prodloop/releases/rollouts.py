"""The rollout controller: canary steps, analysis, promotion and rollback.

`advance_rollouts(engine, config, now)` runs once per loop tick. For every rollout under
way it rolls back at once when a page fires on the service; when an analysis is due it
gathers the canary's and the stable version's requests over the same window (raw
events, so latencies are exact) and asks the judge; an analysis that fails on evidence
(a check the data decided) rolls the canary back at once, while one that fails only for
lack of data counts towards `releases.failure_limit`; inconclusive analyses in
a row pause the rollout and notify; a step held for its time whose latest analysis
passed moves to the next weight, and reaching 100 % promotes. Everything lives in the
store, so a restart resumes exactly where the rollout stood. What people do to a rollout
(pause, promote, abort, roll back) is in `releases.control`; the samples and the judge's
call in `releases.analysis`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.config import Config
from prodloop.durations import parse_duration
from prodloop.errors import NotFoundError
from prodloop.releases.analysis import Analysis, Judge, judge_with_policy, observe
from prodloop.releases.deployments import ACTIVE_ROLLOUT_STATES, ConflictError
from prodloop.releases.notify import RolloutNotice, notify_through_routes
from prodloop.releases.routing import write_weights
from prodloop.store.schema import alerts, deployments, rollout_analyses, rollouts

EventKind = Literal[
    "analysis", "step", "promoted", "rolled_back", "aborted", "paused", "inconclusive", "resumed"
]

Notify = Callable[[Connection, Config, RolloutNotice, float], object]


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    """Something the controller (or a person) did to a rollout."""

    kind: EventKind
    rollout_id: int
    service: str
    canary_version: str
    at: float
    weight: float
    reason: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "kind": self.kind,
            "rollout_id": self.rollout_id,
            "service": self.service,
            "canary_version": self.canary_version,
            "at": self.at,
            "weight": self.weight,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Rollout:
    """One row of `rollouts`, with its latest analyses."""

    id: int
    deployment_id: int
    service: str
    canary_version: str
    stable_version: str
    state: str
    steps: tuple[float, ...]
    step_index: int
    weight: float
    hold_s: float
    step_started_at: float
    failed_checks: int
    created_at: float
    updated_at: float
    finished_at: float | None
    reason: dict[str, Any] | None
    analyses: tuple[dict[str, Any], ...] = field(default=())

    @property
    def is_active(self) -> bool:
        """Still under way: progressing, paused or paused as inconclusive."""
        return self.state in ACTIVE_ROLLOUT_STATES

    @property
    def progress(self) -> float:
        """Share of the ramp done, 0-1 (1 once promoted)."""
        if self.state == "promoted":
            return 1.0
        return min(1.0, self.weight / 100.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "deployment_id": self.deployment_id,
            "service": self.service,
            "canary_version": self.canary_version,
            "stable_version": self.stable_version,
            "state": self.state,
            "steps": list(self.steps),
            "step_index": self.step_index,
            "weight": self.weight,
            "hold_s": self.hold_s,
            "step_started_at": self.step_started_at,
            "failed_checks": self.failed_checks,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "reason": self.reason,
            "analyses": list(self.analyses),
        }


def rollout_from_row(row: RowMapping, analyses: Sequence[dict[str, Any]] = ()) -> Rollout:
    return Rollout(
        id=int(row["id"]),
        deployment_id=int(row["deployment_id"]),
        service=row["service"],
        canary_version=row["canary_version"],
        stable_version=row["stable_version"],
        state=row["state"],
        steps=tuple(float(s) for s in json.loads(row["steps"])),
        step_index=int(row["step_index"]),
        weight=float(row["weight"]),
        hold_s=float(row["hold_s"]),
        step_started_at=float(row["step_started_at"]),
        failed_checks=int(row["failed_checks"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        finished_at=row["finished_at"],
        reason=json.loads(row["reason"]) if row["reason"] else None,
        analyses=tuple(analyses),
    )


def _analyses(conn: Connection, rollout_id: int, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(rollout_analyses)
        .where(rollout_analyses.c.rollout_id == rollout_id)
        .order_by(rollout_analyses.c.id.desc())
        .limit(limit)
    ).mappings()
    return [
        {
            "at": row["at"],
            "step_index": row["step_index"],
            "weight": row["weight"],
            "verdict": row["verdict"],
            "checks": json.loads(row["checks"]),
        }
        for row in rows
    ]


def get_rollout(engine: Engine, service: str, *, analyses: int = 10) -> Rollout:
    """The service's latest rollout (under way or finished), with its latest analyses."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(rollouts)
                .where(rollouts.c.service == service)
                .order_by(rollouts.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(f"service '{service}' has no rollout", field="service")
        return rollout_from_row(row, _analyses(conn, int(row["id"]), analyses))


def list_rollouts(engine: Engine, *, service: str | None = None, limit: int = 50) -> list[Rollout]:
    """Rollouts, newest first."""
    query = select(rollouts).order_by(rollouts.c.id.desc()).limit(limit)
    if service is not None:
        query = query.where(rollouts.c.service == service)
    with engine.connect() as conn:
        return [rollout_from_row(row) for row in conn.execute(query).mappings()]


class _Controller:
    """One tick's work on the rollouts under way."""

    def __init__(
        self, conn: Connection, config: Config, now: float, judge: Judge, notify: Notify
    ) -> None:
        self.conn = conn
        self.config = config
        self.now = now
        self.judge = judge
        self.notify = notify
        self.events: list[RolloutEvent] = []
        self.interval_s = parse_duration(config.releases.analysis_interval)

    def run(self) -> list[RolloutEvent]:
        rows = self.conn.execute(
            select(rollouts).where(rollouts.c.state == "progressing").order_by(rollouts.c.id)
        ).mappings()
        for row in list(rows):
            self._advance(rollout_from_row(row))
        return self.events

    def _advance(self, rollout: Rollout) -> None:
        page = self._firing_page(rollout) if self.config.releases.rollback_on_page else None
        if page is not None:
            finish(self.conn, self.config, rollout, "rolled_back", page, self.now, self.notify)
            self.events.append(_event("rolled_back", rollout, self.now, page))
            return
        recent = _analyses(self.conn, rollout.id, self.config.releases.inconclusive_limit)
        last_at = recent[0]["at"] if recent else rollout.created_at
        # Only analyses since the step (re)started count for it.
        recent = [a for a in recent if a["at"] > rollout.step_started_at]
        if self.now - last_at >= self.interval_s:
            analysis = self._analyse(rollout, look=self._looks(rollout) + 1)
            recent.insert(0, {"at": self.now, "step_index": rollout.step_index,
                              "verdict": analysis.result})  # fmt: skip
            if self._decide(rollout, analysis, recent):
                return
        latest = recent[0] if recent else None
        is_held = self.now - rollout.step_started_at >= rollout.hold_s
        if (
            is_held
            and latest is not None
            and latest["step_index"] == rollout.step_index
            and latest["verdict"] == "pass"
        ):
            self._next_step(rollout)

    def _looks(self, rollout: Rollout) -> int:
        count = self.conn.execute(
            select(func.count()).where(rollout_analyses.c.rollout_id == rollout.id)
        ).scalar_one()
        return int(count)

    def _firing_page(self, rollout: Rollout) -> dict[str, Any] | None:
        row = (
            self.conn.execute(
                select(alerts)
                .where(
                    alerts.c.service == rollout.service,
                    alerts.c.state == "firing",
                    alerts.c.severity == "page",
                    alerts.c.fired_at >= rollout.created_at,
                )
                .order_by(alerts.c.id)
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return {
            "kind": "page",
            "alert_id": int(row["id"]),
            "alertname": row["alertname"],
            "value": row["value"],
            "threshold": row["threshold"],
            "summary": row["summary"],
        }

    def _analyse(self, rollout: Rollout, *, look: int) -> Analysis:
        # Both versions over the same window: everything since the rollout began.
        canary = observe(
            self.conn, rollout.service, rollout.canary_version, rollout.created_at, self.now
        )
        stable = observe(
            self.conn, rollout.service, rollout.stable_version, rollout.created_at, self.now
        )
        analysis = self.judge(self.config, rollout.service, canary, stable, look)
        self.conn.execute(
            rollout_analyses.insert().values(
                rollout_id=rollout.id,
                at=self.now,
                step_index=rollout.step_index,
                weight=rollout.weight,
                verdict=analysis.result,
                checks=json.dumps(list(analysis.checks), default=str),
            )
        )
        self.events.append(
            _event("analysis", rollout, self.now, {"verdict": analysis.result, "look": look})
        )
        return analysis

    def _decide(self, rollout: Rollout, analysis: Analysis, recent: list[dict[str, Any]]) -> bool:
        """Act on a verdict; True when the rollout is no longer progressing."""
        releases = self.config.releases
        if analysis.result == "fail":
            failed = rollout.failed_checks + 1
            self.conn.execute(
                update(rollouts)
                .where(rollouts.c.id == rollout.id)
                .values(failed_checks=failed, updated_at=self.now)
            )
            if analysis.is_failed_on_evidence or failed >= releases.failure_limit:
                reason = {
                    "kind": "analysis",
                    "on_evidence": analysis.is_failed_on_evidence,
                    "failed_analyses": failed,
                    "failure_limit": releases.failure_limit,
                    "checks": [c for c in analysis.checks if c.get("result") == "fail"]
                    or list(analysis.checks),
                }
                finish(self.conn, self.config, rollout, "rolled_back", reason, self.now,
                       self.notify)  # fmt: skip
                self.events.append(_event("rolled_back", rollout, self.now, reason))
                return True
            return False
        if analysis.result == "inconclusive":
            streak = 0
            for item in recent:
                if item["verdict"] != "inconclusive":
                    break
                streak += 1
            if streak >= releases.inconclusive_limit:
                reason = {
                    "kind": "inconclusive",
                    "analyses": streak,
                    "checks": list(analysis.checks),
                }
                self._pause_inconclusive(rollout, reason)
                return True
        return False

    def _pause_inconclusive(self, rollout: Rollout, reason: dict[str, Any]) -> None:
        self.conn.execute(
            update(rollouts)
            .where(rollouts.c.id == rollout.id)
            .values(state="inconclusive", reason=json.dumps(reason), updated_at=self.now)
        )
        summary = (
            f"rollout of {rollout.service} {rollout.canary_version} paused at "
            f"{rollout.weight:g}%: {reason['analyses']} inconclusive analyses in a row; "
            f"`prodloop rollout resume|promote|abort {rollout.service}`"
        )
        notice = RolloutNotice(
            "CanaryPaused",
            rollout.service,
            rollout.canary_version,
            rollout.stable_version,
            summary,
            reason,
        )
        self.notify(self.conn, self.config, notice, self.now)
        self.events.append(_event("inconclusive", rollout, self.now, reason))

    def _next_step(self, rollout: Rollout) -> None:
        index = rollout.step_index + 1
        if index >= len(rollout.steps) or rollout.steps[index] >= 100.0:
            finish(self.conn, self.config, rollout, "promoted", None, self.now, self.notify)
            self.events.append(_event("promoted", rollout, self.now))
            return
        weight = rollout.steps[index]
        self.conn.execute(
            update(rollouts)
            .where(rollouts.c.id == rollout.id)
            .values(step_index=index, weight=weight, step_started_at=self.now, updated_at=self.now)
        )
        write_weights(
            self.conn,
            rollout.service,
            {rollout.stable_version: 100.0 - weight, rollout.canary_version: weight},
            self.now,
        )
        self.events.append(_event("step", rollout, self.now, {"weight": weight}))


def _event(
    kind: EventKind, rollout: Rollout, now: float, reason: dict[str, Any] | None = None
) -> RolloutEvent:
    weight = float(reason["weight"]) if reason and "weight" in reason else rollout.weight
    return RolloutEvent(kind, rollout.id, rollout.service, rollout.canary_version, now, weight,
                        reason)  # fmt: skip


def advance_rollouts(
    engine: Engine,
    config: Config,
    now: float,
    *,
    judge: Judge = judge_with_policy,
    notify: Notify = notify_through_routes,
) -> list[RolloutEvent]:
    """Move every progressing rollout on for `now`; what happened, in order."""
    with engine.begin() as conn:
        return _Controller(conn, config, now, judge, notify).run()


def _summary(rollout: Rollout, state: str, reason: dict[str, Any] | None) -> str:
    what = f"{rollout.service} {rollout.canary_version}"
    why = ""
    if reason is not None:
        kind = reason.get("kind")
        if kind == "page":
            why = f": page {reason.get('alertname')} fired ({reason.get('summary')})"
        elif kind == "analysis":
            metrics = ", ".join(str(c.get("metric")) for c in reason.get("checks", []))
            why = f": {reason.get('failed_analyses')} failed analyses ({metrics})"
        elif kind == "manual":
            why = f": by {reason.get('by')}"
    verb = "rolled back" if state == "rolled_back" else state
    return (
        f"canary {what} {verb} at {rollout.weight:g}%{why}; "
        f"all traffic is back on {rollout.stable_version}"
    )


def finish(
    conn: Connection,
    config: Config,
    rollout: Rollout,
    state: Literal["promoted", "rolled_back", "aborted"],
    reason: dict[str, Any] | None,
    now: float,
    notify: Notify | None = notify_through_routes,
) -> None:
    """End a rollout: weights, roles, the deployment's status, and a notice on rollback."""
    claimed = conn.execute(
        update(rollouts)
        .where(rollouts.c.id == rollout.id, rollouts.c.state.in_(ACTIVE_ROLLOUT_STATES))
        .values(
            state=state,
            weight=100.0 if state == "promoted" else 0.0,
            finished_at=now,
            updated_at=now,
            reason=json.dumps(reason, default=str) if reason is not None else None,
        )
    )
    if claimed.rowcount != 1:
        raise ConflictError(f"the rollout of '{rollout.service}' has already finished")
    canary, stable = rollout.canary_version, rollout.stable_version
    if state == "promoted":
        write_weights(conn, rollout.service, {canary: 100.0}, now,
                      roles={canary: "stable", stable: "retired"})  # fmt: skip
        conn.execute(
            update(deployments)
            .where(deployments.c.service == rollout.service, deployments.c.status == "live")
            .values(status="superseded")
        )
        conn.execute(
            update(deployments)
            .where(deployments.c.id == rollout.deployment_id)
            .values(status="live", live_at=now)
        )
        return
    write_weights(conn, rollout.service, {stable: 100.0}, now,
                  roles={canary: "retired", stable: "stable"})  # fmt: skip
    conn.execute(
        update(deployments)
        .where(deployments.c.id == rollout.deployment_id)
        .values(status=state, reason=json.dumps(reason, default=str) if reason else None)
    )
    if notify is not None:
        alertname = "CanaryRolledBack" if state == "rolled_back" else "CanaryAborted"
        notice = RolloutNotice(
            alertname, rollout.service, canary, stable, _summary(rollout, state, reason),
            reason or {},
        )  # fmt: skip
        notify(conn, config, notice, now)


def active_rollout(conn: Connection, service: str) -> Rollout:
    """The service's rollout under way; NotFoundError when there is none."""
    row = (
        conn.execute(
            select(rollouts).where(
                rollouts.c.service == service, rollouts.c.state.in_(ACTIVE_ROLLOUT_STATES)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"no rollout of '{service}' is under way", field="service")
    return rollout_from_row(row)


def set_state(conn: Connection, rollout: Rollout, state: str, now: float, **extra: Any) -> None:
    """Move a rollout to `state` (and set any other columns given)."""
    conn.execute(
        update(rollouts)
        .where(rollouts.c.id == rollout.id)
        .values(state=state, updated_at=now, **extra)
    )
