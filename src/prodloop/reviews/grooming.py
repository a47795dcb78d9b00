"""Backlog grooming: feedback clusters, post-mortem action items and roadmap items ranked
by RICE."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from prodloop.config import Config


def groom(engine: Engine, config: Config, now: float) -> list[Any]:
    """The ranked backlog, best first; each item has `to_dict()`."""
    del engine, config, now
    return []
