"""POST /ingest/feedback and Langfuse's /api/public/scores through a real control plane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from prodloop.clock import ManualClock
from prodloop.store.schema import feedback, feedback_history, request_events
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events
from tests.api.public_support import NO_LIMITS, public_client, rows, wipe
from tests.api.support import API_TOKEN, INGEST_KEY, ControlPlane, running_control_plane

KEY = {"x-prodloop-key": INGEST_KEY}
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yaml = NO_LIMITS + "  max_comment_chars: 80\n  support:\n    categories: [bug]\n"
    tmp: Path = tmp_path_factory.mktemp("feedback")
    with running_control_plane(tmp, control_yaml=yaml, clock=ManualClock()) as control:
        yield control


@pytest.fixture
def plane(shared: ControlPlane) -> ControlPlane:
    wipe(shared.engine, feedback, feedback_history, request_events)
    return shared


def post(plane: ControlPlane, body: Any, path: str = "/ingest/feedback", **headers: str) -> Any:
    with public_client(plane) as http:
        if isinstance(body, bytes):
            return http.post(path, content=body, headers=headers)
        return http.post(path, json=body, headers=headers)


def test_feedback_is_stored_as_sent_once_per_id(plane: ControlPlane) -> None:
    body = {"id": "fb-1", "rating": "down", "comment": SCRIPT, "category": "answer_quality",
            "email": "ana@example.com", "user_id": "u-7", "page": "/chat",
            "metadata": {"plan": "pro"}}  # fmt: skip
    first = post(plane, body, **KEY)
    assert first.status_code == 201, first.text
    assert first.headers["content-type"] == "application/json"
    feedback_id = first.json()["id"]
    assert first.json() == {"id": feedback_id, "created": True}
    # A retry of the same id stores nothing new and answers with the first id.
    again = post(plane, {**body, "comment": "changed"}, **KEY)
    assert (again.status_code, again.json()) == (200, {"id": feedback_id, "created": False})
    (row,) = rows(plane.engine, feedback)
    assert row["comment"] == SCRIPT  # as sent: escaping is the display's job
    assert (row["rating"], row["rating_kind"], row["is_negative"]) == (0.0, "thumbs", True)
    assert (row["source"], row["client_id"], row["state"]) == ("api", "fb-1", "new")
    assert (row["category"], row["email"], row["user_id"], row["page"]) == (
        "answer_quality", "ana@example.com", "u-7", "/chat",
    )  # fmt: skip
    assert orjson.loads(row["metadata"]) == {"plan": "pro"}
    assert row["created_at"] == plane.clock.now()
    (history,) = rows(plane.engine, feedback_history)
    assert (history["feedback_id"], history["to_state"]) == (feedback_id, "new")


@pytest.mark.parametrize(
    ("rating", "value", "kind", "negative"),
    [("up", 1.0, "thumbs", False), (1, 1.0, "stars", True), (2, 2.0, "stars", True),
     (3, 3.0, "stars", False), (5.0, 5.0, "stars", False)],
)  # fmt: skip
def test_ratings(
    plane: ControlPlane, rating: object, value: float, kind: str, negative: bool
) -> None:
    assert post(plane, {"rating": rating}, **KEY).status_code == 201
    (row,) = rows(plane.engine, feedback)
    assert (row["rating"], row["rating_kind"], row["is_negative"]) == (value, kind, negative)


def test_widget_beacon_with_the_key_in_the_body(plane: ControlPlane) -> None:
    # sendBeacon cannot set headers: the key travels in the body, as text/plain.
    body = orjson.dumps({"key": INGEST_KEY, "source": "widget", "comment": "love it"})
    response = post(plane, body, **{"content-type": "text/plain;charset=UTF-8"})
    assert response.status_code == 201, response.text
    (row,) = rows(plane.engine, feedback)
    assert (row["source"], row["comment"], row["rating"]) == ("widget", "love it", None)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"rating": 7}, "rating", "1..5"),
        ({"rating": "meh"}, "rating", "'up', 'down'"),
        ({"rating": True}, "rating", "1..5"),
        ({"rating": 2.5}, "rating", "whole number"),
        ({"comment": "x" * 81}, "comment", "longer than 80"),
        ({"comment": 5}, "comment", "string"),
        ({"comment": "   "}, "rating", "a rating, a comment"),
        ({}, "rating", "a rating, a comment"),
        ({"rating": "up", "category": "rant"}, "category", "bug, idea"),
        ({"rating": "up", "email": "not-an-address"}, "email", "email"),
        ({"rating": "up", "metadata": [1]}, "metadata", "object"),
        ({"rating": "up", "id": "i" * 129}, "id", "128"),
        ({"rating": "up", "trace_id": "t" * 65}, "trace_id", "64"),
        ({"rating": "up", "source": "evil"}, "source", "widget"),
        ({"rating": "up", "score": 1}, "score", "unknown field"),
        ([{"rating": "up"}], "body", "object"),
        ({"name": "helpful", "value": 2, "dataType": "BOOLEAN", "traceId": TRACE}, "value",
         "0 or 1"),
        ({"value": 1, "traceId": TRACE}, "name", "required"),
        ({"name": "q", "value": 1}, "traceId", "required"),
        ({"name": "q", "value": "x", "dataType": "NUMERIC", "traceId": TRACE}, "value", "number"),
        ({"name": "q", "value": 1, "dataType": "TEXT", "traceId": TRACE}, "dataType", "NUMERIC"),
    ],
)  # fmt: skip
def test_bad_feedback_is_a_400_naming_the_field(
    plane: ControlPlane, body: Any, field: str, words: str
) -> None:
    response = post(plane, body, **KEY)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert words in error["message"]
    assert rows(plane.engine, feedback) == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [(b"{not json", 400, "body"), (b"", 400, "body")],
)
def test_unreadable_bodies(plane: ControlPlane, body: bytes, status: int, field: str) -> None:
    response = post(plane, body, **KEY, **{"content-type": "application/json"})
    assert (response.status_code, response.json()["error"]["field"]) == (status, field)


def test_other_media_types_are_refused(plane: ControlPlane) -> None:
    response = post(plane, b"<xml/>", **KEY, **{"content-type": "application/xml"})
    assert response.status_code == 415


def test_keys(plane: ControlPlane) -> None:
    assert post(plane, {"rating": "up"}).status_code == 401
    assert post(plane, {"rating": "up", "key": "nope"}).status_code == 401
    assert post(plane, {"rating": "up"}, **{"x-prodloop-key": "nope"}).status_code == 401
    # An API token writes too; an ingest key reads nothing.
    assert post(plane, {"rating": "up"}, authorization=f"Bearer {API_TOKEN}").status_code == 201
    with plane.client(token=INGEST_KEY) as http:
        assert http.get("/api/v1/slis").status_code == 403
    with public_client(plane) as http:
        assert http.get("/ingest/feedback", headers=KEY).status_code == 405


def request_event(**fields: Any) -> RequestEvent:
    base: dict[str, Any] = {"ts": ManualClock().now() - 30, "service": "support-bot",
                            "version": "v7", "route": "chat", "status": 200, "latency_ms": 80.0,
                            "model": "gpt-4o-mini", "flags": "new-prompt=on"}  # fmt: skip
    return RequestEvent(**{**base, **fields})


def test_feedback_is_joined_to_its_request_and_flagged_for_support(plane: ControlPlane) -> None:
    failed = request_event(trace_id=TRACE, status=503, error_class="upstream_5xx")
    healthy = request_event(request_id="req-ok", version="v8")
    guarded = request_event(request_id="req-pii", guardrails=("pii",))
    write_events(plane.engine, [failed, healthy, guarded])
    bodies = [
        {"trace_id": TRACE.upper(), "category": "bug", "comment": "it broke"},
        {"trace_id": "req-ok", "category": "bug", "comment": "typo"},
        {"trace_id": "req-pii", "rating": "down", "comment": "refused me"},
        {"trace_id": "req-pii", "rating": "down"},
        {"trace_id": "unknown", "rating": "up"},
    ]
    for body in bodies:
        assert post(plane, body, **KEY).status_code == 201
    stored = rows(plane.engine, feedback)
    assert [(r["service"], r["version"], r["model"], r["flags"]) for r in stored] == [
        ("support-bot", "v7", "gpt-4o-mini", "new-prompt=on"),
        ("support-bot", "v8", "gpt-4o-mini", "new-prompt=on"),
        ("support-bot", "v7", "gpt-4o-mini", "new-prompt=on"),
        ("support-bot", "v7", "gpt-4o-mini", "new-prompt=on"),
        (None, None, None, None),
    ]
    assert [r["is_support"] for r in stored] == [True, False, True, False, False]
    assert (
        stored[0]["support_reason"] == "bug report on a failed request (status 503, upstream_5xx)"
    )
    assert stored[2]["support_reason"] == (
        "thumbs-down with a comment on a request that tripped guardrails: pii"
    )


def test_scores_at_ingest_feedback_and_langfuse_path(plane: ControlPlane) -> None:
    numeric = {"id": "s-1", "name": "user-feedback", "value": 0, "traceId": TRACE,
               "comment": "wrong", "observationId": "obs-1"}  # fmt: skip
    response = post(plane, numeric, **KEY)
    assert (response.status_code, response.json()["created"]) == (201, True)
    with public_client(plane, auth=("pk-lf-anything", INGEST_KEY)) as http:
        langfuse = http.post(
            "/api/public/scores",
            json={"name": "tone", "value": "bad", "traceId": TRACE, "id": "s-2"},
        )
        assert langfuse.status_code == 200, langfuse.text
        assert langfuse.json()["id"] == "s-2" and langfuse.json()["created"] is True
        boolean = {"name": "helpful", "value": 1, "dataType": "BOOLEAN", "traceId": TRACE}
        assert http.post("/api/public/scores", json=boolean).status_code == 200
        replay = http.post("/api/public/scores", json={"name": "tone", "value": "bad",
                                                       "traceId": TRACE, "id": "s-2"})  # fmt: skip
        assert replay.json()["created"] is False
    with public_client(plane, auth=("pk-lf-x", "sk-lf-wrong")) as http:
        assert http.post("/api/public/scores", json=boolean).status_code == 401
    stored = rows(plane.engine, feedback)
    summary = [(r["source"], r["name"], r["rating"], r["rating_kind"], r["is_negative"])
               for r in stored]  # fmt: skip
    assert summary == [
        ("score", "user-feedback", 0.0, "numeric", True),
        ("score", "tone", None, "category", True),
        ("score", "helpful", 1.0, "numeric", False),
    ]
    assert stored[0]["comment"] == "wrong" and stored[0]["trace_id"] == TRACE
    assert orjson.loads(stored[0]["metadata"]) == {"observationId": "obs-1"}
    assert orjson.loads(stored[1]["metadata"]) == {"value": "bad"}
