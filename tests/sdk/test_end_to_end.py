"""The SDK against a real control plane: tracked calls show up in the SLIs, exactly."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import pytest

import prodloop
from prodloop.sdk import track as sdk
from tests.api.support import INGEST_KEY, ControlPlane


def test_tracked_calls_reach_the_slis(control: ControlPlane) -> None:
    prodloop.configure(
        endpoint=control.url, key=INGEST_KEY, service="sdk-app", version="v3", flush_interval_s=60
    )
    with prodloop.track(route="chat", model="gpt-4o-mini") as call:
        call.usage(input_tokens=1000, output_tokens=100, cached_tokens=200)
        call.user = "u-1"
    with prodloop.track(route="chat", model="gpt-4o-mini", stream=True) as call:
        time.sleep(0.02)
        call.first_token()
        call.usage(input_tokens=10, output_tokens=5)
        call.guardrail("pii")
    with pytest.raises(ValueError, match="provider said no"), prodloop.track(route="chat"):
        raise ValueError("provider said no")

    @prodloop.track(route="summarise", model="gpt-4o")
    def summarise(text: str) -> dict[str, Any]:
        usage = {"prompt_tokens": 50, "completion_tokens": 7}
        return {"model": "gpt-4o-2024-08-06", "usage": usage, "text": text}

    @prodloop.track(route="summarise", model="gpt-4o")
    async def summarise_async(text: str) -> str:
        call = prodloop.current_call()
        assert call is not None
        call.usage(input_tokens=30, output_tokens=3)
        return text.upper()

    @prodloop.track(route="summarise")
    async def broken() -> None:
        raise RuntimeError("upstream timed out")

    assert summarise("a")["text"] == "a"
    assert asyncio.run(summarise_async("b")) == "B"
    with pytest.raises(RuntimeError):
        asyncio.run(broken())

    assert prodloop.flush(10)
    assert sdk.get_client().stats() == {"sent": 6, "dropped": 0, "queued": 0}
    rows = control.slis(service="sdk-app", since="10m", group_by="version,route")["rows"]
    chat, summary = rows
    assert chat["group"] == {"version": "v3", "route": "chat"}
    assert (chat["requests"], chat["errors"], chat["errors_by_class"]) == (3, 1, {"app_error": 1})
    assert (chat["input_tokens"], chat["output_tokens"], chat["cached_tokens"]) == (1010, 105, 200)
    assert chat["streams"] == 1
    assert chat["ttft_ms"]["p50"] >= 20 * 0.99  # the sketch's relative error
    assert chat["guardrail_counts"] == {"pii": 1}
    assert summary["group"] == {"version": "v3", "route": "summarise"}
    assert (summary["requests"], summary["errors"]) == (3, 1)
    assert (summary["input_tokens"], summary["output_tokens"]) == (80, 10)
    by_model = control.slis(service="sdk-app", since="10m", route="summarise", group_by="model")
    assert [(r["group"]["model"], r["requests"]) for r in by_model["rows"]] == [
        ("", 1),
        ("gpt-4o", 1),
        ("gpt-4o-2024-08-06", 1),
    ]


def test_events_left_in_the_buffer_are_sent_at_exit(control: ControlPlane) -> None:
    script = f"""
import prodloop
prodloop.configure(endpoint={control.url!r}, key={INGEST_KEY!r}, service="exit-app",
                   flush_interval_s=600)
with prodloop.track(route="chat", model="gpt-4o") as call:
    call.usage(input_tokens=3, output_tokens=4)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    (row,) = control.slis(service="exit-app", since="10m")["rows"]
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (1, 3, 4)


def test_a_wrong_key_loses_the_events_quietly_and_counts_them(control: ControlPlane) -> None:
    prodloop.configure(endpoint=control.url, key="not-a-key", service="sdk-app")
    with prodloop.track(route="chat"):
        pass
    assert prodloop.flush(10)
    assert sdk.get_client().stats() == {"sent": 0, "dropped": 1, "queued": 0}
    assert control.slis(service="sdk-app", since="10m")["rows"][0]["requests"] == 0
