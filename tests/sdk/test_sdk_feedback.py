"""`prodloop.sdk.feedback` and `capture` against a real control plane."""

from __future__ import annotations

import time

import orjson

from prodloop.sdk import capture, feedback
from prodloop.sdk import track as sdk
from prodloop.store.schema import analytics_events
from prodloop.store.schema import feedback as feedback_table
from tests.api.public_support import rows
from tests.api.support import INGEST_KEY, ControlPlane
from tests.sdk.conftest import ScriptedIngest


def test_feedback_is_stored_once_with_its_id(control: ControlPlane) -> None:
    sdk.configure(endpoint=control.url, key=INGEST_KEY)
    first = feedback(trace_id="req-1", rating="down", comment="<b>wrong</b>", category="bug",
                     user_id="u-1", metadata={"plan": "pro"}, id="fb-1")  # fmt: skip
    assert isinstance(first, int)
    assert feedback(rating=4, id="fb-1") == first  # the same idempotency key: the same row
    second = feedback(rating=5)
    assert second is not None and second != first
    stored = rows(control.engine, feedback_table)
    assert [(r["source"], r["rating"], r["rating_kind"], r["comment"]) for r in stored] == [
        ("sdk", 0.0, "thumbs", "<b>wrong</b>"),
        ("sdk", 5.0, "stars", ""),
    ]
    assert (stored[0]["trace_id"], stored[0]["category"], stored[0]["user_id"]) == (
        "req-1", "bug", "u-1",
    )  # fmt: skip


def test_feedback_never_raises(control: ControlPlane) -> None:
    sdk.configure(endpoint=control.url, key=INGEST_KEY, max_retries=0)
    assert feedback(rating=9) is None  # refused: 400, logged, not raised
    sdk.configure(endpoint=control.url, key="wrong-key", max_retries=0)
    assert feedback(rating="up") is None
    sdk.configure(endpoint="http://127.0.0.1:9", key=INGEST_KEY, max_retries=0, timeout_s=1)
    assert feedback(rating="up") is None
    assert rows(control.engine, feedback_table) == []


def test_capture_sends_batches_to_ingest_events(control: ControlPlane) -> None:
    sdk.configure(endpoint=control.url, key=INGEST_KEY, flush_interval_s=60)
    before = time.time()
    assert capture("signed_up", "user-1", {"plan": "pro"}, path="/welcome", session_id="s-1")
    assert capture("$pageview", "user-1", uuid="fixed-uuid", timestamp=before - 60)
    assert capture("$pageview", "user-1", uuid="fixed-uuid")  # a resend of the same event
    assert sdk.flush(10)
    stored = rows(control.engine, analytics_events)
    assert [(r["event"], r["distinct_id"], r["source"]) for r in stored] == [
        ("signed_up", "user-1", "prodloop"),
        ("$pageview", "user-1", "prodloop"),
    ]
    signed_up, pageview = stored
    assert (signed_up["path"], signed_up["session_id"]) == ("/welcome", "s-1")
    assert orjson.loads(signed_up["properties"]) == {"plan": "pro"}
    assert before <= signed_up["ts"] <= time.time()
    assert (pageview["uuid"], pageview["ts"]) == ("fixed-uuid", before - 60)
    client = sdk.get_client()
    assert (client.analytics.sent, client.analytics.dropped) == (3, 0)


def test_capture_and_track_are_batched_apart(scripted: ScriptedIngest) -> None:
    sdk.configure(endpoint=scripted.url, key=INGEST_KEY, flush_interval_s=60)
    capture("clicked", "u")
    with sdk.track(route="chat"):
        pass
    assert sdk.shutdown(5)
    assert sorted(len(batch) for batch in scripted.batches) == [1, 1]
    events = scripted.events
    assert {e.get("event") for e in events} == {"clicked", None}
    assert {e.get("route") for e in events} == {None, "chat"}
