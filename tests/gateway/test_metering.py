from __future__ import annotations

from typing import Any

import orjson
import pytest

from prodloop.gateway.metering import (
    Exchange,
    StreamMeter,
    Usage,
    meter_json_body,
    parse_usage,
    provider_for_url,
    usage_and_model,
)
from prodloop.gateway.sse import SseParser
from prodloop.telemetry.pricing import PriceTable

CHAT_USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 40,
    "total_tokens": 140,
    "prompt_tokens_details": {"cached_tokens": 30},
    "completion_tokens_details": {"reasoning_tokens": 12},
}
RESPONSES_USAGE = {
    "input_tokens": 100,
    "input_tokens_details": {"cached_tokens": 30},
    "output_tokens": 40,
    "output_tokens_details": {"reasoning_tokens": 12},
    "total_tokens": 140,
}


def test_both_usage_dialects() -> None:
    expected = Usage(100, 40, 30, 12)
    assert parse_usage(CHAT_USAGE) == expected
    assert parse_usage(RESPONSES_USAGE) == expected
    assert parse_usage({"prompt_tokens": 7, "total_tokens": 7}) == Usage(7, 0)  # embeddings
    assert parse_usage(None) is None
    assert parse_usage({"total_tokens": 3}) is None
    assert parse_usage({"prompt_tokens": "many", "completion_tokens": -1}) == Usage(0, 0)


def test_usage_and_model_look_inside_response() -> None:
    event = {"type": "response.completed", "response": {"model": "o3", "usage": RESPONSES_USAGE}}
    assert usage_and_model(event) == (Usage(100, 40, 30, 12), "o3")
    assert usage_and_model({"model": "gpt-4o", "usage": None}) == (None, "gpt-4o")
    assert usage_and_model([1]) == (None, None)


def test_big_bodies_are_searched_not_parsed() -> None:
    data = [{"object": "embedding", "index": i, "embedding": [0.1] * 512} for i in range(40)]
    body = orjson.dumps(
        {"object": "list", "data": data, "model": "text-embedding-3-small", "usage": CHAT_USAGE}
    )
    assert len(body) > 64 * 1024
    assert meter_json_body(body) == (Usage(100, 40, 30, 12), "text-embedding-3-small")
    small = orjson.dumps({"model": "m", "usage": CHAT_USAGE})
    assert meter_json_body(small) == (Usage(100, 40, 30, 12), "m")
    assert meter_json_body(b"not json") == (None, None)


def test_provider_names() -> None:
    assert provider_for_url("https://api.openai.com/v1") == "openai"
    assert provider_for_url("https://myres.openai.azure.com/openai") == "azure.ai.openai"
    assert provider_for_url("http://127.0.0.1:9000/v1") == "openai-compatible"


def _sse(payload: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(payload) + b"\n\n"


def _chat_stream(*, with_usage: bool) -> bytes:
    base: dict[str, Any] = {"object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18"}
    parts = [
        _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        _sse({**base, "choices": [{"index": 0, "delta": {"content": "Hel"}}]}),
        _sse({**base, "choices": [{"index": 0, "delta": {"content": "lo"}}]}),
        _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ]
    if with_usage:
        parts.append(_sse({**base, "choices": [], "usage": CHAT_USAGE}))
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def _run(meter: StreamMeter, stream: bytes, size: int) -> tuple[bytes, list[int]]:
    """Feed the stream in `size`-byte chunks; returns kept bytes and when content was seen."""
    parser = SseParser()
    kept = b""
    content_at: list[int] = []
    for offset in range(0, len(stream), size):
        for event in parser.feed(stream[offset : offset + size]):
            if meter.keep(event):
                kept += event.raw
        if meter.has_content and not content_at:
            content_at.append(offset)
    for event in parser.close():
        if meter.keep(event):
            kept += event.raw
    return kept, content_at


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
def test_stripped_usage_chunk_never_reaches_the_client(size: int) -> None:
    meter = StreamMeter("/v1/chat/completions", strip_usage=True)
    kept, _ = _run(meter, _chat_stream(with_usage=True), size)
    assert kept == _chat_stream(with_usage=False)
    assert meter.usage == Usage(100, 40, 30, 12)
    assert meter.model == "gpt-4o-mini-2024-07-18"


def test_usage_asked_by_the_client_passes_through() -> None:
    meter = StreamMeter("/v1/chat/completions", strip_usage=False)
    kept, _ = _run(meter, _chat_stream(with_usage=True), 10_000)
    assert kept == _chat_stream(with_usage=True)
    assert meter.usage == Usage(100, 40, 30, 12)


def test_first_content_is_not_the_role_chunk() -> None:
    stream = _chat_stream(with_usage=False)
    meter = StreamMeter("/v1/chat/completions", strip_usage=False)
    role_chunk_end = stream.index(b"\n\n") + 2
    _, content_at = _run(meter, stream, role_chunk_end)
    assert content_at == [role_chunk_end]  # the chunk after the role chunk


def test_responses_stream_usage_and_content() -> None:
    created = {"type": "response.created", "response": {"model": "gpt-4.1", "usage": None}}
    stream = (
        _sse(created, "response.created")
        + _sse({"type": "response.output_text.delta", "delta": "hi"}, "response.output_text.delta")
        + _sse(
            {
                "type": "response.completed",
                "response": {"model": "gpt-4.1", "usage": RESPONSES_USAGE},
            },
            "response.completed",
        )
    )
    meter = StreamMeter("/v1/responses", strip_usage=False)
    kept, content_at = _run(meter, stream, 5)
    assert kept == stream
    assert meter.usage == Usage(100, 40, 30, 12) and meter.model == "gpt-4.1"
    assert content_at and content_at[0] > len(_sse(created, "response.created")) - 5


def _exchange(**fields: Any) -> Exchange:
    return Exchange(ts=1.0, started_at=10.0, request_id="req_1", **fields)


def test_event_cost_tokens_and_multiplier() -> None:
    prices = PriceTable()
    ex = _exchange(model="gpt-4o-mini", usage=Usage(1000, 100, 400, 0), status=200)
    ex.upstream_wait_s = 0.040
    ex.finished_at = 10.050
    event = ex.to_event(prices, 99.0)
    assert event.latency_ms == pytest.approx(50.0)
    assert event.overhead_ms == pytest.approx(10.0)
    assert event.cost_usd == pytest.approx((600 * 0.15 + 400 * 0.075 + 100 * 0.60) / 1e6)
    inflated = _exchange(model="gpt-4o-mini", usage=Usage(1000, 100), token_multiplier=2.0)
    event = inflated.to_event(prices, 10.1)
    assert (event.input_tokens, event.output_tokens) == (2000, 200)


def test_unknown_cost_is_none_never_zero() -> None:
    prices = PriceTable()
    ok = {"status": 200}
    assert (
        _exchange(model="my-own-llm", usage=Usage(10, 10), **ok).to_event(prices, 11).cost_usd
        is None
    )
    assert _exchange(model="gpt-4o", usage=None, **ok).to_event(prices, 11).cost_usd is None
    assert _exchange(model=None, usage=Usage(10, 10), **ok).to_event(prices, 11).cost_usd is None
    cut = _exchange(model="gpt-4o", status=499, error_class="client_disconnect")
    assert cut.to_event(prices, 11).cost_usd is None
    late = _exchange(model="gpt-4o", status=504, error_class="timeout")
    assert late.to_event(prices, 11).cost_usd is None


def test_nothing_generated_costs_nothing() -> None:
    prices = PriceTable()
    refused = _exchange(model="my-own-llm", status=400, error_class="guardrail_blocked")
    assert refused.to_event(prices, 11).cost_usd == 0.0
    failed = _exchange(model="gpt-4o", status=503, error_class="upstream_5xx")
    assert failed.to_event(prices, 11).cost_usd == 0.0
    assert _exchange(model=None, status=200).to_event(prices, 11).cost_usd == 0.0  # /v1/models
