"""Request limits: token-bucket rate limits per key and per user, and the body size cap."""

from __future__ import annotations

import math
from typing import Any

from prodloop.config import RateLimit
from prodloop.gateway.replies import GatewayRefusal

Receive = Any  # the ASGI receive callable
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


def retry_after_s(wait_s: float) -> int:
    """A Retry-After value: whole seconds, at least 1."""
    return max(1, math.ceil(wait_s))


def rate_limited(what: str, wait_s: float) -> GatewayRefusal:
    """The 429 refusal for an exhausted bucket."""
    seconds = retry_after_s(wait_s)
    return GatewayRefusal(
        429,
        f"rate limit exceeded for this {what}; retry after {seconds}s",
        error_class="rate_limited",
        error_type="rate_limit_error",
        code="rate_limit_exceeded",
        headers=((b"retry-after", str(seconds).encode()),),
    )


def too_large(limit: int) -> GatewayRefusal:
    """The 413 refusal for a body over `limit` bytes."""
    return GatewayRefusal(
        413,
        f"request body is larger than the gateway's limit of {limit} bytes",
        error_class="too_large",
        code="request_too_large",
    )


async def read_body(receive: Receive, content_length: int | None, limit: int) -> bytes:
    """The whole request body, refusing (413) past `limit` bytes.

    The declared Content-Length is checked before reading anything; a chunked body is
    counted as it arrives, so an oversized one is refused without being held in memory.
    """
    if content_length is not None and content_length > limit:
        raise too_large(limit)
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise too_large(limit)
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            break  # the client left; what follows notices when it answers
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)
