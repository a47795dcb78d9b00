"""What the loop does for reviews and the launch each tick."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from prodloop.config import Config


def run_scheduled_reviews(engine: Engine, config: Config, now: float) -> list[str]:
    """Write the weekly review and post the daily check-in when due; what was done."""
    del engine, config, now
    return []


def run_launch_watch(engine: Engine, config: Config, now: float) -> list[str]:
    """Advance the GA watch: pass it (and write the launch post) or fail it; what happened."""
    del engine, config, now
    return []
