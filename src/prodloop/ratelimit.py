"""Token buckets, one per key: a sustained rate and a burst, with time passed in."""

from __future__ import annotations

from prodloop.config import RateLimit

_TOKEN_SLACK = 1e-4


class TokenBucketLimiter:
    """One token bucket per key; time is passed in, so tests drive it with a manual clock.

    Buckets that have refilled are the same as absent ones, so they are dropped when the
    table grows past `max_keys`: memory stays bounded however many users pass by.
    """

    __slots__ = ("_buckets", "burst", "max_keys", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: float, *, max_keys: int = 100_000) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.burst = burst if burst > 0 else max(1.0, 2 * rate_per_s)
        self.max_keys = max_keys
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last refill time]

    @classmethod
    def from_config(cls, limit: RateLimit) -> TokenBucketLimiter | None:
        """A limiter for a configured limit, or None when the limit is off (rate 0)."""
        if limit.requests_per_s <= 0:
            return None
        return cls(limit.requests_per_s, float(limit.burst))

    def acquire(self, key: str, now: float) -> float:
        """Take one token for `key`: 0.0 when allowed, else seconds until a token is free."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            self._buckets[key] = [self.burst - 1.0, now]
            return 0.0
        tokens = min(self.burst, bucket[0] + max(0.0, now - bucket[1]) * self.rate_per_s)
        bucket[1] = now
        # Epoch seconds carry ~0.2 µs of float error; forgive that much of a token.
        if tokens >= 1.0 - _TOKEN_SLACK:
            bucket[0] = max(0.0, tokens - 1.0)
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate_per_s

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        rate, burst = self.rate_per_s, self.burst
        full = [k for k, (t, last) in self._buckets.items() if t + (now - last) * rate >= burst]
        for key in full:
            del self._buckets[key]
        # Still full of busy keys: forget the oldest, which at worst grants them a burst.
        excess = len(self._buckets) - int(self.max_keys * 0.9)
        if excess > 0:
            for key in list(self._buckets)[:excess]:
                del self._buckets[key]
