"""The SDK's own behaviour: event fields, batching, retries, bounded buffer, never raising."""

from __future__ import annotations

import asyncio
import re
import time
from types import SimpleNamespace

import pytest

import prodloop
from prodloop.sdk import track as sdk
from prodloop.sdk.sender import SenderSettings
from tests.sdk.conftest import ScriptedIngest
from tests.support import free_port


def test_an_event_carries_what_the_call_reported(scripted: ScriptedIngest) -> None:
    prodloop.configure(endpoint=scripted.url, key="k1", service="svc", version="v9")
    before = time.time()
    with prodloop.track(route="chat", model="gpt-4o", provider="openai", user="u7") as call:
        call.usage(input_tokens=12, output_tokens=3, cached_tokens=2, reasoning_tokens=1)
        call.guardrail("pii")
        call.guardrail("pii")
    assert prodloop.flush(5)
    (event,) = scripted.events
    assert before <= event["ts"] <= time.time()
    assert event["latency_ms"] >= 0
    assert re.fullmatch(r"[0-9a-f]{32}", event["request_id"])
    assert {k: v for k, v in event.items() if k not in ("ts", "latency_ms", "request_id")} == {
        "service": "svc", "version": "v9", "route": "chat", "status": 0, "source": "sdk",
        "model": "gpt-4o", "provider": "openai", "user": "u7", "input_tokens": 12,
        "output_tokens": 3, "cached_tokens": 2, "reasoning_tokens": 1, "guardrails": ["pii"],
    }  # fmt: skip
    assert scripted.auth == ["Bearer k1"]


def test_an_exception_is_recorded_and_reraised(scripted: ScriptedIngest) -> None:
    class ProviderError(Exception):
        status_code = 503

    prodloop.configure(endpoint=scripted.url)
    with pytest.raises(ProviderError), prodloop.track(route="chat"):
        raise ProviderError("overloaded")
    with prodloop.track(route="chat") as call:
        call.fail()
    assert prodloop.flush(5)
    first, second = scripted.events
    assert (first["error_class"], first["status"]) == ("app_error", 503)
    assert (second["error_class"], second["status"]) == ("app_error", 0)


def test_decorators_keep_the_function_and_read_usage_from_responses(
    scripted: ScriptedIngest,
) -> None:
    prodloop.configure(endpoint=scripted.url)
    response = SimpleNamespace(
        model="gpt-4o-mini-2024-07-18",
        usage=SimpleNamespace(
            prompt_tokens=100,
            completion_tokens=20,
            prompt_tokens_details=SimpleNamespace(cached_tokens=40),
            completion_tokens_details=SimpleNamespace(reasoning_tokens=5),
        ),
    )

    @prodloop.track(model="gpt-4o-mini")
    def answer(question: str) -> SimpleNamespace:
        """Answers."""
        return response

    @prodloop.track()
    async def anthropic_style() -> dict[str, object]:
        return {"model": "claude-3-haiku", "usage": {"input_tokens": 9, "output_tokens": 4}}

    assert answer.__name__ == "answer" and answer.__doc__ == "Answers."
    assert answer("why?") is response
    assert asyncio.run(anthropic_style())["model"] == "claude-3-haiku"
    assert prodloop.flush(5)
    first, second = scripted.events
    assert first["route"] == "answer"
    assert first["model"] == "gpt-4o-mini-2024-07-18"
    assert (first["input_tokens"], first["output_tokens"]) == (100, 20)
    assert (first["cached_tokens"], first["reasoning_tokens"]) == (40, 5)
    assert (second["route"], second["model"], second["input_tokens"]) == (
        "anthropic_style",
        "claude-3-haiku",
        9,
    )


def test_async_context_manager_and_current_call(scripted: ScriptedIngest) -> None:
    prodloop.configure(endpoint=scripted.url)

    async def main() -> None:
        assert prodloop.current_call() is None
        async with prodloop.track(route="chat") as call:
            assert prodloop.current_call() is call
            call.model = "gpt-4o"
        assert prodloop.current_call() is None

    asyncio.run(main())
    assert prodloop.flush(5)
    assert scripted.events[0]["model"] == "gpt-4o"


def test_5xx_and_429_are_retried(scripted: ScriptedIngest) -> None:
    scripted.statuses = [503, 429]
    prodloop.configure(endpoint=scripted.url, key="k", flush_interval_s=60)
    for _ in range(2):
        with prodloop.track(route="chat"):
            pass
    assert prodloop.flush(10)
    assert len(scripted.auth) == 3
    assert len(scripted.events) == 2
    assert sdk.get_client().stats() == {"sent": 2, "dropped": 0, "queued": 0}


def test_4xx_is_not_retried_but_counted(scripted: ScriptedIngest) -> None:
    scripted.statuses = [422]
    prodloop.configure(endpoint=scripted.url, flush_interval_s=60)
    with prodloop.track(route="chat"):
        pass
    assert prodloop.flush(5)
    assert len(scripted.auth) == 1
    assert sdk.get_client().stats()["dropped"] == 1


def test_an_unreachable_endpoint_never_reaches_the_app() -> None:
    prodloop.configure(
        endpoint=f"http://127.0.0.1:{free_port()}", max_retries=1, timeout_s=1, flush_interval_s=60
    )
    for _ in range(3):
        with prodloop.track(route="chat") as call:
            call.usage(input_tokens=1)
    assert prodloop.flush(10)
    assert sdk.get_client().stats() == {"sent": 0, "dropped": 3, "queued": 0}


def test_the_buffer_is_bounded(scripted: ScriptedIngest) -> None:
    prodloop.configure(endpoint=scripted.url, max_buffer=3, flush_interval_s=60)
    for _ in range(5):
        with prodloop.track(route="chat"):
            pass
    assert sdk.get_client().stats() == {"sent": 0, "dropped": 2, "queued": 3}
    assert prodloop.flush(5)
    assert len(scripted.events) == 3


def test_batches_are_capped(scripted: ScriptedIngest) -> None:
    prodloop.configure(endpoint=scripted.url, max_batch=2, flush_interval_s=60)
    for _ in range(5):
        with prodloop.track(route="chat"):
            pass
    assert prodloop.flush(5)
    assert len(scripted.events) == 5
    assert all(len(batch) <= 2 for batch in scripted.batches)


def test_configuration_from_the_environment(
    scripted: ScriptedIngest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODLOOP_ENDPOINT", scripted.url)
    monkeypatch.setenv("PRODLOOP_INGEST_KEY", "env-key")
    monkeypatch.setenv("PRODLOOP_SERVICE", "env-svc")
    with prodloop.track(route="chat"):
        pass
    assert prodloop.flush(5)
    assert scripted.auth == ["Bearer env-key"]
    assert (scripted.events[0]["service"], scripted.events[0]["version"]) == ("env-svc", "unknown")


def test_a_broken_sender_never_fails_the_tracked_call(
    scripted: ScriptedIngest, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = prodloop.configure(endpoint=scripted.url)

    def explode(_event: object) -> bool:
        raise RuntimeError("bug in telemetry")

    monkeypatch.setattr(client.sender, "enqueue", explode)
    with prodloop.track(route="chat") as call:
        call.usage(input_tokens=1)
    assert call.input_tokens == 1


def test_events_url_accepts_a_base_or_the_full_path() -> None:
    assert SenderSettings("http://h:1/", None).events_url == "http://h:1/api/v1/events"
    assert SenderSettings("http://h:1/api/v1/events", None).events_url == "http://h:1/api/v1/events"


def test_a_bare_decorator_uses_the_function_name(scripted: ScriptedIngest) -> None:
    prodloop.configure(endpoint=scripted.url, service="svc")

    @prodloop.track
    def classify(text: str) -> str:
        return text[::-1]

    assert classify("ab") == "ba"
    assert prodloop.flush(5)
    assert (scripted.events[0]["route"], scripted.events[0]["service"]) == ("classify", "svc")


def test_flush_waits_for_a_batch_already_in_flight(scripted: ScriptedIngest) -> None:
    scripted.statuses = [503]  # the thread's first attempt fails, so its batch is in flight longer
    prodloop.configure(endpoint=scripted.url, max_batch=1, flush_interval_s=60)
    with prodloop.track(route="chat"):
        pass
    deadline = time.monotonic() + 5
    while not scripted.auth and time.monotonic() < deadline:
        time.sleep(0.005)  # max_batch=1: the thread starts sending at once
    assert prodloop.flush(5)
    assert len(scripted.events) == 1
