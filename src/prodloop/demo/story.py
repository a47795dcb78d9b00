"""How the launch demo moves through simulated time: its sizes, its narration, and the
traffic loop every step of the scenario uses (users ask, the gateway measures, the loop
ticks)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prodloop.demo.people import Crowd
from prodloop.demo.settings import DemoPaths
from prodloop.demo.stage import Stage
from prodloop.demo.traffic import Outcome
from prodloop.loop import TickReport

DAY_S = 86_400.0
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class DemoSize:
    """How much the demo simulates; `QUICK` is the same story with fewer requests."""

    users: int = 36
    beta_users: int = 8
    staging_every_s: float = HOUR_S  # a beta burst (and a tick) this often
    staging_calls: int = 12
    live_every_s: float = 1800.0  # launch day, in production
    live_calls: int = 24
    quiet_every_s: float = 2 * HOUR_S  # ordinary hours between the events
    quiet_calls: int = 20
    incident_every_s: float = 30.0  # while v2 regresses
    incident_calls: int = 40
    rollout_every_s: float = 60.0  # while v3's canary is judged
    rollout_calls: int = 30
    experiment_thumbs: int = 300  # thumbs on the experiment's two variants, in all


FULL = DemoSize()
QUICK = DemoSize(
    users=24,
    beta_users=6,
    staging_every_s=4 * HOUR_S,
    staging_calls=12,
    live_every_s=3 * HOUR_S,
    live_calls=24,
    quiet_every_s=6 * HOUR_S,
    quiet_calls=24,
    incident_every_s=30.0,
    incident_calls=30,
    rollout_every_s=60.0,
    rollout_calls=30,
    experiment_thumbs=260,
)


@dataclass
class Results:
    """What the story produced, for the closing summary and for tests."""

    incident_id: int | None = None
    postmortem: str | None = None
    launch_post: str | None = None
    weekly_review: str | None = None
    weekly_review_html: str | None = None
    drill_reports: list[str] = field(default_factory=list)
    checklist_ok: bool = False


class Play:
    """One run of the scenario: the stage, the crowd, where files go, and the narration."""

    def __init__(
        self,
        stage: Stage,
        crowd: Crowd,
        paths: DemoPaths,
        size: DemoSize,
        echo: Callable[[str], None],
        day_one: float,
    ) -> None:
        self.stage = stage
        self.crowd = crowd
        self.paths = paths
        self.size = size
        self.echo = echo
        self.day_one = day_one  # midnight UTC of the story's first day
        self.results = Results()

    @property
    def now(self) -> float:
        return self.stage.now

    def when(self, ts: float | None = None) -> str:
        """`day 3 10:07`: the story's day and the UTC time of day."""
        moment = self.now if ts is None else ts
        day = int((moment - self.day_one) // DAY_S) + 1
        return f"day {day} {datetime.fromtimestamp(moment, UTC):%H:%M}"

    def say(self, text: str, ts: float | None = None) -> None:
        """One narrated line, stamped with simulated time."""
        self.echo(f"[{self.when(ts)}] {text}")

    def at(self, day: int, hour: float) -> float:
        """The moment `hour` (UTC, 9.5 is 09:30) on the story's `day`."""
        return self.day_one + (day - 1) * DAY_S + hour * HOUR_S

    async def traffic(
        self,
        service: str,
        until: float,
        every_s: float,
        calls: int,
        *,
        among_beta: bool = False,
        is_now_first: bool = False,
        after_tick: Callable[[TickReport, list[Outcome]], Awaitable[bool]] | None = None,
    ) -> list[Outcome]:
        """Bursts of users' questions every `every_s` until `until` (the last one at
        `until`; the first right now when `is_now_first`), each followed by a tick;
        `after_tick` returning True stops early."""
        stage, crowd = self.stage, self.crowd
        seen: list[Outcome] = []
        is_first = is_now_first
        while True:
            step = 0.0 if is_first else min(every_s, until - self.now)
            if step <= 0 and not is_first:
                break
            is_first = False
            stage.clock.advance(step)
            pool = crowd.beta if among_beta else None
            visitors = crowd.pick(max(3, math.ceil(calls / 3)), among=pool)
            per_person = max(1, math.ceil(calls / len(visitors)))
            outcomes = await stage.send(service, crowd.calls(visitors, per_person)[:calls])
            events = crowd.visit_events(visitors, self.now)
            events += crowd.answer_events(outcomes, self.now)
            await stage.post_events(events)
            report = await stage.tick()
            seen += outcomes
            if after_tick is not None and await after_tick(report, outcomes):
                break
        return seen
