"""Event logs whose funnel and retention answers are known by construction."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from prodloop.store.schema import analytics_events, request_events

H = 3600.0
D = 86400.0
T = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
SINCE_ISO = "2026-01-05T00:00:00Z"
UNTIL_ISO = "2026-02-04T00:00:00Z"  # T + 30 days
STEPS = ("signup", "first_question", "thumbs_up")


def event(
    name: str,
    user: str,
    ts: float,
    *,
    properties: dict[str, Any] | None = None,
    path: str | None = None,
    x: float | None = None,
    y: float | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    return {
        "uuid": uuid.uuid4().hex,
        "event": name,
        "distinct_id": user,
        "ts": ts,
        "received_at": ts,
        "source": "prodloop",
        "session_id": session_id,
        "path": path,
        "x": x,
        "y": y,
        "properties": json.dumps(properties or {}),
    }


def insert_events(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(analytics_events), rows)


def insert_requests(engine: Engine, rows: list[tuple[str, str, float, str]]) -> None:
    """(user_id, version, ts, flags) as gateway request events."""
    values = [
        {"ts": ts, "service": "app", "version": version, "route": "/v1/chat/completions",
         "status": 200, "latency_ms": 120.0, "user_id": user, "flags": flags}
        for user, version, ts, flags in rows
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(request_events), values)


def funnel_log() -> list[dict[str, Any]]:
    """Users whose best attempt differs by order mode (the expected answers are in the
    tests beside the names): first steps count in [T, T + 30d), the window is 14 days."""
    signup, question, thumbs = STEPS
    plan: dict[str, list[tuple[str, float, dict[str, Any] | None]]] = {
        # all three steps, back to back: 3 in every mode
        "full": [(signup, T + 1 * H, None), (question, T + 2 * H, None), (thumbs, T + 5 * H, None)],
        "two": [(signup, T + D, None), (question, T + D + 2 * H, None)],
        "one": [(signup, T + 2 * D, {"$feature/new-prompt": "on", "plan": "free"})],
        # a pageview between the steps: 3 in sequential and any, 1 in strict
        "gap": [(signup, T + 1 * H, {"version": "v3"}), ("$pageview", T + 1.5 * H, None),
                (question, T + 2 * H, None), (thumbs, T + 3 * H, None)],
        # the third step 15 days after the first: out of the window
        "late": [(signup, T + 1 * H, None), (question, T + 2 * H, None),
                 (thumbs, T + 15 * D, None)],
        # the first signup is too early to convert; the second converts
        "retry": [(signup, T + 1 * H, None), (signup, T + 19 * D, None),
                  (question, T + 20 * D, None), (thumbs, T + 21 * D, None)],
        # the steps backwards: 1 in order, 3 in any order
        "reverse": [(thumbs, T + 1 * H, None), (question, T + 2 * H, None),
                    (signup, T + 3 * H, None)],
        # signed up before the range: not in the ordered funnels; 2 steps in any order
        "before": [(signup, T - D, None), (question, T + 1 * H, None), (thumbs, T + 2 * H, None)],
        # signed up after the range: nowhere
        "after": [(signup, T + 31 * D, None), (question, T + 31 * D + H, None)],
        "noise": [("$pageview", T + H, None)],
        # the question twice: 3 in sequential (times from the first question), 2 in strict
        "dup": [(signup, T + 3 * H, None), (question, T + 4 * H, None),
                (question, T + 5 * H, None), (thumbs, T + 6 * H, None)],
    }  # fmt: skip
    return [
        event(name, user, ts, properties=properties)
        for user, steps in plan.items()
        for name, ts, properties in steps
    ]


def funnel_requests() -> list[tuple[str, str, float, str]]:
    """Gateway requests of the funnel's users: versions and the `new-prompt` flag."""
    return [
        ("full", "v2", T + 1 * H, "new-prompt=on;tone=warm"),
        ("full", "v2", T + 2 * H, "new-prompt=on;tone=warm"),
        ("full", "v1", T + 3 * H, "new-prompt=on;tone=warm"),
        ("two", "v1", T + D, "new-prompt=off"),
        # a tie: the version requested first wins
        ("dup", "v1", T + 3 * H, ""),
        ("dup", "v2", T + 4 * H, ""),
        # outside the range: ignored
        ("one", "v9", T - 10 * D, "new-prompt=off"),
        # a version on a request that the funnel's "gap" user overrides with a property
        ("gap", "v1", T + 2 * H, ""),
    ]
