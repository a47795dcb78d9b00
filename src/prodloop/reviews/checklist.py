"""The launch checklist: the guide's prerequisites and acceptance checklist, from data.

Each line is decided from the store and says what it saw (its evidence):

* ``staging`` — the beta ran ≥ `launch.staging_hours` in staging with no P1: the
  `launch.staging_service` has traffic going back at least that long before its latest
  request, and no SEV1 incident (drills aside) on it was open in that window.
* ``success_metric`` — distinct users with the `launch.success_metric.event` analytics
  event ≥ `min_users`.
* ``canary`` — the latest deployment of `launch.service` reached 100 % through a rollout
  the controller promoted after its analyses passed (not a hand promotion, not weights set
  by hand), and its version still serves all the traffic.
* ``slo_green`` — before GA, the last `slo_green_hours` of production; after GA, the first
  `slo_green_hours` after it: no alert of the service was firing in that window and every
  SLO of the service was met over it (a window without traffic is not green).
* ``feedback`` — feedback rows ≥ `launch.min_feedback`.
* ``lead_time`` — that deployment's merge → live time ≤ `launch.max_lead_time`, and no
  server error on the service between the deploy's start and the moment it went live.
* ``runbooks`` — every paging alert rule of the service has a covering runbook (in
  `alerts.runbooks_dir`) whose `last_drilled` is set.
* ``signoffs`` — every role of `launch.required_signoffs` has signed off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from prodloop.alerting.rules import alert_rules
from prodloop.config import Config, Slo
from prodloop.durations import parse_duration
from prodloop.errors import ValidationError
from prodloop.incidents.runbooks import load_runbooks, runbook_for
from prodloop.releases.deployments import Deployment, deployment_from_row
from prodloop.releases.routing import service_routes
from prodloop.reviews.launch_events import ga_declared_at, read_events
from prodloop.slo.budget import is_met, tally
from prodloop.slo.counts import read_segments
from prodloop.slo.indicators import indicator_of, indicator_value
from prodloop.store.schema import (
    alerts,
    analytics_events,
    deployments,
    feedback,
    incidents,
    launch_signoffs,
    request_events,
    rollout_analyses,
    rollouts,
    rollups_hour,
    rollups_minute,
)
from prodloop.telemetry.rollups import MINUTE_S, Aggregate

HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class CheckLine:
    """One line of the checklist: whether it holds, and what the data showed."""

    name: str
    title: str
    ok: bool
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"name": self.name, "title": self.title, "ok": self.ok, "evidence": self.evidence}


@dataclass(frozen=True, slots=True)
class Checklist:
    """Every line at `now`, in the guide's order."""

    now: float
    service: str
    lines: tuple[CheckLine, ...]

    @property
    def ok(self) -> bool:
        """Every line holds."""
        return all(line.ok for line in self.lines)

    @property
    def failing(self) -> list[CheckLine]:
        """The lines that do not hold."""
        return [line for line in self.lines if not line.ok]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "now": self.now,
            "service": self.service,
            "ok": self.ok,
            "lines": [line.to_dict() for line in self.lines],
        }


def launch_service(config: Config) -> str:
    """`launch.service`, or the only configured service."""
    if config.launch.service is not None:
        return config.launch.service
    names = sorted(config.services)
    if len(names) == 1:
        return names[0]
    known = ", ".join(names) or "none are configured"
    raise ValidationError(f"set the production service to launch ({known})", field="launch.service")


def format_time(ts: float, time_zone: str = "UTC") -> str:
    """A moment as people read it: 2026-11-27 18:00 UTC."""
    local = datetime.fromtimestamp(ts, ZoneInfo(time_zone))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or time_zone)


def format_hours(seconds: float) -> str:
    """A span in hours (or minutes when under one): 48.0 h, 21 min."""
    if seconds < HOUR_S:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / HOUR_S:.1f} h"


def format_indicator(slo: Slo, value: float | None) -> str:
    """An SLO's indicator value against its target: 'error_rate 0.20 % ≤ 1.00 %'."""
    indicator = indicator_of(slo)

    def show(number: float) -> str:
        if indicator.unit == "share":
            return f"{number * 100:.2f} %"
        if indicator.unit == "ms":
            return f"{number:.0f} ms"
        return f"${number:.4f}"

    shown = "no data" if value is None else show(value)
    comparator = {"<=": "≤", ">=": "≥"}[indicator.comparator]
    return f"{slo.name}: {indicator.name} {shown} {comparator} {show(indicator.target)}"


def latest_deployment(conn: Connection, service: str) -> Deployment | None:
    """The service's most recent deployment, whatever became of it."""
    row = (
        conn.execute(
            select(deployments)
            .where(deployments.c.service == service)
            .order_by(deployments.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return deployment_from_row(row) if row is not None else None


def service_window(engine: Engine, service: str, start: float, end: float) -> Aggregate:
    """What the service's requests in [start, end) add up to (SLO counters, latency)."""
    if end <= start:
        return Aggregate()
    segment = read_segments(engine, [start, end], service=service)[0]
    return segment.get(service, Aggregate())


def check_launch(engine: Engine, config: Config, now: float) -> Checklist:
    """Evaluate every line of the launch checklist at `now`."""
    service = launch_service(config)
    with engine.connect() as conn:
        deployment = latest_deployment(conn, service)
        lines = (
            _staging(conn, config, now),
            _success_metric(conn, config, now),
            _canary(conn, service, deployment),
            _slo_green(engine, conn, config, service, now),
            _feedback(conn, config, now),
            _lead_time(engine, config, service, deployment),
            _runbooks(config, service),
            _signoffs(conn, config, now),
        )
    return Checklist(now=now, service=service, lines=lines)


def _traffic_span(conn: Connection, service: str, now: float) -> tuple[float, float] | None:
    """First and last moment the service had requests (rollups outlive raw events)."""
    firsts: list[float] = []
    lasts: list[float] = []
    for table, width in ((rollups_hour, HOUR_S), (rollups_minute, float(MINUTE_S))):
        lo, hi = conn.execute(
            select(func.min(table.c.bucket), func.max(table.c.bucket)).where(
                table.c.service == service, table.c.bucket <= now, table.c.count > 0
            )
        ).one()
        if lo is not None:
            firsts.append(float(lo))
            lasts.append(min(float(hi) + width, now))
    lo, hi = conn.execute(
        select(func.min(request_events.c.ts), func.max(request_events.c.ts)).where(
            request_events.c.service == service, request_events.c.ts <= now
        )
    ).one()
    if lo is not None:
        firsts.append(float(lo))
        lasts.append(float(hi))
    if not firsts:
        return None
    return min(firsts), max(lasts)


def incidents_open_in(
    conn: Connection, service: str, severities: tuple[str, ...], start: float, end: float
) -> list[tuple[int, str, str]]:
    """(id, severity, title) of real incidents of `service` open at some time in [start, end]."""
    c = incidents.c
    query = (
        select(c.id, c.severity, c.title)
        .where(
            c.service == service,
            c.severity.in_(severities),
            c.is_drill.is_(False),
            c.detected_at <= end,
            (c.resolved_at.is_(None)) | (c.resolved_at >= start),
        )
        .order_by(c.detected_at)
    )
    return [(int(row[0]), row[1], row[2]) for row in conn.execute(query)]


def alerts_firing_in(
    conn: Connection, service: str, start: float, end: float, *, severity: str | None = None
) -> list[tuple[str, str, float]]:
    """(alertname, severity, fired_at) of the service's alerts firing at some time in
    [start, end]."""
    c = alerts.c
    query = select(c.alertname, c.severity, c.fired_at).where(
        c.service == service,
        c.fired_at.is_not(None),
        c.fired_at <= end,
        (c.resolved_at.is_(None)) | (c.resolved_at > start),
    )
    if severity is not None:
        query = query.where(c.severity == severity)
    return [(row[0], row[1], float(row[2])) for row in conn.execute(query.order_by(c.fired_at))]


def _staging(conn: Connection, config: Config, now: float) -> CheckLine:
    settings = config.launch
    hours = settings.staging_hours
    name, title = "staging", f"Beta ran ≥ {hours:g} h in staging with no P1 (SEV1) incident"
    staging = settings.staging_service
    if staging is None:
        return CheckLine(name, title, False, "no launch.staging_service configured")
    span = _traffic_span(conn, staging, now)
    if span is None:
        return CheckLine(name, title, False, f"no traffic on staging service '{staging}'")
    first, last = span
    start = last - hours * HOUR_S
    ran = f"'{staging}' has traffic from {format_time(first)} to {format_time(last)}"
    if first > start:
        return CheckLine(
            name, title, False, f"{ran}: {format_hours(last - first)}, needs {hours:g} h"
        )
    sev1 = incidents_open_in(conn, staging, ("SEV1",), start, last)
    if sev1:
        found = ", ".join(f"#{number} {text}" for number, _, text in sev1)
        return CheckLine(
            name, title, False, f"{ran}; SEV1 incident in the last {hours:g} h: {found}"
        )
    return CheckLine(
        name, title, True, f"{ran} ({format_hours(last - first)}); no SEV1 incident in the "
        f"last {hours:g} h of it"
    )  # fmt: skip


def _success_metric(conn: Connection, config: Config, now: float) -> CheckLine:
    metric = config.launch.success_metric
    title = f"Success metric ({metric.event}) met by ≥ {metric.min_users} beta users"
    users = conn.execute(
        select(func.count(func.distinct(analytics_events.c.distinct_id))).where(
            analytics_events.c.event == metric.event, analytics_events.c.ts <= now
        )
    ).scalar_one()
    evidence = f"{users} distinct users sent '{metric.event}' (need ≥ {metric.min_users})"
    return CheckLine("success_metric", title, int(users) >= metric.min_users, evidence)


def _canary(conn: Connection, service: str, deployment: Deployment | None) -> CheckLine:
    name, title = "canary", "Production deploy passed its canary and was promoted to 100 %"
    if deployment is None:
        return CheckLine(name, title, False, f"no deployment of '{service}' recorded")
    what = f"deployment #{deployment.id} of {service} {deployment.version}"
    row = (
        conn.execute(
            select(rollouts)
            .where(rollouts.c.deployment_id == deployment.id)
            .order_by(rollouts.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return CheckLine(name, title, False, f"{what} has no rollout")
    state = row["state"]
    if state != "promoted":
        return CheckLine(
            name, title, False, f"{what}: rollout {state} at {float(row['weight']):g} %"
        )
    if row["reason"]:
        # The controller promotes without a reason; a reason means a person skipped the
        # remaining analyses, so the canary was never passed.
        return CheckLine(
            name, title, False, f"{what} was promoted by hand: its canary analysis was skipped"
        )
    passed = conn.execute(
        select(func.count()).where(
            rollout_analyses.c.rollout_id == row["id"], rollout_analyses.c.verdict == "pass"
        )
    ).scalar_one()
    weight = service_routes(conn, service).get(deployment.version)
    serving = weight.weight if weight is not None else 0.0
    if serving < 100.0:
        return CheckLine(
            name, title, False, f"{what} was promoted but now serves {serving:g} % "
            "(weights were changed by hand)"
        )  # fmt: skip
    return CheckLine(
        name, title, True, f"{what} promoted by the rollout controller after {passed} passing "
        f"{'analysis' if passed == 1 else 'analyses'}; it serves 100 %"
    )  # fmt: skip


def _slo_green(
    engine: Engine, conn: Connection, config: Config, service: str, now: float
) -> CheckLine:
    hours = config.launch.slo_green_hours
    name = "slo_green"
    ga_at = ga_declared_at(read_events(engine))
    if ga_at is None:
        title = f"All SLOs green for {hours:g} h (the last {hours:g} h before GA)"
        start, end = now - hours * HOUR_S, now
    else:
        title = f"All SLOs green for the first {hours:g} h after GA"
        start, end = ga_at, min(now, ga_at + hours * HOUR_S)
    if ga_at is not None and now < ga_at + hours * HOUR_S:
        return CheckLine(
            name, title, False, f"only {format_hours(now - ga_at)} since GA at {format_time(ga_at)}"
        )
    window = f"{format_time(start)} → {format_time(end)}"
    fired = alerts_firing_in(conn, service, start, end)
    if fired:
        found = ", ".join(f"{alertname} ({severity})" for alertname, severity, _ in fired)
        return CheckLine(name, title, False, f"alerts fired on {service} over {window}: {found}")
    aggregate = service_window(engine, service, start, end)
    if aggregate.count == 0:
        return CheckLine(name, title, False, f"no traffic on {service} over {window}")
    figures, missed = [], []
    for slo in config.slos.objectives:
        if not slo.applies_to(service):
            continue
        shown = format_indicator(slo, indicator_value(slo, aggregate))
        figures.append(shown)
        if is_met(slo, tally(slo, aggregate)) is False:
            missed.append(shown)
    if missed:
        return CheckLine(name, title, False, f"SLOs missed over {window}: {'; '.join(missed)}")
    return CheckLine(
        name, title, True, f"no alert fired over {window} ({aggregate.count} requests); "
        + "; ".join(figures)
    )  # fmt: skip


def _feedback(conn: Connection, config: Config, now: float) -> CheckLine:
    need = config.launch.min_feedback
    title = f"Feedback mechanism captured ≥ {need} user submissions"
    count = int(conn.execute(select(func.count()).where(feedback.c.created_at <= now)).scalar_one())
    return CheckLine("feedback", title, count >= need, f"{count} submissions (need ≥ {need})")


def _lead_time(
    engine: Engine, config: Config, service: str, deployment: Deployment | None
) -> CheckLine:
    limit_s = parse_duration(config.launch.max_lead_time)
    name = "lead_time"
    title = (
        f"Merge → production ≤ {config.launch.max_lead_time} with zero failed requests "
        "during the deploy"
    )
    if deployment is None:
        return CheckLine(name, title, False, f"no deployment of '{service}' recorded")
    what = f"deployment #{deployment.id} ({deployment.version})"
    if deployment.live_at is None:
        return CheckLine(name, title, False, f"{what} never went live ({deployment.status})")
    if deployment.merged_at is None:
        return CheckLine(name, title, False, f"{what} has no merge time (deploy with --merged-at)")
    lead_s = deployment.live_at - deployment.merged_at
    during = service_window(engine, service, deployment.created_at, deployment.live_at)
    evidence = (
        f"{what} merged {format_time(deployment.merged_at)}, live "
        f"{format_time(deployment.live_at)}: {format_hours(lead_s)} "
        f"({'≤' if lead_s <= limit_s else '>'} {config.launch.max_lead_time}); "
        f"{during.errors} failed of {during.count} requests during the deploy"
    )
    return CheckLine(name, title, lead_s <= limit_s and during.errors == 0, evidence)


def _runbooks(config: Config, service: str) -> CheckLine:
    name, title = "runbooks", "Runbooks tested by a drill"
    folder = config.alerts.runbooks_dir
    if folder is None or not Path(folder).is_dir():
        return CheckLine(name, title, False, f"no runbooks folder (alerts.runbooks_dir: {folder})")
    runbooks, _ = load_runbooks(folder)
    paging = [rule for rule in alert_rules(config, [service]) if rule.severity == "page"]
    if not paging:
        return CheckLine(name, title, False, f"{service} has no paging alert rule")
    uncovered: list[str] = []
    undrilled: dict[str, list[str]] = {}
    drilled: dict[str, str] = {}
    for rule in paging:
        covering = runbook_for(rule.labels, runbooks)
        if covering is None:
            uncovered.append(rule.alertname)
        elif covering.last_drilled is None:
            undrilled.setdefault(covering.name, []).append(rule.alertname)
        else:
            drilled[covering.name] = covering.last_drilled.isoformat()
    problems = []
    if uncovered:
        problems.append(f"no runbook covers {', '.join(sorted(set(uncovered)))}")
    for runbook, names in sorted(undrilled.items()):
        problems.append(f"runbook {runbook} (covers {', '.join(sorted(set(names)))}) never drilled")
    if problems:
        return CheckLine(name, title, False, "; ".join(problems))
    shown = ", ".join(f"{runbook} drilled {day}" for runbook, day in sorted(drilled.items()))
    return CheckLine(name, title, True, f"{len(paging)} paging alert rules covered: {shown}")


def _signoffs(conn: Connection, config: Config, now: float) -> CheckLine:
    roles = config.launch.required_signoffs
    title = "Stakeholders signed off on the launch checklist"
    c = launch_signoffs.c
    rows = conn.execute(select(c.role, c.by, c.at).where(c.at <= now).order_by(c.at, c.id))
    latest = {role: (by, at) for role, by, at in rows}
    missing = [role for role in roles if role not in latest]
    signed = ", ".join(
        f"{role}: {latest[role][0]} ({format_time(latest[role][1])})"
        for role in roles
        if role in latest
    )
    if missing:
        evidence = f"missing: {', '.join(missing)}" + (f"; signed: {signed}" if signed else "")
        return CheckLine("signoffs", title, False, evidence)
    return CheckLine("signoffs", title, True, signed or "no sign-off is required")
