"""tick(engine, config, now): the one place that runs every evaluator in order."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.telemetry.rollups import prune


@dataclass(frozen=True)
class TickReport:
    now: float
    pruned: dict[str, int] = field(default_factory=dict)


def tick(engine: Engine, config: Config, now: float) -> TickReport:
    """Run every evaluator once for `now`. Later evaluators (SLOs, alerts, rollouts) join here."""
    pruned = prune(engine, config.telemetry, now)
    return TickReport(now=now, pruned=pruned)
