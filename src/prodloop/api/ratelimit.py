"""Token buckets, one per key: a sustained rate and a burst."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from prodloop.clock import Clock
from prodloop.config import RateLimit


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows `requests_per_s` per key on average and `burst` at once; 0 turns it off."""

    def __init__(self, limit: RateLimit, clock: Clock) -> None:
        self.rate = limit.requests_per_s
        self.burst = float(limit.burst or max(1.0, 2 * self.rate))
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def is_enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds until one is free."""
        if not self.is_enabled:
            return 0.0
        now = self._clock.now()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            # A wall clock stepping back must not drain the bucket.
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate
