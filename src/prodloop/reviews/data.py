"""The week's figures: requests, latency, errors, cost and guardrails per day and per
version against last week, SLO attainment, incidents, feedback, funnels and retention.

Periods are cut at local midnight in ``reviews.time_zone``; requests are read from the
rollups through `query_slis` (whole hours from rollups_hour), so a week of traffic is a
few hundred rows per series whatever the request rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, cast, func, or_, select
from sqlalchemy.engine import Engine

from prodloop.analytics.funnel import FunnelQuery, compute_funnel
from prodloop.analytics.params import TimeRange
from prodloop.analytics.retention import compute_retention
from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.slo.budget import budget_remaining, is_met, tally
from prodloop.slo.counts import read_segments
from prodloop.slo.indicators import indicator_of, indicator_value
from prodloop.slo.status import known_services
from prodloop.store.schema import (
    alerts,
    analytics_events,
    deployments,
    feedback,
    feedback_clusters,
    incident_alerts,
    incidents,
    rollups_hour,
    rollups_minute,
)
from prodloop.telemetry.rollups import Aggregate
from prodloop.telemetry.sli import Slis, query_slis

_WEEK = re.compile(r"(\d{4})-W(\d{2})")
TOP_CLUSTERS = 5
FUNNEL_STEPS = 3
FUNNEL_WINDOW_S = 86400.0
RETENTION_WEEKS = 4


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar span [start, end) in Unix seconds, with its label (2026-W48, 2026-11-27)."""

    label: str
    start: float
    end: float


def _midnight(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tzinfo=zone).timestamp()


def parse_week(week: str, time_zone: str) -> Period:
    """The ISO week `2026-W48` from Monday 00:00 to the next Monday 00:00 in `time_zone`."""
    match = _WEEK.fullmatch(week.strip())
    try:
        if match is None:
            raise ValueError
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ValidationError(f"'{week}' is not an ISO week like 2026-W48", field="week") from None
    zone = ZoneInfo(time_zone)
    label = f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}"
    return Period(label, _midnight(monday, zone), _midnight(monday + timedelta(weeks=1), zone))


def week_of(ts: float, time_zone: str) -> Period:
    """The ISO week `ts` falls in."""
    local = datetime.fromtimestamp(ts, ZoneInfo(time_zone)).date()
    iso = local.isocalendar()
    return parse_week(f"{iso.year}-W{iso.week:02d}", time_zone)


def last_complete_week(now: float, time_zone: str) -> Period:
    """The week before the one `now` falls in."""
    return week_of(week_of(now, time_zone).start - 1, time_zone)


def parse_day(day: str, time_zone: str) -> Period:
    """The local day `2026-11-27`, midnight to midnight in `time_zone` (23–25 h long)."""
    try:
        parsed = date.fromisoformat(day.strip())
    except ValueError:
        raise ValidationError(f"'{day}' is not a day like 2026-11-27", field="day") from None
    zone = ZoneInfo(time_zone)
    return Period(
        parsed.isoformat(), _midnight(parsed, zone), _midnight(parsed + timedelta(days=1), zone)
    )


def day_of(ts: float, time_zone: str) -> Period:
    """The local day `ts` falls in."""
    return parse_day(datetime.fromtimestamp(ts, ZoneInfo(time_zone)).date().isoformat(), time_zone)


def days_of(period: Period, time_zone: str) -> list[Period]:
    """The local days of a period, in order."""
    days = []
    day = day_of(period.start, time_zone)
    while day.start < period.end:
        days.append(day)
        day = day_of(day.end, time_zone)
    return days


def has_activity(engine: Engine, period: Period) -> bool:
    """Whether anything was recorded in the period: requests, deploys, incidents, feedback
    or analytics events (a few indexed lookups, for the schedule to skip empty weeks)."""
    probes = [
        (rollups_hour.c.bucket, rollups_minute.c.bucket),
        (deployments.c.created_at,),
        (incidents.c.detected_at,),
        (feedback.c.created_at,),
        (analytics_events.c.ts,),
    ]
    with engine.connect() as conn:
        for columns in probes:
            for column in columns:
                # An hour bucket across the period's start (a half-hour time zone) is not
                # counted; the minute rollups cover it.
                found = conn.execute(
                    select(column).where(and_(column >= period.start, column < period.end)).limit(1)
                ).first()
                if found is not None:
                    return True
    return False


@dataclass(frozen=True, slots=True)
class Figures:
    """What the requests of one period (and group) amount to."""

    requests: int
    errors: int
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    cost_total_usd: float
    cost_per_request_usd: float | None
    guardrail_requests: int
    guardrail_rate: float | None

    @classmethod
    def of(cls, slis: Slis) -> Figures:
        """The figures of one SLI row."""
        return cls(
            requests=slis.requests,
            errors=slis.errors,
            error_rate=slis.error_rate,
            p50_ms=slis.latency_ms.get("p50"),
            p95_ms=slis.latency_ms.get("p95"),
            cost_total_usd=slis.cost_total_usd,
            cost_per_request_usd=slis.cost_per_request_usd,
            guardrail_requests=slis.guardrail_requests,
            guardrail_rate=slis.guardrail_trigger_rate,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {name: getattr(self, name) for name in self.__slots__}


EMPTY = Figures(0, 0, None, None, None, 0.0, None, 0, None)

# Figures where a rise is a regression, with how a review names them.
WATCHED: tuple[tuple[str, str], ...] = (
    ("p50_ms", "p50 latency"),
    ("p95_ms", "p95 latency"),
    ("error_rate", "error rate"),
    ("cost_per_request_usd", "token cost per request"),
    ("guardrail_rate", "guardrail trigger rate"),
)


@dataclass(frozen=True, slots=True)
class Compared:
    """One line of a table: this period's figures and the same period a week before."""

    label: str
    this: Figures
    last: Figures

    def change(self, name: str) -> float | None:
        """Relative change of a figure from last week (0.1 = 10 % higher); None if unknown."""
        now, before = getattr(self.this, name), getattr(self.last, name)
        if now is None or before is None or before == 0:
            return None
        return float(now) / float(before) - 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, changes included."""
        changes = {name: self.change(name) for name in (*self.this.__slots__,)}
        return {
            "label": self.label,
            "this": self.this.to_dict(),
            "last": self.last.to_dict(),
            "change": changes,
        }


def _figures(engine: Engine, start: float, end: float) -> Figures:
    return Figures.of(query_slis(engine, start=start, end=end)[0])


def _by_version(engine: Engine, start: float, end: float) -> dict[str, Figures]:
    rows = query_slis(engine, start=start, end=end, group_by=("service", "version"))
    return {f"{r.group['service']} {r.group['version']}": Figures.of(r) for r in rows}


@dataclass(frozen=True, slots=True)
class RequestFigures:
    """The week's requests: in all, per day and per version, each against last week."""

    total: Compared
    days: list[Compared]
    versions: list[Compared]


def request_figures(engine: Engine, week: Period, last: Period, time_zone: str) -> RequestFigures:
    """Requests of `week` in all, per local day and per version, against `last`."""
    total = Compared(
        week.label, _figures(engine, week.start, week.end), _figures(engine, last.start, last.end)
    )
    days = [
        Compared(
            datetime.fromtimestamp(this.start, ZoneInfo(time_zone)).strftime("%a %Y-%m-%d"),
            _figures(engine, this.start, this.end),
            _figures(engine, before.start, before.end),
        )
        for this, before in zip(days_of(week, time_zone), days_of(last, time_zone), strict=False)
    ]
    now_versions = _by_version(engine, week.start, week.end)
    last_versions = _by_version(engine, last.start, last.end)
    versions = [
        Compared(name, now_versions.get(name, EMPTY), last_versions.get(name, EMPTY))
        for name in sorted(set(now_versions) | set(last_versions))
    ]
    return RequestFigures(total, days, versions)


@dataclass(frozen=True, slots=True)
class SloWeek:
    """One SLO of one service over a period, and over the period before."""

    service: str
    slo: str
    indicator: str
    comparator: str
    target: float
    requests: int
    sli: float | None
    is_met: bool | None
    budget_remaining: float | None  # of the period's own budget: 1 untouched, < 0 overspent
    was_met: bool | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {name: getattr(self, name) for name in self.__slots__}


def slo_attainment(engine: Engine, config: Config, period: Period, before: Period) -> list[SloWeek]:
    """Every SLO of every service held to the period, and whether it was met the one before."""
    previous, _, current = read_segments(
        engine, [before.start, before.end, period.start, period.end]
    )
    empty = Aggregate()
    lines = []
    for service in known_services(config, {**previous, **current}):
        for slo in config.slos.objectives:
            if not slo.applies_to(service):
                continue
            aggregate = current.get(service, empty)
            counted = tally(slo, aggregate)
            indicator = indicator_of(slo)
            lines.append(
                SloWeek(
                    service=service,
                    slo=slo.name,
                    indicator=indicator.name,
                    comparator=indicator.comparator,
                    target=indicator.target,
                    requests=aggregate.count,
                    sli=indicator_value(slo, aggregate),
                    is_met=is_met(slo, counted),
                    budget_remaining=budget_remaining(slo, counted),
                    was_met=is_met(slo, tally(slo, previous.get(service, empty))),
                )
            )
    return lines


@dataclass(frozen=True, slots=True)
class IncidentLine:
    """One incident of the period with its time to detect, mitigate and resolve."""

    id: int
    service: str
    title: str
    severity: str
    status: str
    detected_at: float
    detect_s: float | None  # from the first alert's condition holding to detection
    mitigate_s: float | None  # detection to mitigated
    resolve_s: float | None  # detection to resolved

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {name: getattr(self, name) for name in self.__slots__}


def _since(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else max(0.0, later - earlier)


def incident_lines(engine: Engine, start: float, end: float) -> list[IncidentLine]:
    """Incidents (drills left out) detected, mitigated or resolved in [start, end)."""

    def within(column: Any) -> Any:
        return and_(column >= start, column < end)

    first_alert = (
        select(incident_alerts.c.incident_id, func.min(alerts.c.active_at).label("onset"))
        .join(alerts, alerts.c.id == incident_alerts.c.alert_id)
        .group_by(incident_alerts.c.incident_id)
        .subquery()
    )
    query = (
        select(incidents, first_alert.c.onset)
        .outerjoin(first_alert, first_alert.c.incident_id == incidents.c.id)
        .where(incidents.c.is_drill.is_(False))
        .where(
            or_(
                within(incidents.c.detected_at),
                within(incidents.c.mitigated_at),
                within(incidents.c.resolved_at),
            )
        )
        .order_by(incidents.c.detected_at, incidents.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        IncidentLine(
            id=int(row["id"]),
            service=row["service"],
            title=row["title"],
            severity=row["severity"],
            status=row["status"],
            detected_at=row["detected_at"],
            detect_s=_since(row["detected_at"], row["onset"]),
            mitigate_s=_since(row["mitigated_at"], row["detected_at"]),
            resolve_s=_since(row["resolved_at"], row["detected_at"]),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class FeedbackFigures:
    """Feedback received in a period, and the clusters most of it fell in."""

    count: int
    negative: int
    last_count: int
    last_negative: int
    clusters: list[tuple[str, int, int]]  # label, items this period, negative ones

    @property
    def negative_share(self) -> float | None:
        """Share of this period's feedback that was negative."""
        return self.negative / self.count if self.count else None

    @property
    def last_negative_share(self) -> float | None:
        """Share of the period before's feedback that was negative."""
        return self.last_negative / self.last_count if self.last_count else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "count": self.count,
            "negative": self.negative,
            "negative_share": self.negative_share,
            "last_count": self.last_count,
            "last_negative_share": self.last_negative_share,
            "clusters": [
                {"label": label, "count": n, "negative": neg} for label, n, neg in self.clusters
            ],
        }


def _negative_count() -> Any:
    return func.coalesce(func.sum(cast(feedback.c.is_negative, Integer)), 0)


def feedback_figures(engine: Engine, period: Period, before: Period) -> FeedbackFigures:
    """Volume and negative share of feedback in `period` and `before`, and the top clusters."""

    def counts(lo: float, hi: float) -> tuple[int, int]:
        row = conn.execute(
            select(func.count(), _negative_count()).where(
                and_(feedback.c.created_at >= lo, feedback.c.created_at < hi)
            )
        ).one()
        return int(row[0]), int(row[1])

    with engine.connect() as conn:
        count, negative = counts(period.start, period.end)
        last_count, last_negative = counts(before.start, before.end)
        top = conn.execute(
            select(feedback_clusters.c.label, func.count(), _negative_count())
            .join(feedback_clusters, feedback_clusters.c.id == feedback.c.cluster_id)
            .where(and_(feedback.c.created_at >= period.start, feedback.c.created_at < period.end))
            .group_by(feedback_clusters.c.id, feedback_clusters.c.label)
            .order_by(func.count().desc(), feedback_clusters.c.label)
            .limit(TOP_CLUSTERS)
        ).all()
    return FeedbackFigures(
        count,
        negative,
        last_count,
        last_negative,
        [(str(label), int(n), int(neg)) for label, n, neg in top],
    )


@dataclass(frozen=True, slots=True)
class ProductFigures:
    """The week's funnel (how its steps were chosen) and the retention of recent cohorts."""

    events: int
    users: int
    funnel_note: str
    funnel: list[dict[str, Any]]  # FunnelStep.to_dict() per step
    retention: list[dict[str, Any]]  # Cohort.to_dict() per week

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {name: getattr(self, name) for name in self.__slots__}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _funnel_steps(
    first_seen: dict[str, dict[str, float]], success_event: str
) -> tuple[list[str], str]:
    """The steps of the week's funnel, in the order users take them, and a sentence saying
    how they were chosen.

    `first_seen` maps each event to each user's first occurrence of it in the week. With
    the success metric among them, the steps are the events most users did before their
    first success event, then the success event; without it, the events most users did.
    Either way the steps are ordered by the median of users' first occurrence, so the
    funnel follows the journey, not popularity.
    """
    journey = {event: _median(list(users.values())) for event, users in first_seen.items()}
    success = first_seen.get(success_event)
    if success is not None:
        before = {
            event: sum(1 for user, ts in users.items() if user in success and ts < success[user])
            for event, users in first_seen.items()
            if event != success_event
        }
        ranked = sorted((e for e, n in before.items() if n), key=lambda e: (-before[e], e))
        picked = sorted(ranked[: FUNNEL_STEPS - 1], key=lambda e: (journey[e], e))
        note = (
            f"the events most users did before the success metric '{success_event}', "
            "in the order users first did them (median time of first occurrence)"
        )
        return [*picked, success_event], note
    ranked = sorted(first_seen, key=lambda e: (-len(first_seen[e]), e))
    steps = sorted(ranked[:FUNNEL_STEPS], key=lambda e: (journey[e], e))
    note = (
        "the most used events of the week, in the order users first did them (median time "
        f"of first occurrence; nobody sent the success metric '{success_event}')"
    )
    return steps, note


def product_figures(engine: Engine, config: Config, period: Period) -> ProductFigures:
    """The funnel of the week's events in journey order ending at the success metric (see
    `_funnel_steps`), and the retention of recent weekly cohorts."""
    in_week = and_(analytics_events.c.ts >= period.start, analytics_events.c.ts < period.end)
    with engine.connect() as conn:
        events, users = conn.execute(
            select(func.count(), func.count(analytics_events.c.distinct_id.distinct())).where(
                in_week
            )
        ).one()
        firsts = conn.execute(
            select(
                analytics_events.c.event,
                analytics_events.c.distinct_id,
                func.min(analytics_events.c.ts),
            )
            .where(in_week)
            .group_by(analytics_events.c.event, analytics_events.c.distinct_id)
        ).all()
    if not events:
        return ProductFigures(0, 0, "no analytics events this week", [], [])
    first_seen: dict[str, dict[str, float]] = {}
    for event, user, ts in firsts:
        first_seen.setdefault(str(event), {})[str(user)] = float(ts)
    steps, note = _funnel_steps(first_seen, config.launch.success_metric.event)
    time_range = TimeRange(period.start, period.end)
    funnel: list[dict[str, Any]] = []
    if len(steps) >= 2:
        result = compute_funnel(engine, FunnelQuery(tuple(steps), FUNNEL_WINDOW_S, time_range))
        funnel = [step.to_dict() for step in result.steps]
    elif len(first_seen) < 2:
        note = "a single event this week: no funnel"
    else:
        note = f"nothing came before the success metric '{steps[0]}' this week: no funnel"
    # Retention cohorts are UTC weeks; starting at noon on the local Monday lands in the
    # same UTC week for any offset within ±12 h, so exactly RETENTION_WEEKS cohorts come back.
    since = period.start - (RETENTION_WEEKS - 1) * 7 * 86400.0 + 43200.0
    cohorts = [
        cohort
        for cohort in compute_retention(engine, TimeRange(since, period.end)).cohorts
        if cohort.size
    ]
    return ProductFigures(
        int(events), int(users), note, funnel, [cohort.to_dict() for cohort in cohorts]
    )
