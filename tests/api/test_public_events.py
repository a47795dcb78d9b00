"""Analytics events in prodloop's own shape, PostHog's capture payloads and Amplitude's v2."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from prodloop.clock import ManualClock
from prodloop.store.schema import analytics_events
from tests.api.public_support import NO_LIMITS, public_client, rows, wipe
from tests.api.support import INGEST_KEY, ControlPlane, running_control_plane

KEY = {"x-prodloop-key": INGEST_KEY}
NOW = ManualClock().now()
ISO_NOW = "2026-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yaml = NO_LIMITS + "    max_batch_events: 5\n"
    tmp: Path = tmp_path_factory.mktemp("events")
    with running_control_plane(tmp, control_yaml=yaml, clock=ManualClock()) as control:
        yield control


@pytest.fixture
def plane(shared: ControlPlane) -> ControlPlane:
    wipe(shared.engine, analytics_events)
    return shared


def post(
    plane: ControlPlane, path: str, body: Any, params: dict[str, str] | None = None, **headers: str
) -> Any:
    with public_client(plane) as http:
        if isinstance(body, bytes):
            return http.post(path, content=body, headers=headers, params=params)
        return http.post(path, json=body, headers=headers, params=params)


def stored(plane: ControlPlane) -> list[dict[str, Any]]:
    found = rows(plane.engine, analytics_events)
    for row in found:
        row["properties"] = orjson.loads(row["properties"])
    return found


# --- /ingest/events -------------------------------------------------------------------------


def test_own_events_are_stored_and_idempotent(plane: ControlPlane) -> None:
    events = [
        {"event": "$pageview", "distinct_id": "anon-1", "path": "/pricing", "session_id": "s1",
         "uuid": "u-1", "timestamp": ISO_NOW},
        {"event": "$click", "distinct_id": "anon-1", "path": "/pricing", "x": 0.25, "y": 1,
         "timestamp": NOW - 5, "properties": {"selector": "button.buy"}},
    ]  # fmt: skip
    response = post(plane, "/ingest/events", {"events": events, "source": "widget"}, **KEY)
    assert (response.status_code, response.json()) == (200, {"stored": 2, "duplicates": 0})
    view, click = stored(plane)
    assert (view["uuid"], view["event"], view["distinct_id"], view["ts"]) == (
        "u-1", "$pageview", "anon-1", NOW,
    )  # fmt: skip
    assert (view["source"], view["path"], view["session_id"]) == ("widget", "/pricing", "s1")
    assert (click["x"], click["y"], click["ts"]) == (0.25, 1.0, NOW - 5)
    assert click["properties"] == {"selector": "button.buy"}
    assert click["received_at"] == NOW
    # The same uuid again (a retry), and twice within one batch, stores nothing new.
    again = [events[0], {**events[0], "event": "changed"}]
    response = post(plane, "/ingest/events", again, **KEY)  # a bare array, as the SDK sends
    assert response.json() == {"stored": 0, "duplicates": 2}
    assert len(stored(plane)) == 2
    assert stored(plane)[0]["source"] == "widget"


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"events": [{"distinct_id": "a"}]}, 400, "events[0].event", "required"),
        ({"events": [{"event": "e"}]}, 400, "events[0].distinct_id", "required"),
        ({"events": [{"event": "e" * 201, "distinct_id": "a"}]}, 400, "events[0].event", "200"),
        ({"events": [{"event": "e", "distinct_id": "a", "timestamp": NOW + 86_401}]}, 400,
         "events[0].timestamp", "a day in the future"),
        ({"events": [{"event": "e", "distinct_id": "a", "timestamp": NOW * 1000}]}, 400,
         "events[0].timestamp", "milliseconds"),
        ({"events": [{"event": "e", "distinct_id": "a", "timestamp": "yesterday"}]}, 400,
         "events[0].timestamp", "ISO-8601"),
        ({"events": [{"event": "e", "distinct_id": "a", "timestamp": 0}]}, 400,
         "events[0].timestamp", "2000"),
        ({"events": [{"event": "e", "distinct_id": "a", "x": 1.5}]}, 400, "events[0].x", "0 to 1"),
        ({"events": [{"event": "e", "distinct_id": "a", "properties": [1]}]}, 400,
         "events[0].properties", "object"),
        ({"events": [{"event": "e", "distinct_id": "a",
                      "properties": {"blob": "x" * 70_000}}]}, 400, "events[0].properties",
         "bytes"),
        ({"events": [{"event": "e", "distinct_id": "a", "colour": "red"}]}, 400,
         "events[0].colour", "unknown field"),
        ({"events": [{"event": "ok", "distinct_id": "a"}, "e"]}, 400, "events[1]", "object"),
        ({"events": {"event": "e"}}, 400, "events", "array"),
        ({"event": "e"}, 400, "event", "unknown field"),
        ({"events": [{"event": "e", "distinct_id": "a"}] * 6}, 413, "events", "at most 5"),
    ],
)  # fmt: skip
def test_bad_own_events(
    plane: ControlPlane, body: Any, status: int, field: str, words: str
) -> None:
    response = post(plane, "/ingest/events", body, **KEY)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    assert words in response.json()["error"]["message"]
    assert stored(plane) == []  # all or nothing: the valid events of the batch are not kept


# --- PostHog ---------------------------------------------------------------------------------


def posthog_event(**fields: Any) -> dict[str, Any]:
    base = {"event": "signed_up", "distinct_id": "user-1", "uuid": "0190-aaaa",
            "properties": {"$current_url": "https://app.example.com/pricing?x=1",
                           "$session_id": "sess-9", "plan": "pro"}}  # fmt: skip
    return {**base, **fields}


def test_posthog_python_batch_gzip(plane: ControlPlane) -> None:
    body = {"api_key": INGEST_KEY, "batch": [posthog_event(timestamp="2025-12-31T23:59:00+00:00")],
            "sent_at": "2025-12-31T23:59:30+00:00", "historical_migration": False}  # fmt: skip
    response = post(
        plane, "/batch/", gzip.compress(json.dumps(body).encode()),
        **{"content-type": "application/json", "content-encoding": "gzip"},
    )  # fmt: skip
    assert (response.status_code, response.json()["stored"]) == (200, 1), response.text
    (row,) = stored(plane)
    assert (row["event"], row["distinct_id"], row["uuid"], row["source"]) == (
        "signed_up", "user-1", "0190-aaaa", "posthog",
    )  # fmt: skip
    assert (row["path"], row["session_id"], row["properties"]["plan"]) == (
        "/pricing",
        "sess-9",
        "pro",
    )
    # sent 30 s after it happened, by the sender's clock: stored 30 s before the server's now.
    assert row["ts"] == pytest.approx(NOW - 30)


def test_posthog_js_encodings(plane: ControlPlane) -> None:
    event = posthog_event(
        properties={"token": INGEST_KEY, "$pathname": "/docs", "distinct_id": "d"}
    )
    del event["distinct_id"]
    events = [{**event, "uuid": f"js-{i}", "timestamp": ISO_NOW} for i in range(4)]
    sent = str(int(NOW * 1000))
    # gzip-js: gzip'd JSON with no Content-Encoding header, said in the query.
    gz = post(plane, "/e/", gzip.compress(json.dumps(events[:1]).encode()),
              {"compression": "gzip-js", "_": sent, "ver": "1.200.0"},
              **{"content-type": "text/plain"})  # fmt: skip
    # base64 in a form field, as posthog-js sends it when it cannot compress.
    b64 = base64.b64encode(json.dumps(events[1:2]).encode()).decode()
    form = post(plane, "/i/v0/e/", f"data={quote(b64)}&compression=base64".encode(),
                **{"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    # One plain event to /capture/ with the key on top, and a bare base64 body.
    plain = post(plane, "/capture", {**events[2], "api_key": INGEST_KEY})
    bare = post(plane, "/e", base64.b64encode(json.dumps(events[3:]).encode()))
    assert [r.status_code for r in (gz, form, plain, bare)] == [200] * 4, [gz.text, form.text]
    found = stored(plane)
    assert sorted(row["uuid"] for row in found) == ["js-0", "js-1", "js-2", "js-3"]
    assert {(row["distinct_id"], row["path"], row["ts"]) for row in found} == {("d", "/docs", NOW)}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"api_key": INGEST_KEY, "batch": [posthog_event(event=None)]}, "batch[0].event",
         "required"),
        ({"api_key": INGEST_KEY, "batch": [posthog_event(distinct_id=None)]},
         "batch[0].distinct_id", "required"),
        ({"api_key": INGEST_KEY, "batch": [posthog_event(), posthog_event(properties="x")]},
         "batch[1].properties", "object"),
        ({"api_key": INGEST_KEY, "batch": [posthog_event(timestamp="2030-01-01T00:00:00Z")]},
         "batch[0].timestamp", "future"),
        ({"api_key": INGEST_KEY, "batch": "nope"}, "batch", "array"),
        ({**posthog_event(event={"a": 1}), "api_key": INGEST_KEY}, "event", "string"),
        ([posthog_event(properties={"token": INGEST_KEY}), 3], "[1]", "object"),
    ],
)  # fmt: skip
def test_malformed_posthog_events_are_a_400_not_dropped(
    plane: ControlPlane, body: Any, field: str, words: str
) -> None:
    response = post(plane, "/batch/", body)
    assert response.status_code == 400, response.text
    assert (response.json()["error"]["field"], words in response.json()["error"]["message"]) == (
        field, True,
    )  # fmt: skip
    assert stored(plane) == []


def test_posthog_bad_encodings(plane: ControlPlane) -> None:
    lz = post(plane, "/e/", b"N4Ig", {"compression": "lz64"})
    assert (lz.status_code, lz.json()["error"]["field"]) == (400, "compression")
    junk = post(plane, "/e/", b"%%%not base64 nor json", **KEY)
    assert (junk.status_code, junk.json()["error"]["field"]) == (400, "body")
    broken = post(plane, "/e/", b"\x1f\x8b\x08\x00garbage", **KEY)
    assert broken.status_code == 400
    no_key = post(plane, "/batch/", {"batch": [posthog_event()]})
    assert no_key.status_code == 401


# --- Amplitude -------------------------------------------------------------------------------


def test_amplitude_http_api_v2(plane: ControlPlane) -> None:
    ms = int(NOW * 1000)
    body = {"api_key": INGEST_KEY, "events": [
        {"user_id": "user-42", "device_id": "dev-1", "event_type": "Song Played",
         "time": ms - 2000, "insert_id": "ins-1", "session_id": ms - 60_000,
         "event_properties": {"genre": "jazz"}, "user_properties": {"plan": "pro"},
         "platform": "iOS"},
        {"device_id": "dev-2", "event_type": "Opened", "session_id": -1},
    ]}  # fmt: skip
    response = post(plane, "/2/httpapi", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["code"], answer["events_ingested"], answer["duplicates"]) == (200, 2, 0)
    assert answer["server_upload_time"] == ms
    played, opened = stored(plane)
    assert (played["uuid"], played["distinct_id"], played["ts"], played["source"]) == (
        "ins-1", "user-42", NOW - 2, "amplitude",
    )  # fmt: skip
    assert played["session_id"] == str(ms - 60_000)
    assert played["properties"] == {
        "genre": "jazz", "$set": {"plan": "pro"}, "$device_id": "dev-1",
        "$amplitude": {"platform": "iOS"},
    }  # fmt: skip
    assert (opened["distinct_id"], opened["session_id"], opened["ts"]) == ("dev-2", None, NOW)
    assert post(plane, "/2/httpapi", body).json()["duplicates"] == 1  # insert_id dedupes


@pytest.mark.parametrize(
    ("events", "shape"),
    [
        ([{"event_type": "e"}], {"events_with_missing_fields": {"user_id": [0]}}),
        ([{"user_id": "u", "event_type": "e"}, {"user_id": "u"}],
         {"events_with_missing_fields": {"event_type": [1]}}),
        ([{"user_id": "u", "event_type": "e", "time": "now"}],
         {"events_with_invalid_fields": {"time": [0]}}),
        ([{"user_id": "u", "event_type": "e", "time": NOW}],  # seconds, not ms
         {"events_with_invalid_fields": {"time": [0]}}),
        ([], {"field": "events"}),
    ],
)  # fmt: skip
def test_amplitude_errors_name_the_event_and_field(
    plane: ControlPlane, events: list[Any], shape: dict[str, Any]
) -> None:
    response = post(plane, "/2/httpapi", {"api_key": INGEST_KEY, "events": events})
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["code"] == 400 and answer["error"]
    for name, value in shape.items():
        assert answer[name] == value
    assert stored(plane) == []
    assert post(plane, "/2/httpapi", {"api_key": "wrong", "events": []}).status_code == 401
