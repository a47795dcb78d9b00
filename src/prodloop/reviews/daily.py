"""The daily check-in of early-life support (the guide's days 7–10): yesterday's SLIs
against the SLOs, incidents, deploys, new feedback and what changed since the day before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.reviews import formatting as f
from prodloop.reviews.data import (
    WATCHED,
    Compared,
    FeedbackFigures,
    IncidentLine,
    Period,
    SloWeek,
    day_of,
    feedback_figures,
    incident_lines,
    parse_day,
    request_figures,
    slo_attainment,
)
from prodloop.reviews.post import queue_summary
from prodloop.reviews.weekly import record_review
from prodloop.store.schema import deployments

ALERTNAME = "DailyCheckin"


@dataclass(frozen=True, slots=True)
class DeployLine:
    """A deployment started or gone live during the day."""

    service: str
    version: str
    status: str
    created_at: float
    live_at: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class DailyCheckin:
    """One day against the day before."""

    day: Period
    day_before: Period
    time_zone: str
    margin: float
    requests: Compared
    slos: list[SloWeek]
    incidents: list[IncidentLine]
    deploys: list[DeployLine]
    feedback: FeedbackFigures

    @property
    def changes(self) -> list[str]:
        """Each watched figure with its change since the day before, worse ones marked."""
        lines = []
        for name, label in WATCHED:
            change = self.requests.change(name)
            if change is None:
                continue
            flag = " (worse by more than the margin)" if change > self.margin else ""
            lines.append(f"{label} {f.change(change)}{flag}")
        return lines

    def lines(self) -> list[str]:
        """The check-in as short lines, for chat and the terminal."""
        tz, now = self.time_zone, self.requests.this
        if not now.requests and not self.incidents and not self.deploys and not self.feedback.count:
            return [f"No data on {self.day.label}."]
        out = [
            f"Requests {f.count(now.requests)}, p50 {f.ms(now.p50_ms)}, p95 {f.ms(now.p95_ms)}, "
            f"error rate {f.pct(now.error_rate)}, cost {f.usd(now.cost_total_usd)} "
            f"({f.usd(now.cost_per_request_usd, 5)} / request), "
            f"guardrail triggers {f.count(now.guardrail_requests)}"
        ]
        for slo in self.slos:
            out.append(
                f"SLO {slo.service}/{slo.slo}: {f.sli(slo.indicator, slo.sli)} "
                f"(target {slo.comparator} {f.sli(slo.indicator, slo.target)}) "
                f"{f.verdict(slo.is_met)}"
            )
        for incident in self.incidents:
            out.append(
                f"Incident #{incident.id} {incident.severity} {incident.title} "
                f"({incident.status}, detected {f.when(incident.detected_at, tz)})"
            )
        for deploy in self.deploys:
            out.append(f"Deploy {deploy.service} {deploy.version}: {deploy.status}")
        fb = self.feedback
        out.append(
            f"Feedback {f.count(fb.count)} new ({f.count(fb.last_count)} the day before), "
            f"{f.pct(fb.negative_share, 1)} negative"
        )
        if self.changes:
            out.append("Since the day before: " + "; ".join(self.changes))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "day": self.day.label,
            "start": self.day.start,
            "end": self.day.end,
            "requests": self.requests.to_dict(),
            "slos": [line.to_dict() for line in self.slos],
            "incidents": [line.to_dict() for line in self.incidents],
            "deploys": [line.to_dict() for line in self.deploys],
            "feedback": self.feedback.to_dict(),
            "changes": self.changes,
            "lines": self.lines(),
        }


def _deploys(engine: Engine, period: Period) -> list[DeployLine]:
    def within(column: Any) -> Any:
        return and_(column >= period.start, column < period.end)

    with engine.connect() as conn:
        rows = conn.execute(
            select(deployments)
            .where(or_(within(deployments.c.created_at), within(deployments.c.live_at)))
            .order_by(deployments.c.created_at, deployments.c.id)
        ).mappings()
        return [
            DeployLine(r["service"], r["version"], r["status"], r["created_at"], r["live_at"])
            for r in rows
        ]


def build_daily(engine: Engine, config: Config, day: str | None, now: float) -> DailyCheckin:
    """The check-in of local day `day` (2026-11-27), or of yesterday when None."""
    zone = config.reviews.time_zone
    period = parse_day(day, zone) if day else day_of(day_of(now, zone).start - 1, zone)
    before = day_of(period.start - 1, zone)
    figures = request_figures(engine, period, before, zone)
    return DailyCheckin(
        day=period,
        day_before=before,
        time_zone=zone,
        margin=config.reviews.regression_margin,
        requests=figures.total,
        slos=slo_attainment(engine, config, period, before),
        incidents=incident_lines(engine, period.start, period.end),
        deploys=_deploys(engine, period),
        feedback=feedback_figures(engine, period, before),
    )


def post_daily(engine: Engine, config: Config, checkin: DailyCheckin, now: float) -> list[str]:
    """Queue the check-in to ``reviews.notifiers`` and record it; the notifiers queued."""
    with engine.begin() as conn:
        queued = queue_summary(
            conn,
            config,
            alertname=ALERTNAME,
            key=checkin.day.label,
            title=f"Daily check-in {checkin.day.label}",
            lines=checkin.lines(),
            footer=f"Details with `prodloop review daily --day {checkin.day.label}`",
            now=now,
        )
    record_review(engine, "daily", checkin.day.label, now, {"lines": checkin.lines(),
                                                             "notifiers": queued})  # fmt: skip
    return queued
