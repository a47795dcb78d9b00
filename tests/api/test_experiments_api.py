"""Experiments over HTTP: the real control plane, the same answers as the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodloop.clock import ManualClock
from prodloop.reviews.experiments import experiment_results
from prodloop.web.dashboard.tokens import create_token
from prodloop.web.dashboard.users import add_user
from tests.api.support import ControlPlane, running_control_plane
from tests.reviews.test_experiments import FLAG, _flag, _thumbs_experiment_data

HOUR = 3600.0
CREATE = {"name": "prompt-v2", "flag": FLAG, "metric": "thumbs_up_rate", "by": "ana"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def control(tmp_path: Path, clock: ManualClock) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path, clock=clock, start_pipeline=False) as plane:
        _flag(plane.engine)
        yield plane


def _user_token(control: ControlPlane, name: str, role: str) -> str:
    now = control.clock.now()
    add_user(control.engine, name, "a long enough password", role, now=now)
    token, _ = create_token(control.engine, name, label="test", now=now)
    return token


def test_create_read_the_results_and_conclude(control: ControlPlane, clock: ManualClock) -> None:
    start = clock.now()
    with control.client() as http:
        created = http.post("/api/v1/experiments", json={**CREATE, "description": "shorter"})
        assert created.status_code == 201, created.text
        assert created.json() | {"id": 0} == {
            "id": 0, "name": "prompt-v2", "flag_key": FLAG, "metric": "thumbs_up_rate",
            "description": "shorter", "created_at": start, "created_by": "ana",
            "concluded_at": None, "verdict": None,
        }  # fmt: skip
        _thumbs_experiment_data(control.engine, start)
        clock.advance(2 * HOUR)

        response = http.get("/api/v1/experiments/prompt-v2")
        assert response.status_code == 200, response.text
        result = response.json()
        same = experiment_results(control.engine, control.config, "prompt-v2", clock.now())
        assert result == same.to_dict()  # what `prodloop experiment results --json` prints
        off, on = result["variants"]
        assert (off["users"], on["users"]) == (200, 200)
        assert off["value"] == pytest.approx(0.60) and on["value"] == pytest.approx(0.85)
        assert (result["verdict"], result["winner"], result["concluded_at"]) == ("ship", "on", None)

        concluded = http.post("/api/v1/experiments/prompt-v2/conclude", json={"by": "bo"})
        assert concluded.status_code == 200, concluded.text
        body = concluded.json()
        assert (body["verdict"], body["winner"]) == ("ship", "on")
        assert (body["concluded_at"], body["concluded_by"]) == (clock.now(), "bo")

        listed = http.get("/api/v1/experiments").json()["experiments"]
        assert [(e["name"], e["verdict"], e["concluded_at"]) for e in listed] == [
            ("prompt-v2", "ship", clock.now())
        ]
        again = http.post("/api/v1/experiments/prompt-v2/conclude", json={"by": "bo"})
        assert again.status_code == 422
        assert again.json()["error"] == {
            "message": "experiment 'prompt-v2' is already concluded", "field": "name"
        }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"metric": "p50_latency"}, "metric", "unknown metric"),
        ({"flag": "nope"}, "flag", "no flag 'nope'"),
        ({"name": "no spaces"}, "name", "use letters"),
        ({"by": ""}, "by", "at least 1 character"),
        ({"extra": 1}, "extra", "Extra inputs are not permitted"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(
    control: ControlPlane, change: dict[str, object], field: str, message: str
) -> None:
    with control.client() as http:
        response = http.post("/api/v1/experiments", json={**CREATE, **change})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
        assert message in response.json()["error"]["message"]
        assert http.get("/api/v1/experiments").json() == {"experiments": []}


def test_conclude_without_a_verdict_and_unknown_names_are_refused(control: ControlPlane) -> None:
    with control.client() as http:
        assert http.post("/api/v1/experiments", json=CREATE).status_code == 201
        early = http.post("/api/v1/experiments/prompt-v2/conclude", json={"by": "bo"})
        assert early.status_code == 422
        assert early.json()["error"]["field"] == "verdict"
        assert early.json()["error"]["message"].startswith("no verdict yet (needs 100 per variant")
        bad = http.post(
            "/api/v1/experiments/prompt-v2/conclude", json={"by": "bo", "verdict": "maybe"}
        )
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "verdict")
        missing = http.get("/api/v1/experiments/nope")
        assert missing.status_code == 422
        assert missing.json()["error"] == {"message": "no experiment 'nope'", "field": "name"}
        stopped = http.post(
            "/api/v1/experiments/prompt-v2/conclude",
            json={"by": "bo", "verdict": "dont_ship"},
        )
        assert stopped.status_code == 200
        assert (stopped.json()["verdict"], stopped.json()["winner"]) == ("dont_ship", None)


def test_reads_need_a_token_and_writes_an_operator(control: ControlPlane) -> None:
    with control.client(token=None) as anonymous:
        assert anonymous.get("/api/v1/experiments").status_code == 401
    viewer = _user_token(control, "vera", "viewer")
    with control.client(token=viewer) as http:
        assert http.get("/api/v1/experiments").status_code == 200
        refused = http.post("/api/v1/experiments", json=CREATE)
        assert refused.status_code == 403
        assert (
            refused.json()["error"]["message"]
            == "the viewer role cannot do this; it needs operator"
        )
    operator = _user_token(control, "otto", "operator")
    with control.client(token=operator) as http:
        assert http.post("/api/v1/experiments", json=CREATE).status_code == 201
        concluded = http.post(
            "/api/v1/experiments/prompt-v2/conclude", json={"by": "otto", "verdict": "dont_ship"}
        )
        assert concluded.status_code == 200
