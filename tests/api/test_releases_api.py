"""Deployments, rollouts and rollbacks over HTTP, Argo Rollouts' web metric and Flagger's
webhooks, against a real control plane with a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from prodloop.clock import ManualClock
from prodloop.releases.rollouts import advance_rollouts
from prodloop.store.schema import alerts, request_events
from tests.api.support import ControlPlane, running_control_plane

SERVICES = """
services:
  chat:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
releases:
  hold: 60s
  analysis_interval: 60s
"""


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path, control_yaml=SERVICES, clock=ManualClock()) as plane:
        yield plane


def _events(engine: Engine, version: str, at: float, n: int, errors: int = 0) -> None:
    rows = [
        {
            "ts": at + i * 0.01, "service": "chat", "version": version,
            "route": "/v1/chat/completions", "status": 503 if i < errors else 200,
            "error_class": "upstream_5xx" if i < errors else None,
            "latency_ms": 100.0 + i % 5, "cost_usd": 0.0001, "guardrails": "",
        }
        for i in range(n)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(request_events.insert(), rows)


def test_deploy_status_actions_and_rollback(plane: ControlPlane) -> None:
    upstream = plane.url + "/v1"  # any HTTP answer shows the upstream is up
    with plane.client() as http:
        created = http.post(
            "/api/v1/deployments",
            json={"service": "chat", "version": "v2", "upstream": upstream, "steps": [10, 100],
                  "git_sha": "abc", "merged_at": "2026-01-01T00:00:00Z", "by": "ci"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["deployment"]["deployed_by"] == "ci"
        assert body["rollout"]["weight"] == 10.0 and body["rollout"]["state"] == "progressing"

        conflict = http.post(
            "/api/v1/deployments", json={"service": "chat", "version": "v3", "upstream": upstream}
        )
        assert conflict.status_code == 409 and "under way" in conflict.json()["error"]["message"]

        assert http.post("/api/v1/rollouts/chat/pause").json()["state"] == "paused"
        assert http.post("/api/v1/rollouts/chat/resume").json()["state"] == "progressing"
        promoted = http.post("/api/v1/rollouts/chat/promote", json={"by": "ana"})
        assert promoted.json()["state"] == "promoted"
        assert http.get("/api/v1/rollouts/chat").json()["weight"] == 100.0
        history = http.get("/api/v1/deployments", params={"service": "chat"}).json()
        [live] = history["deployments"]
        assert live["status"] == "live" and live["lead_time_s"] is not None

        back = http.post("/api/v1/services/chat/rollback", json={"by": "ana"})
        assert back.status_code == 200
        assert back.json() == {
            "service": "chat", "from_version": "v2", "to_version": "v1", "during_rollout": False
        }  # fmt: skip
        assert http.post("/api/v1/rollouts/chat/abort").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"service": "nope", "version": "v2", "upstream": "http://x"}, 404, "service"),
        ({"service": "chat", "version": "v1", "upstream": "http://x"}, 409, "version"),
        ({"service": "chat", "version": "v2", "upstream": "x"}, 422, "upstream"),
        ({"service": "chat", "version": "v2", "upstream": "http://127.0.0.1:9/v1"}, 422,
         "upstream"),
        ({"service": "chat", "version": "v2", "upstream": "http://x", "steps": [5, 50]}, 422,
         "steps"),
        ({"service": "chat", "version": "v2", "upstream": "http://x", "hold": "soon"}, 422,
         "hold"),
        ({"service": "chat", "version": "v2"}, 422, "upstream"),
    ],
)  # fmt: skip
def test_bad_deploys_are_4xx_naming_the_field(
    plane: ControlPlane, body: dict[str, object], status: int, field: str
) -> None:
    with plane.client() as http:
        response = http.post("/api/v1/deployments", json=body)
        assert response.status_code == status, response.text
        assert response.json()["error"]["field"] == field
        assert http.get("/api/v1/deployments").json() == {"deployments": []}


def test_every_route_needs_a_token(plane: ControlPlane) -> None:
    with plane.client(token=None) as http:
        assert http.get("/api/v1/deployments").status_code == 401
        assert http.get("/api/v1/analysis/chat?canary=v2&stable=v1").status_code == 401
        assert http.post("/api/v1/services/chat/rollback").status_code == 401
        assert http.post("/api/v1/flagger/rollback", json={"name": "chat"}).status_code == 401


def test_argo_web_metric(plane: ControlPlane) -> None:
    now = plane.clock.now()
    _events(plane.engine, "v2", now - 120, 100, errors=50)
    _events(plane.engine, "v1", now - 120, 300)
    _events(plane.engine, "v3", now - 120, 100)
    with plane.client() as http:
        bad = http.get("/api/v1/analysis/chat", params={"canary": "v2", "stable": "v1"}).json()
        assert bad["verdict"] == "fail"
        assert any(c["metric"] == "error_rate" and c["result"] == "fail" for c in bad["checks"])
        assert bad["samples"]["canary"]["requests"] == 100
        good = http.get(
            "/api/v1/analysis/chat", params={"canary": "v3", "stable": "v1", "window": "10m"}
        ).json()
        assert good["verdict"] == "pass", good["checks"]
        empty = http.get(
            "/api/v1/analysis/chat", params={"canary": "v3", "stable": "v1", "window": "1m"}
        ).json()
        assert empty["verdict"] == "fail"  # no data fails, as Flagger's default does
        wrong = http.get("/api/v1/analysis/chat", params={"canary": "v3", "stable": "v1",
                                                         "window": "often"})  # fmt: skip
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "window"


def test_flagger_webhooks(plane: ControlPlane) -> None:
    now = plane.clock.now()
    _events(plane.engine, "v2", now - 120, 100, errors=50)
    _events(plane.engine, "v1", now - 120, 300)
    _events(plane.engine, "v3", now - 120, 100)
    payload = {"name": "chat", "namespace": "prod", "phase": "Progressing",
               "metadata": {"canary": "v2", "stable": "v1", "window": "5m"}}  # fmt: skip
    with plane.client() as http:
        assert http.post("/api/v1/flagger/confirm-rollout", json=payload).status_code == 200
        assert http.post("/api/v1/flagger/rollback", json=payload).status_code == 200
        assert http.post("/api/v1/flagger/confirm-promotion", json=payload).status_code == 403
        good = {**payload, "metadata": {"canary": "v3", "stable": "v1"}}
        assert http.post("/api/v1/flagger/rollback", json=good).status_code == 403
        assert http.post("/api/v1/flagger/confirm-promotion", json=good).status_code == 200
        missing = http.post("/api/v1/flagger/rollback", json={"name": "chat"})
        assert missing.status_code == 422 and missing.json()["error"]["field"] == "metadata"
        with plane.engine.begin() as conn:
            conn.execute(
                alerts.insert().values(
                    fingerprint="f",
                    alertname="ErrorRateHigh",
                    kind="threshold",
                    severity="page",
                    service="chat",
                    labels="{}",
                    state="firing",
                    active_at=now,
                    fired_at=now,
                    last_eval_at=now,
                    threshold=0.03,
                )
            )
        held = http.post("/api/v1/flagger/confirm-rollout", json=payload)
        assert held.status_code == 403 and "ErrorRateHigh" in held.json()["message"]
    # Flagger cannot send headers: the token may ride in the metadata
    with plane.client(token=None) as http:
        token = {**good, "metadata": {**good["metadata"], "token": "test-api-token"}}
        assert http.post("/api/v1/flagger/confirm-promotion", json=token).status_code == 200


def test_rollout_analyses_show_in_status(plane: ControlPlane) -> None:
    with plane.client() as http:
        http.post("/api/v1/deployments", json={"service": "chat", "version": "v2",
                                               "upstream": plane.url + "/v1"})  # fmt: skip
        assert isinstance(plane.clock, ManualClock)
        plane.clock.advance(60)
        advance_rollouts(plane.engine, plane.config, plane.clock.now())
        status = http.get("/api/v1/rollouts/chat").json()
        # no traffic at all: the no-data policy fails the analysis
        assert status["analyses"][0]["verdict"] == "fail"
        assert status["failed_checks"] == 1


def test_manual_weights_are_checked_and_refused_during_a_rollout(plane: ControlPlane) -> None:
    upstream = plane.url + "/v1"
    with plane.client() as http:
        uneven = http.put("/api/v1/services/chat/weights", json={"weights": {"v1": 60}})
        assert uneven.status_code == 422
        assert uneven.json()["error"]["message"] == "weights must sum to 100, not 60"
        unknown = http.put("/api/v1/services/chat/weights", json={"weights": {"v7": 100}})
        assert unknown.status_code == 404 and "no version named 'v7'" in unknown.text
        created = http.post(
            "/api/v1/deployments",
            json={"service": "chat", "version": "v2", "upstream": upstream, "steps": [10, 100]},
        )
        assert created.status_code == 201, created.text
        busy = http.put("/api/v1/services/chat/weights", json={"weights": {"v1": 50, "v2": 50}})
        assert busy.status_code == 409 and "under way" in busy.json()["error"]["message"]
        assert http.get("/api/v1/rollouts/chat").json()["weight"] == 10.0  # nothing changed
        assert http.post("/api/v1/rollouts/chat/promote").json()["state"] == "promoted"
        split = http.put(
            "/api/v1/services/chat/weights", json={"weights": {"v1": 25, "v2": 75}, "by": "ana"}
        )
        assert split.status_code == 200, split.text
        assert split.json() == {"service": "chat", "weights": {"v1": 25.0, "v2": 75.0}}
