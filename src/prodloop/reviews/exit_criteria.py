"""Exit criteria → maintenance mode, for one quarter of the launched service.

* ``slo_weeks`` — the quarter's weeks (calendar weeks of `slos.timezone` whose Monday falls
  in the quarter and that are over) in which every SLO was met, from the SLO code's weekly
  record; a share ≥ `launch.exit.slo_weeks_share` of the weeks with traffic passes.
* ``cost`` — token cost per request (cost ÷ requests with a known cost) per calendar month
  of the quarter; every month-on-month change between two months with costed requests
  within ±`launch.exit.cost_variance`.
* ``velocity`` — deploys that went live per week over the same weeks; their coefficient of
  variation (population standard deviation ÷ mean) under `launch.exit.velocity_cv`.

Quarters and months are cut in `reviews.time_zone`. A quarter without data fails each line
with "no data", never a division by zero.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.reviews.checklist import launch_service
from prodloop.slo.counts import read_segments
from prodloop.slo.weekly import weekly_record, weeks_all_met
from prodloop.slo.windows import Window, week_start
from prodloop.store.schema import deployments
from prodloop.telemetry.rollups import Aggregate

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True, slots=True)
class Quarter:
    """A calendar quarter, e.g. 2026-Q4."""

    year: int
    number: int

    @property
    def label(self) -> str:
        """2026-Q4."""
        return f"{self.year}-Q{self.number}"

    @property
    def months(self) -> list[date]:
        """The first day of each of its three months."""
        first = 3 * (self.number - 1) + 1
        return [date(self.year, first + i, 1) for i in range(3)]

    @property
    def first_day(self) -> date:
        """Its first day."""
        return self.months[0]

    @property
    def end_day(self) -> date:
        """The first day after it."""
        return date(self.year + 1, 1, 1) if self.number == 4 else _next_month(self.months[2])


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _at(day: date, zone: str) -> float:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).timestamp()


def parse_quarter(text: str) -> Quarter:
    """A quarter from '2026-Q4'; ValidationError otherwise."""
    match = _QUARTER.match(text.strip())
    if match is None:
        raise ValidationError(f"expected a quarter like 2026-Q4, got {text!r}", field="quarter")
    return Quarter(int(match.group(1)), int(match.group(2)))


def quarter_of(now: float, zone: str) -> Quarter:
    """The quarter `now` falls in."""
    local = datetime.fromtimestamp(now, ZoneInfo(zone))
    return Quarter(local.year, (local.month - 1) // 3 + 1)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One exit criterion: whether it holds and what the data showed."""

    name: str
    title: str
    ok: bool
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"name": self.name, "title": self.title, "ok": self.ok, "evidence": self.evidence}


@dataclass(frozen=True, slots=True)
class MonthCost:
    """Token cost per request over one month."""

    month: str  # 2026-10
    requests: int
    cost_usd: float
    cost_per_request: float | None
    change: float | None  # against the month before, when both have costed requests

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "month": self.month,
            "requests": self.requests,
            "cost_usd": self.cost_usd,
            "cost_per_request": self.cost_per_request,
            "change": self.change,
        }


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """One week of the quarter: whether all SLOs were met, and deploys that went live."""

    start: float
    end: float
    all_met: bool | None
    deploys: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"start": self.start, "end": self.end, "all_met": self.all_met,
                "deploys": self.deploys}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExitReport:
    """The exit criteria of one quarter, with the figures they were decided on."""

    quarter: str
    service: str
    start: float
    end: float
    weeks: tuple[WeekFigures, ...]
    months: tuple[MonthCost, ...]
    criteria: tuple[Criterion, ...]
    deploys_cv: float | None = None
    requests: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def has_data(self) -> bool:
        """The quarter had requests or deploys at all."""
        return self.requests > 0 or any(week.deploys for week in self.weeks)

    @property
    def ok(self) -> bool:
        """Every criterion holds: the service can move to maintenance mode."""
        return self.has_data and all(criterion.ok for criterion in self.criteria)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "quarter": self.quarter,
            "service": self.service,
            "start": self.start,
            "end": self.end,
            "has_data": self.has_data,
            "ok": self.ok,
            "requests": self.requests,
            "deploys_cv": self.deploys_cv,
            "criteria": [criterion.to_dict() for criterion in self.criteria],
            "weeks": [week.to_dict() for week in self.weeks],
            "months": [month.to_dict() for month in self.months],
        }


def quarter_weeks(quarter: Quarter, config: Config, now: float) -> list[Window]:
    """The calendar weeks whose Monday falls in the quarter and that ended by `now`."""
    zone = config.slos.timezone
    start, end = _at(quarter.first_day, zone), _at(quarter.end_day, zone)
    monday = week_start(start, zone)
    if monday < start:
        monday = _at(datetime.fromtimestamp(monday, ZoneInfo(zone)).date() + timedelta(7), zone)
    weeks = []
    while monday < end:
        following = _at(datetime.fromtimestamp(monday, ZoneInfo(zone)).date() + timedelta(7), zone)
        if following > now:
            break
        weeks.append(Window(monday, following))
        monday = following
    return weeks


def exit_criteria(engine: Engine, config: Config, quarter: Quarter, now: float) -> ExitReport:
    """Decide the exit criteria of `quarter` for the launched service, from the data."""
    service = launch_service(config)
    zone = config.reviews.time_zone
    start, end = _at(quarter.first_day, zone), _at(quarter.end_day, zone)
    weeks = quarter_weeks(quarter, config, now)
    verdicts: list[bool | None] = [None] * len(weeks)
    if weeks:
        records = weekly_record(engine, config, weeks[-1].end, weeks=len(weeks), service=service)
        verdicts = weeks_all_met(records, service) or verdicts
    deploys = _deploys_per_week(engine, service, weeks)
    week_figures = tuple(
        WeekFigures(w.start, w.end, verdict, count)
        for w, verdict, count in zip(weeks, verdicts, deploys, strict=True)
    )
    months = _month_costs(engine, config, quarter, service, now)
    requests = sum(month.requests for month in months)
    cv = _coefficient_of_variation(deploys)
    criteria = (
        _slo_weeks(config, week_figures),
        _cost(config, months),
        _velocity(config, deploys, cv),
    )
    return ExitReport(
        quarter=quarter.label,
        service=service,
        start=start,
        end=end,
        weeks=week_figures,
        months=tuple(months),
        criteria=criteria,
        deploys_cv=cv,
        requests=requests,
    )


def _deploys_per_week(engine: Engine, service: str, weeks: list[Window]) -> list[int]:
    if not weeks:
        return []
    c = deployments.c
    query = select(c.live_at).where(
        c.service == service,
        c.live_at.is_not(None),
        c.live_at >= weeks[0].start,
        c.live_at < weeks[-1].end,
    )
    with engine.connect() as conn:
        moments = [float(row[0]) for row in conn.execute(query)]
    return [sum(1 for at in moments if week.start <= at < week.end) for week in weeks]


def _month_costs(
    engine: Engine, config: Config, quarter: Quarter, service: str, now: float
) -> list[MonthCost]:
    zone = config.reviews.time_zone
    firsts = [day for day in quarter.months if _at(day, zone) < now]
    if not firsts:
        return []
    bounds = [_at(day, zone) for day in firsts]
    bounds.append(min(now, _at(_next_month(firsts[-1]), zone)))
    segments = read_segments(engine, bounds, service=service, with_latency=False)
    months: list[MonthCost] = []
    previous: float | None = None
    for day, segment in zip(firsts, segments, strict=True):
        aggregate = segment.get(service, Aggregate())
        per_request = (
            aggregate.cost_usd / aggregate.cost_known if aggregate.cost_known > 0 else None
        )
        change = None
        if per_request is not None and previous is not None:
            change = (per_request - previous) / previous if previous > 0 else math.inf
            if previous == 0 and per_request == 0:
                change = 0.0
        months.append(
            MonthCost(
                day.strftime("%Y-%m"), aggregate.count, aggregate.cost_usd, per_request, change
            )
        )
        previous = per_request
    return months


def _coefficient_of_variation(counts: list[int]) -> float | None:
    if len(counts) < 2:
        return None
    mean = sum(counts) / len(counts)
    if mean == 0:
        return None
    variance = sum((count - mean) ** 2 for count in counts) / len(counts)
    return math.sqrt(variance) / mean


def _slo_weeks(config: Config, weeks: tuple[WeekFigures, ...]) -> Criterion:
    share_needed = config.launch.exit.slo_weeks_share
    title = f"SLOs met in ≥ {share_needed * 100:g} % of the quarter's weeks"
    judged = [week for week in weeks if week.all_met is not None]
    if not judged:
        what = "no complete week" if not weeks else f"no traffic in its {len(weeks)} weeks"
        return Criterion("slo_weeks", title, False, f"no data: {what}")
    met = sum(1 for week in judged if week.all_met)
    share = met / len(judged)
    evidence = (
        f"all SLOs met in {met} of {len(judged)} weeks with traffic ({share * 100:.0f} %)"
        + (
            f"; {len(weeks) - len(judged)} weeks without traffic"
            if len(judged) < len(weeks)
            else ""
        )
    )
    return Criterion("slo_weeks", title, share >= share_needed, evidence)


def _cost(config: Config, months: list[MonthCost]) -> Criterion:
    limit = config.launch.exit.cost_variance
    title = f"Token cost per request within ±{limit * 100:g} % month on month"
    costed = [month for month in months if month.cost_per_request is not None]
    if len(costed) < 2:
        return Criterion(
            "cost", title, False,
            f"no data: {len(costed)} month(s) with costed requests, two are needed",
        )  # fmt: skip
    shown = ", ".join(f"{m.month} ${m.cost_per_request:.5f}" for m in costed)
    changes = [month for month in months if month.change is not None]
    if not changes:
        return Criterion("cost", title, False, f"{shown}: no two consecutive months to compare")
    worst = max(changes, key=lambda month: abs(month.change or 0.0))
    assert worst.change is not None
    moved = "from $0" if math.isinf(worst.change) else f"{worst.change * 100:+.1f} %"
    ok = all(abs(month.change or 0.0) <= limit for month in changes)
    return Criterion("cost", title, ok, f"{shown}; largest change {moved} in {worst.month}")


def _velocity(config: Config, deploys: list[int], cv: float | None) -> Criterion:
    limit = config.launch.exit.velocity_cv
    title = f"Feature velocity stable: deploys per week with a coefficient of variation < {limit:g}"
    if len(deploys) < 2:
        return Criterion("velocity", title, False, f"no data: {len(deploys)} complete week(s)")
    if sum(deploys) == 0 or cv is None:
        return Criterion("velocity", title, False, f"no data: no deploy in {len(deploys)} weeks")
    mean = sum(deploys) / len(deploys)
    evidence = (
        f"{sum(deploys)} deploys over {len(deploys)} weeks ({mean:.1f}/week, per week: "
        f"{' '.join(str(count) for count in deploys)}); coefficient of variation {cv:.2f}"
    )
    return Criterion("velocity", title, cv < limit, evidence)
