"""What every control-plane route reaches: the store, the pipeline, metrics, keys, clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.engine import Engine

from prodloop.analytics.capture import EventWriter
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
    # Per client address on the public ingest routes; built from the config so the app
    # factory need not know about it. None: the limit is off.
    public_ip_limiter: TokenBucketLimiter | None = field(init=False, default=None)
    # Analytics batches of concurrent requests share one commit.
    event_writer: EventWriter = field(init=False)

    def __post_init__(self) -> None:
        limiter = TokenBucketLimiter.from_config(self.config.feedback.public.per_ip_limit)
        object.__setattr__(self, "public_ip_limiter", limiter)
        object.__setattr__(self, "event_writer", EventWriter(self.engine))


def get_state(request: Request) -> ControlState:
    state: ControlState = request.app.state.control
    return state
