"""Data and helpers for the dashboard tests: users, traffic with two versions, a deploy, a
flag change, feedback on one request, and a name that tries to inject a script."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from prodloop.clock import ManualClock
from prodloop.store.schema import deployments, feedback, flag_audit
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import DAY_S, MINUTE_S, write_events
from tests.api.support import ControlPlane, running_control_plane

NOW = 1_767_225_600.0 + 30 * DAY_S + 9 * 3600 + 30  # 2026-01-31 09:00:30 UTC
PASSWORD = "correct horse battery"
SERVICES_YAML = """
services:
  chat:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
  search:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
"""
HOSTILE = '<script>alert("x")</script>'
TRACE_WITH_FEEDBACK = "a" * 32
# The minute whose raw requests the tests ask for: 10 minutes ago.
CLICKED_MINUTE = (NOW // MINUTE_S) * MINUTE_S - 10 * MINUTE_S


def seed(engine: Engine) -> None:
    """Two hours of traffic on chat (v1 and the canary v2, which fails more) and search."""
    events: list[RequestEvent] = []
    start = NOW - 2 * 3600
    for minute in range(120):
        ts = start + minute * MINUTE_S + 5
        for i in range(10):
            version = "v2" if i >= 8 else "v1"
            failing = version == "v2" and i == 9 and minute % 2 == 0
            events.append(
                RequestEvent(
                    ts=ts + i,
                    service="chat",
                    version=version,
                    route="/v1/chat/completions",
                    model="gpt-4o-mini",
                    status=503 if failing else 200,
                    latency_ms=200.0 + 50 * i,
                    error_class="upstream_5xx" if failing else None,
                    input_tokens=100,
                    output_tokens=50,
                    cost_usd=0.001,
                    guardrails=("pii",) if i == 0 else (),
                    trace_id=TRACE_WITH_FEEDBACK
                    if ts + i >= CLICKED_MINUTE and ts + i < CLICKED_MINUTE + 60 and i == 1
                    else "",
                )
            )
        events.append(
            RequestEvent(
                ts=ts,
                service="search",
                version="v1",
                route="/v1/embeddings",
                status=200,
                latency_ms=80.0,
                cost_usd=0.0001,
            )
        )
    write_events(engine, events)
    with engine.begin() as conn:
        conn.execute(
            insert(deployments).values(
                service="chat",
                version="v2",
                upstream="http://127.0.0.1:9/v1",
                previous_version="v1",
                deployed_by="alice",
                created_at=NOW - 3600,
                status="rolling_out",
            )
        )
        conn.execute(
            insert(flag_audit).values(flag_key="new-prompt", at=NOW - 1800, by="bob", action="kill")
        )
        conn.execute(
            insert(feedback).values(
                created_at=CLICKED_MINUTE + 30,
                source="widget",
                trace_id=TRACE_WITH_FEEDBACK,
                rating=0,
                rating_kind="thumbs",
                is_negative=True,
                comment="wrong answer <b>bold</b>",
                updated_at=CLICKED_MINUTE + 30,
            )
        )


def seed_hostile(engine: Engine) -> None:
    """Traffic from a service and a version whose names are markup."""
    write_events(
        engine,
        [
            RequestEvent(
                ts=NOW - 120,
                service=HOSTILE,
                version=HOSTILE,
                route="/x",
                status=200,
                latency_ms=10.0,
            ),
            RequestEvent(
                ts=NOW - 120,
                service="chat",
                version=HOSTILE,
                route="/x",
                status=200,
                latency_ms=10.0,
            ),
        ],
    )


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(http: Any, name: str, password: str = PASSWORD) -> Any:
    """Log in through the form as a browser does; returns the response to the POST."""
    page = http.get("/login")
    assert page.status_code == 200, page.text
    return http.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


@contextmanager
def seeded_plane(
    folder: Path, seeded_store: Path, control_yaml: str = SERVICES_YAML
) -> Iterator[ControlPlane]:
    """A real server on a free port over a copy of the seeded store, its clock stopped at
    NOW, for the browser tests."""
    shutil.copy(seeded_store, folder / "prodloop.db")
    with running_control_plane(
        folder, control_yaml=control_yaml, clock=ManualClock(NOW), start_pipeline=False
    ) as running:
        yield running
