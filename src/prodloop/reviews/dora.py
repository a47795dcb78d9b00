"""The four DORA figures over a period, from deployments and incidents.

* deployment frequency: deployments that went live (took all the traffic) in the period;
* lead time for changes: merge → live of those deployments (the ones with a merge time);
* change failure rate: of the deployments started in the period that reached a verdict,
  the share rolled back or aborted (a canary that rolled itself back is a failed change);
* time to restore: detection → mitigation (or resolution, when never marked mitigated) of
  the incidents restored in the period, drills left out.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.store.schema import deployments, incidents

FAILED = ("rolled_back", "aborted")
FINISHED = ("live", "superseded", *FAILED)


@dataclass(frozen=True, slots=True)
class Dora:
    """DORA figures of [start, end); None where nothing happened to measure."""

    start: float
    end: float
    deployments: int  # went live in the period
    deploys_per_day: float
    lead_time_median_s: float | None
    lead_time_max_s: float | None
    changes: int  # started in the period and finished (live, superseded, rolled back, aborted)
    failed_changes: int
    change_failure_rate: float | None
    restores: int
    time_to_restore_median_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {name: getattr(self, name) for name in self.__slots__}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def dora(engine: Engine, config: Config, start: float, end: float) -> Dora:
    """Deployment frequency, lead time merge → live, change failure rate, time to restore."""
    del config  # every service counts; the signature leaves room for a per-service filter
    with engine.connect() as conn:
        live = conn.execute(
            select(deployments.c.merged_at, deployments.c.live_at).where(
                and_(deployments.c.live_at >= start, deployments.c.live_at < end)
            )
        ).all()
        started = (
            conn.execute(
                select(deployments.c.status).where(
                    and_(deployments.c.created_at >= start, deployments.c.created_at < end)
                )
            )
            .scalars()
            .all()
        )
        restored = conn.execute(
            select(
                incidents.c.detected_at, incidents.c.mitigated_at, incidents.c.resolved_at
            ).where(incidents.c.is_drill.is_(False))
        ).all()
    lead_times = [
        float(live_at - merged_at)
        for merged_at, live_at in live
        if merged_at is not None and live_at >= merged_at
    ]
    finished = [status for status in started if status in FINISHED]
    failed = sum(1 for status in finished if status in FAILED)
    restore_times = []
    for detected_at, mitigated_at, resolved_at in restored:
        back_at = mitigated_at if mitigated_at is not None else resolved_at
        if back_at is not None and start <= back_at < end:
            restore_times.append(max(0.0, float(back_at - detected_at)))
    days = (end - start) / 86400.0
    return Dora(
        start=start,
        end=end,
        deployments=len(live),
        deploys_per_day=len(live) / days if days > 0 else 0.0,
        lead_time_median_s=_median(lead_times),
        lead_time_max_s=max(lead_times) if lead_times else None,
        changes=len(finished),
        failed_changes=failed,
        change_failure_rate=failed / len(finished) if finished else None,
        restores=len(restore_times),
        time_to_restore_median_s=_median(restore_times),
    )
