"""SLO math: windows, error budgets, burn rates, and where every SLO stands."""

from __future__ import annotations

from prodloop.slo.budget import (
    Tally,
    allowed_share,
    budget_remaining,
    burn_rate,
    error_budget,
    is_met,
    tally,
)
from prodloop.slo.indicators import Indicator, alert_indicator, indicator_of, indicator_value
from prodloop.slo.status import SloStatus, slo_status, status_of
from prodloop.slo.weekly import WeeklyRecord, WeekResult, weekly_record, weeks_all_met
from prodloop.slo.windows import (
    Window,
    current_week,
    past_weeks,
    rolling_window,
    trailing_window,
    week_start,
)

__all__ = [
    "Indicator",
    "SloStatus",
    "Tally",
    "WeekResult",
    "WeeklyRecord",
    "Window",
    "alert_indicator",
    "allowed_share",
    "budget_remaining",
    "burn_rate",
    "current_week",
    "error_budget",
    "indicator_of",
    "indicator_value",
    "is_met",
    "past_weeks",
    "rolling_window",
    "slo_status",
    "status_of",
    "tally",
    "trailing_window",
    "week_start",
    "weekly_record",
    "weeks_all_met",
]
