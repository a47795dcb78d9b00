"""Random request events and the exact SLIs a full scan of them gives."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from prodloop.telemetry.events import ERROR_CLASSES, SERVER_ERRORS, RequestEvent
from prodloop.telemetry.histogram import quantile_rank

HOUR0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, hour-aligned


def random_events(rng: random.Random, n: int, start: float, span_s: float) -> list[RequestEvent]:
    """`n` varied events with timestamps spread over [start, start + span_s)."""
    events = []
    for _ in range(n):
        is_stream = rng.random() < 0.4
        has_cost = rng.random() < 0.8
        error_class = rng.choice(ERROR_CLASSES) if rng.random() < 0.15 else None
        events.append(
            RequestEvent(
                ts=start + rng.random() * span_s,
                service=rng.choice(["chat", "search"]),
                version=rng.choice(["v1", "v2", "v3"]),
                route=rng.choice(["/v1/chat/completions", "/v1/embeddings"]),
                status=200 if error_class is None else 503,
                latency_ms=rng.lognormvariate(6.0, 1.0),
                request_id=f"req-{rng.getrandbits(32):08x}",
                model=rng.choice(["gpt-4o", "gpt-4o-mini", None]),
                error_class=error_class,
                ttft_ms=rng.uniform(20, 900) if is_stream else None,
                is_stream=is_stream,
                input_tokens=rng.randint(0, 4000),
                output_tokens=rng.randint(0, 1000),
                cached_tokens=rng.randint(0, 100),
                reasoning_tokens=rng.randint(0, 50),
                cost_usd=rng.uniform(0, 0.01) if has_cost else None,
                guardrails=tuple(
                    rng.sample(["pii", "max_tokens", "blocked"], rng.choice([0, 0, 1, 2]))
                ),
                user=rng.choice(["ann", "bob", None]),
            )
        )
    return events


def exact_quantile(values: Sequence[float], q: float) -> float:
    """The value at rank ceil(q * n), the histogram's own rank definition."""
    ordered = sorted(values)
    return ordered[quantile_rank(q, len(ordered)) - 1]


def select(
    events: Sequence[RequestEvent], start: float, end: float, /, **filters: str
) -> list[RequestEvent]:
    """The events of [start, end) matching every filter (model "" = unknown model)."""
    chosen = []
    for event in events:
        if not start <= event.ts < end:
            continue
        fields = {
            "service": event.service,
            "version": event.version,
            "route": event.route,
            "model": event.model or "",
        }
        if all(fields[name] == value for name, value in filters.items()):
            chosen.append(event)
    return chosen


def exact_slis(events: Sequence[RequestEvent]) -> dict[str, Any]:
    """What a full scan of `events` says, for comparison with query_slis."""
    n = len(events)
    errors = sum(1 for e in events if e.error_class in SERVER_ERRORS)
    successes = sum(1 for e in events if e.error_class is None)
    known = [e.cost_usd for e in events if e.cost_usd is not None]
    guarded = sum(1 for e in events if e.guardrails)
    return {
        "requests": n,
        "errors": errors,
        "successes": successes,
        "error_rate": errors / n if n else None,
        "success_rate": successes / n if n else None,
        "input_tokens": sum(e.input_tokens for e in events),
        "output_tokens": sum(e.output_tokens for e in events),
        "cached_tokens": sum(e.cached_tokens for e in events),
        "reasoning_tokens": sum(e.reasoning_tokens for e in events),
        "streams": sum(1 for e in events if e.is_stream),
        "cost_total_usd": sum(known),
        "cost_per_request_usd": sum(known) / len(known) if known else None,
        "cost_unknown": n - len(known),
        "guardrail_requests": guarded,
        "guardrail_trigger_rate": guarded / n if n else None,
        "guardrail_counts": dict(Counter(name for e in events for name in e.guardrails)),
        "errors_by_class": dict(Counter(e.error_class for e in events if e.error_class)),
        "latencies": [e.latency_ms for e in events],
        "ttfts": [e.ttft_ms for e in events if e.ttft_ms is not None],
    }
