"""Whatever arrives at the public feedback and analytics routes: a 2xx or 4xx, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.public_support import NO_LIMITS
from tests.api.support import INGEST_KEY, running_control_plane

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PATHS = ["/ingest/feedback", "/ingest/events", "/batch/", "/e/", "/2/httpapi",
         "/api/public/scores"]  # fmt: skip

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["up", "down", "2026-01-01T00:00:00Z", "<script>x</script>", INGEST_KEY])
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
feedback_shaped = st.fixed_dictionaries(
    {},
    optional={name: scalars | json_values for name in (
        "id", "trace_id", "rating", "comment", "category", "email", "user_id", "page",
        "metadata", "source", "name", "value", "dataType", "traceId")},
)  # fmt: skip
event_shaped = st.fixed_dictionaries(
    {},
    optional={name: scalars | st.dictionaries(st.text(max_size=8), scalars, max_size=3)
              for name in ("event", "distinct_id", "timestamp", "uuid", "session_id", "path",
                           "x", "y", "properties", "event_type", "user_id", "device_id", "time",
                           "insert_id", "event_properties", "offset", "$set")},
)  # fmt: skip


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp: Path = tmp_path_factory.mktemp("public-fuzz")
    with (
        running_control_plane(tmp, control_yaml=NO_LIMITS + "    max_body_bytes: 20000\n") as plane,
        plane.client(token=None) as client,
    ):
        client.headers["x-prodloop-key"] = INGEST_KEY
        yield client


def assert_not_a_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        answer = response.json()
        error = answer["error"]
        assert error["message"] if isinstance(error, dict) else error  # Amplitude: a string


@FUZZ
@given(path=st.sampled_from(PATHS), body=json_values)
def test_any_json(http: httpx.Client, path: str, body: object) -> None:
    assert_not_a_server_error(http.post(path, content=json.dumps(body)))


@FUZZ
@given(path=st.sampled_from(PATHS), body=st.binary(max_size=300), compression=st.sampled_from(
    ["", "gzip-js", "base64", "lz64"]))  # fmt: skip
def test_any_bytes(http: httpx.Client, path: str, body: bytes, compression: str) -> None:
    params = {"compression": compression} if compression else None
    assert_not_a_server_error(http.post(path, content=body, params=params))


@FUZZ
@given(
    query=st.dictionaries(st.sampled_from(["_", "compression", "token", "ver"]),
                          st.text(max_size=30) | st.integers().map(str), max_size=3),
    event=event_shaped,
)  # fmt: skip
def test_posthog_query_strings(
    http: httpx.Client, query: dict[str, str], event: dict[str, object]
) -> None:
    assert_not_a_server_error(http.post("/e/", params=query, json=[event]))


@FUZZ
@given(body=feedback_shaped)
def test_feedback_shaped(http: httpx.Client, body: dict[str, object]) -> None:
    assert_not_a_server_error(http.post("/ingest/feedback", json=body))


@FUZZ
@given(events=st.lists(event_shaped, max_size=3), path=st.sampled_from(PATHS[1:5]))
def test_event_shaped(http: httpx.Client, events: list[dict[str, object]], path: str) -> None:
    body = {"events": events, "batch": events, "api_key": INGEST_KEY}
    if path == "/ingest/events":
        body = {"events": events}
    assert_not_a_server_error(http.post(path, json=body))
