"""A/B tests on feature flags: per-variant metrics, a sequential verdict, the SRM check."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from prodloop.config import Config


def concluded_between(engine: Engine, config: Config, start: float, end: float) -> list[Any]:
    """Experiments concluded in [start, end); each result has `to_dict()`."""
    del engine, config, start, end
    return []
