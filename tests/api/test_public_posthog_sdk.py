"""The real `posthog` Python SDK, its host pointed at prodloop, stores what it captures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from posthog import Posthog

from prodloop.store.schema import analytics_events
from tests.api.public_support import rows, wipe
from tests.api.support import INGEST_KEY, ControlPlane, running_control_plane


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    tmp: Path = tmp_path_factory.mktemp("posthog")
    with running_control_plane(tmp) as plane:
        yield plane


@pytest.fixture
def plane(shared: ControlPlane) -> ControlPlane:
    wipe(shared.engine, analytics_events)
    return shared


@pytest.mark.parametrize("is_gzip", [False, True])
def test_posthog_python_sdk(plane: ControlPlane, is_gzip: bool) -> None:
    # sync_mode posts each call to /batch/ before returning: no background thread.
    client = Posthog(INGEST_KEY, host=plane.url, sync_mode=True, gzip=is_gzip, max_retries=0)
    try:
        first = client.capture(
            "plan_upgraded",
            distinct_id="user-7",
            properties={"plan": "pro", "$current_url": "https://app.example.com/billing?x=1"},
        )
        second = client.capture("$pageview", distinct_id="user-7", uuid=first)  # a retry
        client.set(distinct_id="user-7", properties={"email": "a@example.com"})
        client.flush()
    finally:
        client.shutdown()
    stored = rows(plane.engine, analytics_events)
    assert second == first
    assert [(row["event"], row["distinct_id"], row["source"]) for row in stored] == [
        ("plan_upgraded", "user-7", "posthog"),
        ("$set", "user-7", "posthog"),
    ]
    upgraded, identified = stored
    assert upgraded["uuid"] == first
    assert upgraded["path"] == "/billing"
    properties = orjson.loads(upgraded["properties"])
    assert (properties["plan"], properties["$lib"]) == ("pro", "posthog-python")
    assert orjson.loads(identified["properties"])["$set"] == {"email": "a@example.com"}


def test_posthog_sdk_with_a_wrong_key_is_refused(plane: ControlPlane) -> None:
    client = Posthog("phc_not-a-prodloop-key", host=plane.url, sync_mode=True, max_retries=0)
    try:
        client.capture("x", distinct_id="u")
    finally:
        client.shutdown()
    assert rows(plane.engine, analytics_events) == []


def test_events_sent_by_the_posthog_sdk_make_the_funnel_they_should(plane: ControlPlane) -> None:
    # Six users whose paths through signup → first_question → thumbs_up are known: three
    # reach the end, one of them outside the 1-day window; two stop after the question;
    # one never signs up, so it is not in the funnel at all.
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    paths = {
        "ann": [("signup", 0), ("first_question", 60), ("thumbs_up", 600)],
        "bob": [("signup", 0), ("first_question", 120), ("thumbs_up", 3600)],
        "cat": [("signup", 0), ("first_question", 30), ("thumbs_up", 2 * 86_400)],
        "dan": [("signup", 0), ("first_question", 90)],
        "eve": [("signup", 0), ("$pageview", 10), ("first_question", 20)],
        "fay": [("first_question", 0), ("thumbs_up", 60)],
    }
    client = Posthog(INGEST_KEY, host=plane.url, sync_mode=True, max_retries=0)
    try:
        for user, steps in paths.items():
            for event, after_s in steps:
                client.capture(
                    event, distinct_id=user, timestamp=start + dt.timedelta(seconds=after_s)
                )
    finally:
        client.shutdown()
    with plane.client() as http:
        response = http.get(
            "/api/v1/analytics/funnel",
            params={"steps": "signup,first_question,thumbs_up", "window": "1d", "since": "7d"},
        )
    assert response.status_code == 200, response.text
    steps = response.json()["steps"]
    assert [s["count"] for s in steps] == [5, 5, 2]
    assert [s["drop_off"] for s in steps] == [0, 0, 3]
    # PostHog shifts timestamps by the clock skew it measures per request: within a second.
    assert steps[1]["median_s_from_previous"] == pytest.approx(60, abs=1)
