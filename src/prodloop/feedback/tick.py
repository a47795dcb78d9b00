"""What the loop does for feedback each tick."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from prodloop.config import Config


def run_feedback(engine: Engine, config: Config, now: float) -> int:
    """Tell the support channel about newly flagged feedback; how many were sent."""
    del engine, config, now
    return 0
