"""The launch over HTTP: checklist, sign-offs, GA (refused like the CLI), status, exit criteria."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete

from prodloop.clock import ManualClock
from prodloop.releases.flags.store import get_flag
from prodloop.reviews.exit_criteria import exit_criteria, parse_quarter
from prodloop.reviews.launch_events import read_events
from prodloop.store.schema import feedback, launch_signoffs
from prodloop.web.dashboard.tokens import create_token
from prodloop.web.dashboard.users import add_user
from tests.api.support import ControlPlane, running_control_plane
from tests.reviews.launch_data import (
    LaunchStore,
    add_feedback,
    config_text,
    launch_store,
    make_launch_ready,
)


@dataclass
class Launch:
    plane: ControlPlane
    store: LaunchStore
    clock: ManualClock


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """The control plane over the launch tests' config and store (same file)."""
    store = launch_store(tmp_path)
    url = store.config.store.url
    launch_yaml = config_text(url, tmp_path).replace(f"store:\n  url: {url}\n", "")
    clock = ManualClock(time.time())
    with running_control_plane(
        tmp_path, control_yaml=launch_yaml, clock=clock, start_pipeline=False
    ) as plane:
        assert plane.config.store.url == url and plane.config.launch.service == "chat"
        yield Launch(plane, store, clock)


def _user_token(plane: ControlPlane, name: str, role: str) -> str:
    now = plane.clock.now()
    add_user(plane.engine, name, "a long enough password", role, now=now)
    token, _ = create_token(plane.engine, name, label="test", now=now)
    return token


def test_ga_is_refused_naming_the_failing_lines_then_declared(launch: Launch) -> None:
    plane, store, clock = launch.plane, launch.store, launch.clock
    make_launch_ready(store, clock.now())
    with store.engine.begin() as conn:
        conn.execute(delete(launch_signoffs).where(launch_signoffs.c.role == "operations"))
        conn.execute(delete(feedback))
    with plane.client() as http:
        check = http.get("/api/v1/launch/check")
        assert check.status_code == 200
        assert check.json()["ok"] is False and check.json()["service"] == "chat"
        failing = [line for line in check.json()["lines"] if not line["ok"]]
        assert [line["name"] for line in failing] == ["feedback", "signoffs"]
        assert "0 submissions (need ≥ 10)" in failing[0]["evidence"]

        refused = http.post("/api/v1/launch/ga", json={"by": "Ada"})
        assert refused.status_code == 409
        assert refused.json()["error"] == {
            "message": "the launch checklist fails: feedback, signoffs", "field": "checklist"
        }  # fmt: skip
        assert [line["name"] for line in refused.json()["failing"]] == ["feedback", "signoffs"]
        assert get_flag(store.engine, "launch").is_enabled is False
        assert read_events(store.engine) == []

        signed = http.post(
            "/api/v1/launch/signoffs",
            json={"by": "Grace", "role": "operations", "note": "after the drill"},
        )
        assert signed.status_code == 201
        assert signed.json() == {
            "by": "Grace", "role": "operations", "note": "after the drill", "at": clock.now()
        }  # fmt: skip
        add_feedback(store.engine, clock.now(), 10)
        check = http.get("/api/v1/launch/check").json()
        assert check["ok"] is True and all(line["ok"] for line in check["lines"])

        declared = http.post("/api/v1/launch/ga", json={"by": "Ada"})
        assert declared.status_code == 200, declared.text
        body = declared.json()
        assert (body["flag"], body["at"], body["watch_until"]) == (
            "launch", clock.now(), clock.now() + 7200.0
        )  # fmt: skip
        assert get_flag(store.engine, "launch").is_enabled is True

        again = http.post("/api/v1/launch/ga", json={"by": "Ada"})
        assert again.status_code == 409 and "its watch is running" in again.text

        status = http.get("/api/v1/launch/status").json()
        assert status["stage"] == "watching"
        assert [e["kind"] for e in status["events"]] == ["ga_declared", "watch_started"]
        assert {"by": "Grace", "role": "operations"}.items() <= status["signoffs"][-1].items()


def test_bad_input_names_the_field(launch: Launch) -> None:
    with launch.plane.client() as http:
        role = http.post("/api/v1/launch/signoffs", json={"by": "Grace", "role": "chef"})
        assert role.status_code == 422
        assert role.json()["error"]["field"] == "role"
        assert role.json()["error"]["message"].startswith("unknown role 'chef' (roles: ")
        nobody = http.post("/api/v1/launch/signoffs", json={"by": " ", "role": "operations"})
        assert nobody.json()["error"] == {"message": "say who signs off", "field": "by"}
        missing = http.post("/api/v1/launch/ga", json={})
        assert (missing.status_code, missing.json()["error"]["field"]) == (422, "by")
        quarter = http.get("/api/v1/launch/exit-criteria", params={"quarter": "2026Q4"})
        assert quarter.status_code == 422
        assert quarter.json()["error"] == {
            "message": "expected a quarter like 2026-Q4, got '2026Q4'", "field": "quarter"
        }  # fmt: skip
        assert http.get("/api/v1/launch/status").json()["signoffs"] == []


def test_exit_criteria_of_a_quarter(launch: Launch) -> None:
    plane, clock = launch.plane, launch.clock
    with plane.client() as http:
        response = http.get("/api/v1/launch/exit-criteria", params={"quarter": "2026-Q1"})
    assert response.status_code == 200
    report = response.json()
    same = exit_criteria(plane.engine, plane.config, parse_quarter("2026-Q1"), clock.now())
    assert report == same.to_dict()  # what `prodloop launch exit-criteria --json` prints
    assert (report["quarter"], report["service"], report["ok"]) == ("2026-Q1", "chat", False)


def test_sign_offs_need_an_operator_and_ga_an_admin(launch: Launch) -> None:
    plane = launch.plane
    viewer = _user_token(plane, "vera", "viewer")
    operator = _user_token(plane, "otto", "operator")
    signoff = {"by": "otto", "role": "operations"}
    with plane.client(token=viewer) as http:
        assert http.get("/api/v1/launch/check").status_code == 200
        assert http.post("/api/v1/launch/signoffs", json=signoff).status_code == 403
    with plane.client(token=operator) as http:
        assert http.post("/api/v1/launch/signoffs", json=signoff).status_code == 201
        refused = http.post("/api/v1/launch/ga", json={"by": "otto"})
        assert refused.status_code == 403
        assert (
            refused.json()["error"]["message"] == "the operator role cannot do this; it needs admin"
        )
    with plane.client(token=None) as http:
        assert http.get("/api/v1/launch/status").status_code == 401
