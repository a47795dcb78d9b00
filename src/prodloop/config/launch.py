"""Closing the loop: scheduled reviews, backlog grooming, experiments, the launch checklist
and the exit criteria. The defaults are the guide's numbers."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from prodloop.config.base import Duration, StrictModel, TimeZone

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _clock_time(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("must be a time of day like 09:00")
    return value


class Reviews(StrictModel):
    output_dir: str = Field("docs/reviews", description="where review files are written")
    time_zone: TimeZone = Field("UTC", description="time zone of weeks, days and the schedule")
    schedule: bool = Field(True, description="the loop writes the weekly review by itself")
    weekly_day: Weekday = Field("monday", description="day the weekly review is written")
    weekly_time: str = Field("09:00", description="time of day the weekly review is written")
    daily: bool = Field(
        True, description="post a daily check-in to the notifiers (days 7–10 of the launch)"
    )
    daily_time: str = Field("09:00", description="time of day of the daily check-in")
    notifiers: list[str] = Field(
        default_factory=list,
        description="paging notifiers the weekly summary and the daily check-in are posted to",
    )
    regression_margin: float = Field(
        0.10, gt=0, description="a figure worse than last week by more than this is called out"
    )

    @field_validator("weekly_time", "daily_time")
    @classmethod
    def _times(cls, value: str) -> str:
        return _clock_time(value)


class Grooming(StrictModel):
    roadmap_file: str = Field(
        "ops/roadmap.yaml", description="roadmap items (YAML) ranked beside feedback and actions"
    )
    top: int = Field(10, ge=1, description="items written into the review")
    default_effort: float = Field(
        1.0, gt=0, description="person-weeks assumed for feedback and post-mortem items"
    )


class Experiments(StrictModel):
    alpha: float = Field(0.05, gt=0, lt=0.5, description="false positive rate of the verdicts")
    srm_p: float = Field(
        0.001, gt=0, lt=1, description="sample ratio mismatch flagged below this chi-square p"
    )
    min_samples: int = Field(100, ge=1, description="per variant, before any verdict")
    check_interval: Duration = Field(
        "1h", description="the loop concludes experiments with a final verdict this often"
    )


class SuccessMetric(StrictModel):
    event: str = Field(
        "first_question", description="analytics event that means a user got the value"
    )
    min_users: int = Field(5, ge=1, description="distinct users who must reach it")


class ExitCriteria(StrictModel):
    slo_weeks_share: float = Field(
        0.9, gt=0, le=1, description="share of the quarter's weeks all SLOs must be met"
    )
    cost_variance: float = Field(
        0.10, gt=0, description="largest month-on-month change of token cost per request"
    )
    velocity_cv: float = Field(
        0.5, gt=0, description="largest coefficient of variation of deploys per week"
    )


class Launch(StrictModel):
    flag: str = Field("launch", description="the feature flag declare-ga turns to 100 %")
    service: str | None = Field(
        None, description="the production service launched (default: the only service)"
    )
    staging_service: str | None = Field(
        None, description="the service whose traffic is staging (the beta's 48 h run)"
    )
    staging_hours: float = Field(48, gt=0, description="hours staging must run without a SEV1")
    success_metric: SuccessMetric = Field(
        default_factory=SuccessMetric, description="the beta's success metric"
    )
    required_signoffs: list[str] = Field(
        default_factory=lambda: ["engineering", "product", "operations"],
        description="roles that must sign off on the launch checklist",
    )
    slo_green_hours: float = Field(
        24,
        gt=0,
        description="hours all SLOs must be green: the last ones before GA, the first after",
    )
    min_feedback: int = Field(10, ge=1, description="feedback submissions captured")
    max_lead_time: Duration = Field("30m", description="merge → production, at most")
    watch: Duration = Field("2h", description="how long declare-ga watches before the post")
    post_dir: str = Field("docs", description="where the launch post is written")
    docs_url: str = Field("", description="link to the docs in the launch post")
    status_url: str = Field("", description="link to the status page in the launch post")
    feedback_url: str = Field("", description="link to the feedback channel in the launch post")
    exit: ExitCriteria = Field(
        default_factory=ExitCriteria, description="the move to maintenance mode"
    )
