"""Rage clicks: `analytics.rage_click_count` or more clicks within `rage_click_window_s` in
one spot (within `rage_click_radius` of the first, in shares of the viewport), by one
user in one session (the user alone when the session is unknown)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from prodloop.config.feedback import AnalyticsSettings


@dataclass(frozen=True, slots=True)
class Click:
    ts: float
    x: float  # 0..1 of the viewport width
    y: float  # 0..1 of the viewport height
    distinct_id: str
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class RageClick:
    """One burst: where (the mean position of its clicks), who, how many, when."""

    x: float
    y: float
    clicks: int
    distinct_id: str
    session_id: str | None
    started_at: float
    ended_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RageSpot:
    """Bursts grouped by where they happened, for "where do people rage-click most"."""

    x: float
    y: float
    bursts: int
    users: int
    clicks: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_rage_clicks(clicks: Iterable[Click], settings: AnalyticsSettings) -> list[RageClick]:
    """Every burst of rage clicks, in time order; a click belongs to one burst at most."""
    visits: dict[tuple[str, str | None], list[Click]] = defaultdict(list)
    for click in clicks:
        visits[(click.distinct_id, click.session_id)].append(click)
    found: list[RageClick] = []
    for (user, session), visit in visits.items():
        visit.sort(key=lambda c: c.ts)
        used = [False] * len(visit)
        for i, anchor in enumerate(visit):
            if used[i]:
                continue
            near = [i]
            for j in range(i + 1, len(visit)):
                other = visit[j]
                if other.ts - anchor.ts > settings.rage_click_window_s:
                    break
                distance = math.hypot(other.x - anchor.x, other.y - anchor.y)
                if not used[j] and distance <= settings.rage_click_radius:
                    near.append(j)
            if len(near) < settings.rage_click_count:
                continue
            for j in near:
                used[j] = True
            burst = [visit[j] for j in near]
            found.append(
                RageClick(
                    x=sum(c.x for c in burst) / len(burst),
                    y=sum(c.y for c in burst) / len(burst),
                    clicks=len(burst),
                    distinct_id=user,
                    session_id=session,
                    started_at=burst[0].ts,
                    ended_at=burst[-1].ts,
                )
            )
    found.sort(key=lambda r: r.started_at)
    return found


def top_spots(bursts: Sequence[RageClick], radius: float, limit: int = 5) -> list[RageSpot]:
    """Bursts pooled on a grid of cells twice the radius wide, the most bursts first."""
    cell = 2 * radius
    pools: dict[tuple[int, int], list[RageClick]] = defaultdict(list)
    for burst in bursts:
        pools[(int(burst.x // cell), int(burst.y // cell))].append(burst)
    spots = [
        RageSpot(
            x=round(sum(b.x for b in pool) / len(pool), 4),
            y=round(sum(b.y for b in pool) / len(pool), 4),
            bursts=len(pool),
            users=len({b.distinct_id for b in pool}),
            clicks=sum(b.clicks for b in pool),
        )
        for pool in pools.values()
    ]
    spots.sort(key=lambda s: (-s.bursts, -s.clicks, s.y, s.x))
    return spots[:limit]
