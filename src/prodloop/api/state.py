"""What every control-plane route reaches: the store, the pipeline, metrics, keys, clock."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.engine import Engine

from prodloop.api.auth import Keys
from prodloop.clock import Clock
from prodloop.config import Config
from prodloop.ratelimit import TokenBucketLimiter
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.pipeline import Pipeline
from prodloop.telemetry.pricing import PriceTable


@dataclass(frozen=True, slots=True)
class ControlState:
    config: Config
    engine: Engine
    pipeline: Pipeline
    metrics: Metrics
    clock: Clock
    prices: PriceTable
    keys: Keys
    ingest_limiter: TokenBucketLimiter | None  # None: the limit is off


def get_state(request: Request) -> ControlState:
    state: ControlState = request.app.state.control
    return state
