"""The launch: sign-offs, declaring GA, where the launch stands, and the launch post.

`declare_ga` refuses, changing nothing, until the checklist passes; then it serves the
launch flag's "on" variant to 100 % (through the flags store, audited) and starts the
watch that `launch_watch.run_launch_watch` advances every tick. A clean watch writes
`<launch.post_dir>/launch_<date>.md`, the post announcing v1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.durations import parse_duration
from prodloop.errors import NotFoundError, ProdloopError, ValidationError
from prodloop.releases.flags.store import get_flag, set_rollout
from prodloop.reviews.checklist import (
    Checklist,
    check_launch,
    format_hours,
    format_indicator,
    format_time,
    latest_deployment,
    launch_service,
    service_window,
)
from prodloop.reviews.launch_events import (
    LaunchEvent,
    Watch,
    latest_watch,
    read_events,
    record_event,
)
from prodloop.slo.indicators import indicator_value
from prodloop.store.schema import launch_signoffs, rollout_analyses, rollouts


class LaunchNotReady(ProdloopError):
    """declare-ga was asked while the checklist fails; carries the checklist."""

    status_code = 409

    def __init__(self, checklist: Checklist) -> None:
        names = ", ".join(line.name for line in checklist.failing)
        super().__init__(f"the launch checklist fails: {names}", field="checklist")
        self.checklist = checklist


class LaunchConflict(ProdloopError):
    """GA is already declared (its watch running or passed)."""

    status_code = 409


@dataclass(frozen=True, slots=True)
class Signoff:
    """One stakeholder's sign-off."""

    by: str
    role: str
    note: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"by": self.by, "role": self.role, "note": self.note, "at": self.at}


@dataclass(frozen=True, slots=True)
class LaunchStatus:
    """Where the launch stands: not_declared, watching, watch_failed or ga."""

    stage: str
    summary: str
    signoffs: tuple[Signoff, ...]
    events: tuple[LaunchEvent, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "stage": self.stage,
            "summary": self.summary,
            "signoffs": [signoff.to_dict() for signoff in self.signoffs],
            "events": [event.to_dict() for event in self.events],
        }


def record_signoff(
    engine: Engine, config: Config, *, by: str, role: str, note: str = "", now: float
) -> Signoff:
    """Record that `by` signed off on the launch checklist as `role` (a required role)."""
    roles = config.launch.required_signoffs
    if role not in roles:
        known = ", ".join(roles) or "none are configured"
        raise ValidationError(f"unknown role '{role}' (roles: {known})", field="role")
    if not by.strip():
        raise ValidationError("say who signs off", field="by")
    signoff = Signoff(by=by.strip(), role=role, note=note, at=now)
    with engine.begin() as conn:
        conn.execute(insert(launch_signoffs).values(**signoff.to_dict()))
    return signoff


def list_signoffs(engine: Engine) -> list[Signoff]:
    """Every sign-off, oldest first."""
    c = launch_signoffs.c
    query = select(c.by, c.role, c.note, c.at).order_by(c.at, c.id)
    with engine.connect() as conn:
        return [
            Signoff(by, role, note or "", float(at)) for by, role, note, at in conn.execute(query)
        ]


@dataclass(frozen=True, slots=True)
class GaResult:
    """What declare-ga did."""

    at: float
    flag: str
    flag_revision: int
    watch_until: float
    checklist: Checklist

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "at": self.at,
            "flag": self.flag,
            "flag_revision": self.flag_revision,
            "watch_until": self.watch_until,
            "checklist": self.checklist.to_dict(),
        }


def declare_ga(engine: Engine, config: Config, now: float, by: str) -> GaResult:
    """Flip the launch flag to 100 % and start the watch, once the checklist passes.

    Refused with nothing changed when the checklist fails (LaunchNotReady names the
    lines), when the flag does not exist, or when GA is already declared and its watch has
    not failed.
    """
    if not by.strip():
        raise ValidationError("say who declares GA", field="by")
    watch = latest_watch(read_events(engine))
    if watch is not None and (watch.is_running or _passed(watch)):
        what = "its watch is running" if watch.is_running else "its watch passed"
        raise LaunchConflict(f"GA was declared at {format_time(watch.started.at)}; {what}")
    checklist = check_launch(engine, config, now)
    if not checklist.ok:
        raise LaunchNotReady(checklist)
    key = config.launch.flag
    try:
        get_flag(engine, key)
    except NotFoundError:
        raise ValidationError(
            f"no flag '{key}': create it with `prodloop flags create {key}`, or set launch.flag",
            field="launch.flag",
        ) from None
    flag = set_rollout(engine, key, 100.0, by=by, now=now)
    until = now + parse_duration(config.launch.watch)
    with engine.begin() as conn:
        declared = {"flag": key, "revision": flag.revision, "checklist": checklist.to_dict()}
        record_event(conn, "ga_declared", now, by=by, data=declared)
        record_event(conn, "watch_started", now, by=by, data={"until": until})
    return GaResult(now, key, flag.revision, until, checklist)


def _passed(watch: Watch) -> bool:
    return watch.ended is not None and watch.ended.kind == "watch_passed"


def launch_status(engine: Engine, config: Config, now: float) -> LaunchStatus:
    """Where the launch stands at `now`, with the sign-offs and the timeline."""
    events = read_events(engine)
    signoffs = tuple(list_signoffs(engine))
    watch = latest_watch(events)
    if watch is None:
        signed = {signoff.role for signoff in signoffs}
        missing = [role for role in config.launch.required_signoffs if role not in signed]
        summary = "GA not declared" + (
            f"; sign-offs missing: {', '.join(missing)}" if missing else "; every role signed off"
        )
        return LaunchStatus("not_declared", summary, signoffs, tuple(events))
    started = watch.started.at
    if watch.ended is None:
        left = max(0.0, watch.until - now)
        summary = (
            f"GA declared {format_time(started)}; watching until {format_time(watch.until)} "
            f"({format_hours(left)} left)"
        )
        return LaunchStatus("watching", summary, signoffs, tuple(events))
    if watch.ended.kind == "watch_failed":
        reason = watch.ended.data.get("reason", "")
        revert = watch.ended.data.get("revert", f"prodloop flags kill {config.launch.flag}")
        summary = (
            f"the watch after GA ({format_time(started)}) failed: {reason}; the flag still "
            f"serves 100 %: `{revert}` turns it off, `prodloop launch declare-ga` retries"
        )
        return LaunchStatus("watch_failed", summary, signoffs, tuple(events))
    posts = [event for event in events if event.kind == "post_written" and event.at >= started]
    where = f"; launch post {posts[-1].data.get('path')}" if posts else ""
    summary = f"GA since {format_time(started)}; watch passed {format_time(watch.ended.at)}{where}"
    return LaunchStatus("ga", summary, signoffs, tuple(events))


def launch_post(engine: Engine, config: Config, watch: Watch, now: float) -> str:
    """The Markdown of the launch post: v1 is live, the links, the launch figures."""
    settings = config.launch
    service = launch_service(config)
    zone = config.reviews.time_zone
    start, end = watch.started.at, min(now, watch.until)
    day = datetime.fromtimestamp(start, ZoneInfo(zone)).date().isoformat()
    lines = [
        f"# {service} v1 is generally available",
        "",
        f"*{day}* — after a beta in staging, a canary release and a {settings.watch} watch "
        f"without a page or a serious incident, {service} v1 is open to everyone.",
        "",
        "## Where to go",
        "",
    ]
    links = [
        ("Documentation", settings.docs_url),
        ("Status page", settings.status_url),
        ("Feedback", settings.feedback_url),
    ]
    lines += [f"- **{label}:** <{url}>" for label, url in links if url]
    if not any(url for _, url in links):
        lines.append("- (no links configured: set launch.docs_url, status_url, feedback_url)")
    watched = f"{format_time(start, zone)} → {format_time(end, zone)}"
    lines += ["", f"## The launch watch ({watched})", ""]
    aggregate = service_window(engine, service, start, end)
    lines.append(f"- Requests served: {aggregate.count}")
    for slo in config.slos.objectives:
        if slo.applies_to(service):
            lines.append(f"- {format_indicator(slo, indicator_value(slo, aggregate))}")
    lines += ["", "## How it shipped", ""]
    with engine.connect() as conn:
        deployment = latest_deployment(conn, service)
        if deployment is None:
            lines.append("- No deployment recorded.")
        else:
            row = conn.execute(
                select(rollouts.c.id, rollouts.c.steps)
                .where(rollouts.c.deployment_id == deployment.id)
                .order_by(rollouts.c.id.desc())
            ).first()
            analyses = 0
            steps = ""
            if row is not None:
                steps = " → ".join(f"{float(step):g}" for step in json.loads(row[1]))
                analyses = len(
                    conn.execute(
                        select(rollout_analyses.c.id).where(
                            rollout_analyses.c.rollout_id == row[0],
                            rollout_analyses.c.verdict == "pass",
                        )
                    ).all()
                )
            lines.append(
                f"- Canary: version {deployment.version} ramped through {steps or 'its steps'} %"
                f" with {analyses} passing {'analysis' if analyses == 1 else 'analyses'},"
                " then promoted to 100 %"
            )
            lead = deployment.lead_time_s
            if lead is not None:
                lines.append(f"- Merge → production: {format_hours(lead)}")
    lines += [
        "",
        "Tell us what works and what does not"
        + (f" at <{settings.feedback_url}>." if settings.feedback_url else "."),
        "",
    ]
    return "\n".join(lines)


def write_launch_post(engine: Engine, config: Config, watch: Watch, now: float) -> Path:
    """Write the launch post to `<launch.post_dir>/launch_<date>.md` (the GA day)."""
    day = datetime.fromtimestamp(watch.started.at, ZoneInfo(config.reviews.time_zone))
    path = Path(config.launch.post_dir) / f"launch_{day.date().isoformat()}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(launch_post(engine, config, watch, now), encoding="utf-8")
    return path
