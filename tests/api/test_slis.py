"""GET /api/v1/slis: windows, filters, grouping and the 422s that name the parameter."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import INGEST_KEY, ControlPlane


def seed(plane: ControlPlane) -> None:
    now = plane.clock.now()
    base = {"service": "bot", "route": "chat", "status": 200}
    events = [
        {**base, "ts": now - 30, "version": "v1", "model": "gpt-4o", "latency_ms": 100},
        {**base, "ts": now - 90, "version": "v1", "model": "gpt-4o", "latency_ms": 300},
        {**base, "ts": now - 600, "version": "v2", "model": "gpt-4o-mini", "latency_ms": 200,
         "error_class": "upstream_5xx", "status": 502},
        {**base, "ts": now - 7200, "version": "v2", "model": "gpt-4o-mini", "latency_ms": 50},
        {**base, "ts": now - 60, "service": "other", "version": "v1", "latency_ms": 10},
    ]  # fmt: skip
    with plane.client(token=INGEST_KEY) as http:
        assert http.post("/api/v1/events", json=events).json()["accepted"] == 5


def test_default_window_is_the_last_hour(control: ControlPlane) -> None:
    seed(control)
    body = control.slis(service="bot")
    assert body["end"] - body["start"] == 3600
    (row,) = body["rows"]
    assert (row["requests"], row["errors"]) == (3, 1)
    assert row["error_rate"] == pytest.approx(1 / 3)
    assert row["latency_ms"]["p50"] == pytest.approx(200, rel=0.01)


def test_group_by_and_filters(control: ControlPlane) -> None:
    seed(control)
    rows = control.slis(service="bot", since="3h", group_by="version,model")["rows"]
    assert [(r["group"], r["requests"], r["errors"]) for r in rows] == [
        ({"version": "v1", "model": "gpt-4o"}, 2, 0),
        ({"version": "v2", "model": "gpt-4o-mini"}, 2, 1),
    ]
    (only_v2,) = control.slis(version="v2", since="5m")["rows"]
    assert only_v2["requests"] == 0
    (by_model,) = control.slis(model="gpt-4o", since="1d")["rows"]
    assert by_model["requests"] == 2


def test_start_and_end_as_unix_seconds_or_iso(control: ControlPlane) -> None:
    seed(control)
    now = control.clock.now()
    unix = control.slis(service="bot", start=str(now - 120), end=str(now))
    iso = control.slis(service="bot", start="2025-12-31T23:58:00Z", end="2026-01-01T00:00:00")
    assert unix["start"] == iso["start"] == now - 120
    assert unix["rows"][0]["requests"] == iso["rows"][0]["requests"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "abc"}, "since"),
        ({"since": "0s"}, "since"),
        ({"group_by": "foo"}, "group_by"),
        ({"group_by": "model,model"}, "group_by"),
        ({"start": "1767225000", "end": "1767224000"}, "start"),
        ({"start": "soon"}, "start"),
        ({"end": "later"}, "end"),
        ({"since": "1h", "start": "1767225000"}, "since"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    control: ControlPlane, params: dict[str, Any], field: str
) -> None:
    with control.client() as http:
        response = http.get("/api/v1/slis", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
