"""Whatever arrives at the public ingest endpoints, the answer is 2xx or 4xx, never 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.support import INGEST_KEY, running_control_plane
from tests.telemetry.test_otlp import CHAT, json_export, json_span

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
event_fields = st.fixed_dictionaries(
    {},
    optional={
        name: scalars
        for name in ("ts", "service", "version", "route", "status", "latency_ms", "model",
                     "error_class", "input_tokens", "ttft_ms", "cost_usd", "guardrails", "user")
    },
)  # fmt: skip
OTLP_KEYS = ["resourceSpans", 0, "scopeSpans", "spans", "attributes", "value", "status",
             "resource", "intValue", "code"]  # fmt: skip
OTLP_SEED = orjson.loads(json_export(json_span(CHAT)))


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    limits = "  ingest_limit: {requests_per_s: 0}\n  max_ingest_bytes: 20000"
    with (
        running_control_plane(tmp, control_yaml=limits) as plane,
        plane.client(INGEST_KEY) as client,
    ):
        yield client


def assert_not_a_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["message"]


@FUZZ
@given(body=json_values)
def test_events_with_any_json(http: httpx.Client, body: object) -> None:
    assert_not_a_server_error(http.post("/api/v1/events", content=json.dumps(body)))


@FUZZ
@given(events=st.lists(event_fields, max_size=3))
def test_events_with_event_shaped_json(http: httpx.Client, events: list[dict[str, object]]) -> None:
    response = http.post("/api/v1/events", content=json.dumps(events))
    assert_not_a_server_error(response)


@FUZZ
@given(
    body=st.binary(max_size=300),
    content_type=st.sampled_from(["application/json", "application/x-protobuf"]),
)
def test_traces_with_any_bytes(http: httpx.Client, body: bytes, content_type: str) -> None:
    response = http.post("/v1/traces", content=body, headers={"content-type": content_type})
    assert response.status_code < 500
    assert response.status_code in (200, 400)


@FUZZ
@given(path=st.lists(st.sampled_from(OTLP_KEYS), max_size=5), value=json_values)
def test_traces_with_mutated_otlp_json(
    http: httpx.Client, path: list[object], value: object
) -> None:
    body = orjson.loads(orjson.dumps(OTLP_SEED))
    target = body
    for step in path[:-1]:
        if isinstance(target, dict) and isinstance(step, str) and step in target:
            target = target[step]
        elif isinstance(target, list) and isinstance(step, int) and target:
            target = target[0]
    if path and isinstance(target, dict):
        target[str(path[-1])] = value
    response = http.post(
        "/v1/traces", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code in (200, 400), response.text
