"""The official `openai` SDK against the gateway over real sockets, as a user points it."""

from __future__ import annotations

import asyncio
import itertools
import time

import openai
import pytest

from prodloop.telemetry.pricing import PriceTable
from tests.gateway.conftest import GLOBAL_KEY, RICH, SEARCH_KEY, Gateway

MESSAGES = [{"role": "user", "content": "Say hello to the gateway, briefly."}]
PRICES = PriceTable()


def test_chat_completion(fresh: Gateway) -> None:
    answer = fresh.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert answer.choices[0].message.content
    assert answer.usage is not None
    event = fresh.sink.last()
    assert (event.service, event.version, event.route) == ("chat", "v1", "/v1/chat/completions")
    assert (event.status, event.error_class, event.is_stream) == (200, None, False)
    assert event.model == "gpt-4o-mini"
    assert event.provider == "openai-compatible"
    assert event.input_tokens == answer.usage.prompt_tokens
    assert event.output_tokens == answer.usage.completion_tokens == 24
    assert event.cost_usd == pytest.approx(
        PRICES.cost("gpt-4o-mini", event.input_tokens, event.output_tokens)
    )
    assert event.ttft_ms is None
    assert event.overhead_ms is not None and 0 < event.overhead_ms < event.latency_ms
    assert event.request_id.startswith("req_") and len(event.trace_id) == 32


def test_chat_stream_without_usage_gets_no_usage_chunk(fresh: Gateway) -> None:
    stream = fresh.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    chunks = list(stream)
    assert all(chunk.choices for chunk in chunks)  # no usage-only chunk leaked
    assert all(chunk.usage is None for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(text.split()) == 24
    event = fresh.sink.last()
    assert event.is_stream and event.status == 200
    assert (event.output_tokens, event.input_tokens > 0) == (24, True)
    assert event.cost_usd is not None and event.cost_usd > 0
    assert event.ttft_ms is not None and 0 < event.ttft_ms <= event.latency_ms


def test_chat_stream_with_usage_gets_it(fresh: Gateway) -> None:
    stream = fresh.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 24
    assert fresh.sink.last().output_tokens == 24


def test_stream_chunks_arrive_one_by_one(fresh: Gateway) -> None:
    stream = fresh.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-fake-chunk-delay-ms": "40"},
    )
    arrivals = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == 8
    # Buffering would deliver the chunks together; passed through, they keep their spacing.
    assert sorted(gaps)[len(gaps) // 2] > 0.02
    event = fresh.sink.last()
    assert event.ttft_ms is not None and event.latency_ms - event.ttft_ms > 200


def test_tokens_of_every_kind_and_the_answered_model(fresh: Gateway) -> None:
    client = fresh.client(SEARCH_KEY)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    plain = fresh.sink.wait_for(1)[-1]
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    streamed = fresh.sink.wait_for(2)[-1]
    for event in (plain, streamed):
        assert (event.service, event.version) == ("search", "s1")
        assert event.model == RICH.model  # the answer's model overrides the request's
        assert (event.output_tokens, event.cached_tokens, event.reasoning_tokens) == (10, 6, 4)
        assert event.cost_usd == pytest.approx(
            PRICES.cost(RICH.model, event.input_tokens, 10, cached_tokens=6)
        )


def test_completions(fresh: Gateway) -> None:
    answer = fresh.client().completions.create(model="gpt-3.5-turbo", prompt="Once upon a time")
    assert answer.choices[0].text
    event = fresh.sink.last()
    assert (event.route, event.output_tokens, event.model) == (
        "/v1/completions",
        24,
        "gpt-3.5-turbo",
    )
    chunks = list(
        fresh.client().completions.create(model="gpt-3.5-turbo", prompt="Once", stream=True)
    )
    assert all(chunk.choices for chunk in chunks)
    assert fresh.sink.wait_for(2)[-1].output_tokens == 24


def test_embeddings(fresh: Gateway) -> None:
    answer = fresh.client().embeddings.create(
        model="text-embedding-3-small", input=["first text", "second text"]
    )
    assert len(answer.data) == 2 and len(answer.data[0].embedding) == 16
    event = fresh.sink.last()
    assert event.route == "/v1/embeddings"
    assert event.input_tokens == answer.usage.prompt_tokens > 0
    assert event.output_tokens == 0
    assert event.cost_usd == pytest.approx(
        PRICES.cost("text-embedding-3-small", event.input_tokens, 0)
    )


def test_responses_api(fresh: Gateway) -> None:
    answer = fresh.client().responses.create(model="gpt-4.1-mini", input="Hello there")
    assert answer.output_text and answer.usage is not None
    event = fresh.sink.last()
    assert (event.route, event.model, event.output_tokens) == ("/v1/responses", "gpt-4.1-mini", 24)
    assert event.input_tokens == answer.usage.input_tokens


def test_responses_api_stream(fresh: Gateway) -> None:
    events = list(
        fresh.client().responses.create(model="gpt-4.1-mini", input="Hello there", stream=True)
    )
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == 8
    event = fresh.sink.last()
    assert event.is_stream and event.output_tokens == 24
    assert event.ttft_ms is not None and event.cost_usd is not None


def test_models_list(fresh: Gateway) -> None:
    models = [model.id for model in fresh.client().models.list()]
    assert "gpt-4o-mini" in models
    event = fresh.sink.last()
    assert (event.route, event.status, event.cost_usd) == ("/v1/models", 200, 0.0)


def test_response_headers(fresh: Gateway) -> None:
    raw = fresh.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    event = fresh.sink.last()
    assert raw.headers["x-prodloop-request-id"] == event.request_id
    assert raw.headers["x-prodloop-service"] == "chat"
    assert raw.headers["x-prodloop-version"] == "v1"
    assert 0 <= float(raw.headers["x-prodloop-overhead-ms"]) < event.latency_ms
    assert raw.parse().choices[0].message.content


def test_base_url_without_v1_reaches_the_same_endpoint(fresh: Gateway) -> None:
    client = fresh.client(base_url=f"{fresh.url}")
    assert client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices
    assert fresh.sink.last().route == "/v1/chat/completions"


def test_concurrent_streams_are_metered_apart(fresh: Gateway) -> None:
    async def one(client: openai.AsyncOpenAI, i: int) -> int:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            user=f"user-{i}",
            extra_headers={"x-fake-chunk-delay-ms": "5"},
        )
        chunks = [chunk async for chunk in stream]
        assert all(chunk.choices and chunk.usage is None for chunk in chunks)
        return len(chunks)

    async def run() -> list[int]:
        client = openai.AsyncOpenAI(base_url=f"{fresh.url}/v1", api_key=GLOBAL_KEY, max_retries=0)
        async with client:
            return await asyncio.gather(*(one(client, i) for i in range(24)))

    assert set(asyncio.run(run())) == {10}
    events = fresh.sink.wait_for(24)
    assert sorted(e.user or "" for e in events) == sorted(f"user-{i}" for i in range(24))
    assert all(e.output_tokens == 24 and e.ttft_ms is not None for e in events)
    assert len({e.request_id for e in events}) == 24
