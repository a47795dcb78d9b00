"""The weekly record: was each SLO met in each past calendar week?

The exit criteria ask for "SLOs met 90 % of weeks in a quarter": `weekly_record` gives
met / not met per SLO per complete week (13 weeks make a quarter), and
`weeks_all_met` folds a service's SLOs into one verdict per week.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.slo.budget import budget_remaining, is_met, tally
from prodloop.slo.counts import read_segments
from prodloop.slo.indicators import indicator_value
from prodloop.slo.status import check_service, known_services
from prodloop.slo.windows import past_weeks
from prodloop.telemetry.rollups import Aggregate

QUARTER_WEEKS = 13


@dataclass(frozen=True, slots=True)
class WeekResult:
    """One SLO over one calendar week. `is_met` is None for a week without traffic."""

    start: float
    end: float
    requests: int
    sli: float | None
    budget_remaining: float | None
    is_met: bool | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "start": self.start,
            "end": self.end,
            "requests": self.requests,
            "sli": self.sli,
            "budget_remaining": self.budget_remaining,
            "is_met": self.is_met,
        }


@dataclass(frozen=True, slots=True)
class WeeklyRecord:
    """One SLO of one service, week by week, oldest first."""

    service: str
    slo: str
    weeks: tuple[WeekResult, ...]

    @property
    def weeks_met(self) -> int:
        """Weeks in which the SLO was met."""
        return sum(1 for week in self.weeks if week.is_met)

    @property
    def weeks_with_traffic(self) -> int:
        """Weeks that had eligible events, so could be met or missed."""
        return sum(1 for week in self.weeks if week.is_met is not None)

    @property
    def met_share(self) -> float | None:
        """Share of the weeks with traffic in which the SLO was met."""
        judged = self.weeks_with_traffic
        return self.weeks_met / judged if judged else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, weeks included."""
        return {
            "service": self.service,
            "slo": self.slo,
            "weeks_met": self.weeks_met,
            "weeks_with_traffic": self.weeks_with_traffic,
            "met_share": self.met_share,
            "weeks": [week.to_dict() for week in self.weeks],
        }


def weekly_record(
    engine: Engine,
    config: Config,
    now: float,
    *,
    weeks: int = QUARTER_WEEKS,
    service: str | None = None,
) -> list[WeeklyRecord]:
    """Met / not met per SLO for each of the `weeks` complete weeks before `now`'s week.

    Weeks start on Monday 00:00 in ``slos.timezone``. Services are those of the config
    plus any that sent requests in those weeks.
    """
    if not 1 <= weeks <= 520:
        raise ValidationError("must be between 1 and 520", field="weeks")
    windows = past_weeks(now, config.slos.timezone, weeks)
    has_latency = any(slo.kind == "latency" for slo in config.slos.objectives)
    segments = read_segments(
        engine,
        [windows[0].start, *(window.end for window in windows)],
        service=service if service in config.services else None,
        with_latency=has_latency,
    )
    seen = {name: Aggregate() for segment in segments for name in segment}
    check_service(config, service, seen)
    empty = Aggregate()
    records = []
    for name in [service] if service is not None else known_services(config, seen):
        for slo in config.slos.objectives:
            if not slo.applies_to(name):
                continue
            results = []
            for window, segment in zip(windows, segments, strict=True):
                aggregate = segment.get(name, empty)
                counted = tally(slo, aggregate)
                results.append(
                    WeekResult(
                        start=window.start,
                        end=window.end,
                        requests=aggregate.count,
                        sli=indicator_value(slo, aggregate),
                        budget_remaining=budget_remaining(slo, counted),
                        is_met=is_met(slo, counted),
                    )
                )
            records.append(WeeklyRecord(service=name, slo=slo.name, weeks=tuple(results)))
    return records


def weeks_all_met(records: list[WeeklyRecord], service: str) -> list[bool | None]:
    """Per week, whether every SLO of `service` was met (None: no SLO had traffic)."""
    mine = [record for record in records if record.service == service]
    if not mine:
        return []
    verdicts: list[bool | None] = []
    for i in range(len(mine[0].weeks)):
        judged = [record.weeks[i].is_met for record in mine if record.weeks[i].is_met is not None]
        verdicts.append(all(judged) if judged else None)
    return verdicts
