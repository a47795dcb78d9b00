from __future__ import annotations

import asyncio
from typing import Any

import pytest

from prodloop.clock import ManualClock
from prodloop.config import RateLimit
from prodloop.gateway.limits import rate_limited, read_body, retry_after_s
from prodloop.gateway.replies import GatewayRefusal
from prodloop.ratelimit import TokenBucketLimiter


def test_burst_then_refill_with_a_manual_clock() -> None:
    clock = ManualClock()
    limiter = TokenBucketLimiter(rate_per_s=2.0, burst=3)
    assert [limiter.acquire("k", clock.now()) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("k", clock.now())
    assert wait == pytest.approx(0.5)
    assert limiter.acquire("other", clock.now()) == 0.0  # buckets are per key
    clock.advance(0.5)
    assert limiter.acquire("k", clock.now()) == 0.0
    assert limiter.acquire("k", clock.now()) > 0
    clock.advance(100)
    assert [limiter.acquire("k", clock.now()) for _ in range(4)][:3] == [0.0, 0.0, 0.0]


def test_sustained_rate_matches_the_limit() -> None:
    clock = ManualClock()
    limiter = TokenBucketLimiter(rate_per_s=10.0, burst=1)
    allowed = 0
    for _ in range(1000):  # 10 s of requests every 10 ms
        allowed += limiter.acquire("k", clock.now()) == 0.0
        clock.advance(0.01)
    assert 100 <= allowed <= 101


def test_from_config_and_default_burst() -> None:
    assert TokenBucketLimiter.from_config(RateLimit()) is None
    limiter = TokenBucketLimiter.from_config(RateLimit(requests_per_s=5))
    assert limiter is not None and limiter.burst == 10
    tiny = TokenBucketLimiter.from_config(RateLimit(requests_per_s=0.1))
    assert tiny is not None and tiny.burst == 1


def test_memory_stays_bounded() -> None:
    clock = ManualClock()
    limiter = TokenBucketLimiter(rate_per_s=1.0, burst=1, max_keys=100)
    for i in range(10_000):
        limiter.acquire(f"user-{i}", clock.now())
        clock.advance(0.001)
    assert len(limiter) <= 100


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_s(0.01) == 1
    assert retry_after_s(1.2) == 2
    refusal = rate_limited("user", 2.5)
    assert refusal.status_code == 429 and (b"retry-after", b"3") in refusal.headers


def _receiver(*chunks: bytes) -> Any:
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return receive


def test_read_body_joins_chunks_and_enforces_the_limit() -> None:
    assert asyncio.run(read_body(_receiver(b"ab", b"cd", b"e"), None, 5)) == b"abcde"
    with pytest.raises(GatewayRefusal) as declared:
        asyncio.run(read_body(_receiver(b"x"), 6, 5))  # refused before reading
    assert declared.value.status_code == 413
    with pytest.raises(GatewayRefusal) as counted:
        asyncio.run(read_body(_receiver(b"abc", b"def"), None, 5))
    assert counted.value.error_class == "too_large"
