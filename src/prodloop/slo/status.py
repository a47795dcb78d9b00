"""Where every SLO stands at `now`: its indicator, error budget, burn rates and this week.

One status per service and SLO that applies to it. Services are those of the config plus
any that sent requests in the SLO window, so traffic reported through the SDK or OTLP for
a service the gateway does not front is held to the same SLOs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from prodloop.config import Config, Slo
from prodloop.errors import ValidationError
from prodloop.slo.budget import budget_remaining, burn_rate, error_budget, is_met, tally
from prodloop.slo.counts import ByService, read_windows
from prodloop.slo.indicators import Comparator, indicator_of, indicator_value
from prodloop.slo.windows import BURN_RATE_WINDOWS, current_week, rolling_window, trailing_window
from prodloop.telemetry.rollups import Aggregate


@dataclass(frozen=True, slots=True)
class SloStatus:
    """One SLO of one service at `now`. Figures are None where the window had no traffic."""

    service: str
    slo: str
    kind: str
    description: str
    indicator: str  # e.g. error_rate, success_rate, latency_p95_ms, cost_per_request_usd
    comparator: Comparator
    target: float  # in the indicator's unit
    objective: float | None  # share of good events (None for averages)
    now: float
    window_days: int
    window_start: float
    requests: int  # in the SLO window
    eligible: int  # events the SLO counts (average: requests with a known cost)
    bad: float  # bad events (average: total cost, USD)
    sli: float | None  # the indicator over the SLO window
    error_budget: float | None  # bad events allowed (average: spend allowed, USD)
    budget_remaining: float | None  # 1 untouched, 0 spent, negative overspent
    is_met: bool | None  # over the SLO window
    burn_rates: dict[str, float | None]  # over 1h, 6h, 1d
    week_start: float
    week_sli: float | None
    is_met_this_week: bool | None

    @property
    def budget_remaining_pct(self) -> float | None:
        """Error budget remaining in percent (100 untouched, negative overspent)."""
        return None if self.budget_remaining is None else self.budget_remaining * 100.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as `prodloop slo status --json` and GET /api/v1/slos show it."""
        return {
            "service": self.service,
            "slo": self.slo,
            "kind": self.kind,
            "description": self.description,
            "indicator": self.indicator,
            "comparator": self.comparator,
            "target": self.target,
            "objective": self.objective,
            "now": self.now,
            "window_days": self.window_days,
            "window_start": self.window_start,
            "requests": self.requests,
            "eligible": self.eligible,
            "bad": self.bad,
            "sli": self.sli,
            "error_budget": self.error_budget,
            "budget_remaining": self.budget_remaining,
            "budget_remaining_pct": self.budget_remaining_pct,
            "is_met": self.is_met,
            "burn_rates": dict(self.burn_rates),
            "week_start": self.week_start,
            "week_sli": self.week_sli,
            "is_met_this_week": self.is_met_this_week,
        }


def known_services(config: Config, seen: ByService) -> list[str]:
    """Services of the config and those seen in the data, sorted."""
    return sorted(set(config.services) | set(seen))


def check_service(config: Config, service: str | None, seen: ByService) -> None:
    """Refuse a service that is neither configured nor seen in the data."""
    if service is not None and service not in config.services and service not in seen:
        known = ", ".join(known_services(config, seen)) or "none yet"
        raise ValidationError(f"unknown service '{service}' (known: {known})", field="service")


def slo_status(
    engine: Engine, config: Config, now: float, *, service: str | None = None
) -> list[SloStatus]:
    """Status of every SLO of every service (or of one) at `now`, ordered by service."""
    settings = config.slos
    slo_window = rolling_window(now, settings.window_days)
    week = current_week(now, settings.timezone)
    burn_starts = {label: trailing_window(now, s).start for label, s in BURN_RATE_WINDOWS}
    starts = [slo_window.start, week.start, *burn_starts.values()]
    has_latency = any(slo.kind == "latency" for slo in settings.objectives)
    # A service outside the config is read with every other, so that an unknown one can be
    # told apart from one that only sends through the SDK, and named among the known.
    only = service if service in config.services else None
    windows = read_windows(engine, starts, now, service=only, with_latency=has_latency)
    seen = windows[slo_window.start]
    check_service(config, service, seen)
    empty = Aggregate()
    statuses = []
    for name in [service] if service is not None else known_services(config, seen):
        for slo in settings.objectives:
            if slo.applies_to(name):
                statuses.append(
                    status_of(
                        slo,
                        name,
                        now,
                        window_days=settings.window_days,
                        window=(slo_window.start, seen.get(name, empty)),
                        week=(week.start, windows[week.start].get(name, empty)),
                        burn_windows={
                            label: windows[start].get(name, empty)
                            for label, start in burn_starts.items()
                        },
                    )
                )
    return statuses


def status_of(
    slo: Slo,
    service: str,
    now: float,
    *,
    window_days: int,
    window: tuple[float, Aggregate],
    week: tuple[float, Aggregate],
    burn_windows: dict[str, Aggregate],
) -> SloStatus:
    """The status of one SLO from the aggregates of its windows, each given with its start."""
    window_start, in_window = window
    week_start, in_week = week
    indicator = indicator_of(slo)
    counted = tally(slo, in_window)
    return SloStatus(
        service=service,
        slo=slo.name,
        kind=slo.kind,
        description=slo.description,
        indicator=indicator.name,
        comparator=indicator.comparator,
        target=indicator.target,
        objective=slo.good_objective,
        now=now,
        window_days=window_days,
        window_start=window_start,
        requests=in_window.count,
        eligible=counted.eligible,
        bad=counted.bad,
        sli=indicator_value(slo, in_window),
        error_budget=error_budget(slo, counted),
        budget_remaining=budget_remaining(slo, counted),
        is_met=is_met(slo, counted),
        burn_rates={
            label: burn_rate(slo, tally(slo, aggregate))
            for label, aggregate in burn_windows.items()
        },
        week_start=week_start,
        week_sli=indicator_value(slo, in_week),
        is_met_this_week=is_met(slo, tally(slo, in_week)),
    )
