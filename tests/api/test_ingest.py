"""POST /api/v1/events: all-or-nothing validation, limits, and what the store receives."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from prodloop.clock import ManualClock
from tests.api.support import INGEST_KEY, ControlPlane, running_control_plane

NOW = ManualClock().now()


def event(**fields: Any) -> dict[str, Any]:
    base = {"ts": NOW - 60, "service": "bot", "version": "v1", "route": "chat", "status": 200,
            "latency_ms": 100.0}  # fmt: skip
    return {**base, **fields}


def post(plane: ControlPlane, body: Any, **headers: str) -> Any:
    with plane.client(token=INGEST_KEY) as http:
        if isinstance(body, bytes):
            return http.post("/api/v1/events", content=body, headers=headers)
        return http.post("/api/v1/events", json=body, headers=headers)


def test_accepted_events_reach_the_slis(control: ControlPlane) -> None:
    events = [
        event(model="gpt-4o-mini", input_tokens=1000, output_tokens=100, latency_ms=200),
        event(model="gpt-4o-mini", error_class="app_error", status=500, latency_ms=400),
        event(ts="2025-12-31T23:58:00Z", model="my-own-llm", ttft_ms=50, is_stream=True,
              guardrails=["pii"], user="u1", cost_usd=0.5),
    ]  # fmt: skip
    response = post(control, {"events": events})
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "dropped": 0}
    (row,) = control.slis(service="bot", since="1h")["rows"]
    assert row["requests"] == 3
    assert row["errors"] == 1
    assert row["errors_by_class"] == {"app_error": 1}
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 100)
    assert row["streams"] == 1
    assert row["guardrail_counts"] == {"pii": 1}
    # The server prices gpt-4o-mini itself ($0.15/M in, $0.60/M out); a given cost is kept.
    assert row["cost_total_usd"] == pytest.approx(0.5 + (1000 * 0.15 + 100 * 0.60) / 1e6)
    assert (row["cost_known"], row["cost_unknown"]) == (3, 0)
    # An unpriced model without a given cost stays unknown, never $0.
    assert post(control, [event(model="my-own-llm", input_tokens=5)]).status_code == 202
    (row,) = control.slis(service="bot", since="1h")["rows"]
    assert (row["cost_known"], row["cost_unknown"]) == (3, 1)


@pytest.mark.parametrize(
    ("events", "field", "words"),
    [
        ([event(), event(latency_ms=-1)], "events[1].latency_ms", "event 1"),
        (
            [event(), {k: v for k, v in event().items() if k != "service"}],
            "events[1].service",
            "required",
        ),
        ([event(colour="red")], "events[0].colour", "unknown field"),
        ([event(error_class="oops")], "events[0].error_class", "upstream_5xx"),
        ([event(ts="yesterday")], "events[0].ts", "ISO 8601"),
        ([event(ts=1e13)], "events[0].ts", "10000"),
        ([event(latency_ms=float("1e12"))], "events[0].latency_ms", "less than"),
        ([event(status=700)], "events[0].status", "599"),
        ([event(guardrails=["a,b"])], "events[0].guardrails", "commas"),
        ({"event": []}, "events", "JSON list"),
        ("hello", "events", "JSON list"),
    ],
)
def test_an_invalid_event_refuses_the_whole_request(
    control: ControlPlane, events: Any, field: str, words: str
) -> None:
    response = post(control, events)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field
    assert words in error["message"]
    assert control.slis(service="bot")["rows"][0]["requests"] == 0


def test_body_that_is_not_json_or_not_json_typed(control: ControlPlane) -> None:
    broken = post(control, b"[{", **{"content-type": "application/json"})
    assert broken.status_code == 422
    assert broken.json()["error"]["field"] == "body"
    text = post(control, b"[]", **{"content-type": "text/plain"})
    assert text.status_code == 415
    assert text.json()["error"]["field"] == "Content-Type"


def test_gzip_bodies_are_read(control: ControlPlane) -> None:
    body = gzip.compress(orjson.dumps([event(), event()]))
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    assert post(control, body, **headers).json() == {"accepted": 2, "dropped": 0}
    zstd = post(control, body, **{**headers, "content-encoding": "zstd"})
    assert zstd.status_code == 415


def test_oversize_bodies_are_413_before_and_after_decompression(tmp_path: Path) -> None:
    yaml = "  max_ingest_bytes: 4000"
    with running_control_plane(tmp_path, control_yaml=yaml) as plane:
        big = orjson.dumps([event(request_id=f"r{i}") for i in range(60)])
        assert len(big) > 4000
        plain = post(plane, big, **{"content-type": "application/json"})
        bomb = post(
            plane,
            gzip.compress(big),
            **{"content-type": "application/json", "content-encoding": "gzip"},
        )
        small = post(plane, [event()])
        assert plain.status_code == 413
        assert bomb.status_code == 413
        assert plain.json()["error"]["field"] == "body"
        assert small.status_code == 202
        window = {"start": str(NOW - 3600), "end": str(NOW)}
        assert plane.slis(service="bot", **window)["rows"][0]["requests"] == 1


def test_each_key_is_rate_limited_with_retry_after(tmp_path: Path) -> None:
    clock = ManualClock()
    yaml = "  ingest_limit: {requests_per_s: 0.5, burst: 2}"
    with running_control_plane(tmp_path, control_yaml=yaml, clock=clock) as plane:
        codes = [post(plane, [event()]).status_code for _ in range(2)]
        limited = post(plane, [event()])
        clock.advance(2.0)
        again = post(plane, [event()])
    assert codes == [202, 202]
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert "control.ingest_limit" in limited.json()["error"]["message"]
    assert again.status_code == 202


def test_a_full_queue_drops_and_says_so(tmp_path: Path) -> None:
    with running_control_plane(tmp_path, queue_size=2, start_pipeline=False) as plane:
        response = post(plane, [event(), event(), event()])
        assert response.status_code == 202
        assert response.json() == {"accepted": 2, "dropped": 1}
        assert plane.pipeline.dropped == 1
