"""The GA watch: after declare-ga, a clean watch writes the launch post."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from prodloop.config import Config


def run_launch_watch(engine: Engine, config: Config, now: float) -> list[str]:
    """Advance the GA watch: pass it (and write the launch post) or fail it; what happened."""
    del engine, config, now
    return []
