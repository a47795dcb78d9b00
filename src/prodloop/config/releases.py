"""How canary rollouts move: steps, holds, analysis cadence and when to give up."""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import Field, field_validator

from prodloop.config.base import Duration, StrictModel


def check_steps(steps: list[float]) -> list[float]:
    """Canary weights must rise strictly, stay within (0, 100] and end at 100."""
    if not steps:
        raise ValueError("needs at least one step")
    for before, after in pairwise(steps):
        if after <= before:
            raise ValueError(f"steps must rise: {after:g} follows {before:g}")
    if steps[0] <= 0 or steps[-1] > 100:
        raise ValueError("every step is a percentage in (0, 100]")
    if steps[-1] != 100:
        raise ValueError("the last step must be 100 (the promotion)")
    return steps


class Releases(StrictModel):
    steps: list[float] = Field(
        default_factory=lambda: [5.0, 25.0, 50.0, 100.0],
        description="canary traffic per step, in percent; reaching 100 promotes",
    )
    hold: Duration = Field("5m", description="how long each step is held before the next")
    # 10 s lets a canary that fails every request be rolled back within 15 s of its first
    # traffic (with the loop's 5 s tick); the judge stays valid however often it looks.
    analysis_interval: Duration = Field(
        "10s", description="how often the canary is judged against the stable version"
    )
    failure_limit: int = Field(
        2, ge=1, description="failed analyses that roll a canary back (Flagger's threshold)"
    )
    inconclusive_limit: int = Field(
        5, ge=1, description="inconclusive analyses in a row that pause a rollout and notify"
    )
    rollback_on_page: bool = Field(
        True, description="a page firing on the service during a rollout rolls it back"
    )
    no_data: Literal["fail", "inconclusive"] = Field(
        "fail",
        description="a check without its minimum sample fails (as in Flagger) or is inconclusive",
    )
    notify_severity: Literal["page", "ticket"] = Field(
        "ticket", description="severity label of rollback notifications, for paging routes"
    )
    probe_timeout_s: float = Field(
        3.0, gt=0, description="how long a deploy waits for the new upstream to answer"
    )

    @field_validator("steps")
    @classmethod
    def _steps_rise_to_100(cls, value: list[float]) -> list[float]:
        return check_steps(value)
