"""The rollout controller on a manual clock: steps, promotion, rollbacks, pauses, restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.errors import NotFoundError
from prodloop.releases.analysis import Judge, judge_window
from prodloop.releases.control import pause_rollout, promote_rollout, resume_rollout, rollback
from prodloop.releases.deployments import ConflictError, DeployRequest, register_deployment
from prodloop.releases.rollouts import advance_rollouts, get_rollout
from prodloop.releases.routing import read_routes
from prodloop.store import connect
from prodloop.store.schema import alerts, deployments, notification_deliveries
from tests.releases.support import (
    START,
    add_events,
    no_probe,
    open_store,
    release_config,
    stand_in,
)

REQUEST = DeployRequest(
    service="chat", version="v2", upstream="http://127.0.0.1:9/v1", deployed_by="ana",
    merged_at=START - 900,
)  # fmt: skip


def _weights(engine: Engine) -> dict[str, float]:
    return {r.version: r.weight for r in read_routes(engine)["chat"]}


def _deployment(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(select(deployments).order_by(deployments.c.id.desc())).mappings().first()
            or {}
        )


def _run(
    engine: Engine, config: Config, judge: Judge, ticks: int, every_s: float = 60
) -> list[str]:
    kinds = []
    for i in range(1, ticks + 1):
        events = advance_rollouts(engine, config, START + i * every_s, judge=judge)
        kinds.extend(e.kind for e in events)
    return kinds


def test_passing_canary_steps_up_and_is_promoted(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        register_deployment(engine, config, REQUEST, START, probe=no_probe)
        judge = stand_in("pass")
        kinds = advance_rollouts(engine, config, START + 30, judge=judge)
        assert kinds == []  # no analysis before the interval
        kinds_1 = _run(engine, config, judge, 1)
        assert kinds_1 == ["analysis", "step"]
        assert _weights(engine) == {"v1": 75.0, "v2": 25.0}
        for i in (2, 3):
            advance_rollouts(engine, config, START + i * 60, judge=judge)
        assert get_rollout(engine, "chat").state == "promoted"
        assert _weights(engine) == {"v1": 0.0, "v2": 100.0}
        roles = {r.version: r.role for r in read_routes(engine)["chat"]}
        assert roles == {"v1": "retired", "v2": "stable"}
        row = _deployment(engine)
        assert (row["status"], row["live_at"]) == ("live", START + 180)
        assert row["live_at"] - row["merged_at"] == 1080  # merge → live lead time
        looks = [look for _, _, look in judge.seen]
        assert looks == [1, 2, 3]


def test_failing_canary_rolls_back_at_the_failure_limit_and_notifies(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        register_deployment(engine, config, REQUEST, START, probe=no_probe)
        add_events(engine, "v2", START + 1, 20, errors=10)
        add_events(engine, "v1", START + 1, 200)
        judge = stand_in("fail")
        assert _run(engine, config, judge, 1) == ["analysis"]
        assert _weights(engine) == {"v1": 95.0, "v2": 5.0}  # one failure is not the limit
        assert _run(engine, config, judge, 1, every_s=120) == ["analysis", "rolled_back"]
        assert _weights(engine) == {"v1": 100.0, "v2": 0.0}
        rollout = get_rollout(engine, "chat")
        assert rollout.state == "rolled_back" and rollout.reason is not None
        assert rollout.reason["kind"] == "analysis"
        assert rollout.reason["checks"][0] == {
            "metric": "error_rate",
            "result": "fail",
            "canary": 10,
        }
        row = _deployment(engine)
        assert row["status"] == "rolled_back" and json.loads(row["reason"])["failed_analyses"] == 2
        with engine.connect() as conn:
            notice = conn.execute(select(alerts)).mappings().one()
            delivery = conn.execute(select(notification_deliveries)).mappings().one()
        assert (notice["alertname"], notice["kind"], notice["state"]) == (
            "CanaryRolledBack", "rollout", "resolved"
        )  # fmt: skip
        assert "error_rate" in notice["summary"] and "back on v1" in notice["summary"]
        assert (delivery["notifier"], delivery["state"]) == ("console", "pending")
        # the judge saw both versions over the same window
        canary, stable, _ = judge.seen[0]
        assert (canary.requests, canary.errors, stable.requests) == (20, 10, 200)


def test_a_firing_page_during_a_rollout_rolls_it_back(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        register_deployment(engine, config, REQUEST, START, probe=no_probe)
        with engine.begin() as conn:
            conn.execute(
                alerts.insert().values(
                    fingerprint="f",
                    alertname="ErrorRateHigh",
                    kind="threshold",
                    severity="page",
                    service="chat",
                    labels="{}",
                    state="firing",
                    active_at=START + 5,
                    fired_at=START + 10,
                    last_eval_at=START + 10,
                    value=0.08,
                    threshold=0.03,
                    summary="error rate 8% > 3%",
                )
            )
        events = advance_rollouts(engine, config, START + 15, judge=stand_in("pass"))
        assert [e.kind for e in events] == ["rolled_back"]
        assert events[0].reason is not None and events[0].reason["alertname"] == "ErrorRateHigh"
        assert _weights(engine) == {"v1": 100.0, "v2": 0.0}


def test_inconclusive_analyses_pause_and_resume_carries_on(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        register_deployment(engine, config, REQUEST, START, probe=no_probe)
        kinds = _run(engine, config, stand_in("inconclusive"), 3)
        assert kinds == ["analysis", "analysis", "inconclusive"]
        assert get_rollout(engine, "chat").state == "inconclusive"
        assert _weights(engine) == {"v1": 95.0, "v2": 5.0}  # held, not rolled back
        resumed = resume_rollout(engine, "chat", START + 200, by="ana")
        assert resumed.state == "progressing"
        events = advance_rollouts(engine, config, START + 300, judge=stand_in("pass"))
        assert [e.kind for e in events] == ["analysis", "step"]


def test_pause_holds_and_promote_skips_the_remaining_steps(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        register_deployment(engine, config, REQUEST, START, probe=no_probe)
        assert pause_rollout(engine, "chat", START + 1, by="ana").state == "paused"
        assert advance_rollouts(engine, config, START + 600, judge=stand_in("pass")) == []
        promoted = promote_rollout(engine, config, "chat", START + 601, by="ana")
        assert promoted.state == "promoted"
        assert _weights(engine) == {"v1": 0.0, "v2": 100.0}
        with pytest.raises(NotFoundError):
            pause_rollout(engine, "chat", START + 602, by="ana")


def test_rollback_during_and_after_a_rollout(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        with pytest.raises(ConflictError, match="no deployment to roll back"):
            rollback(engine, config, "chat", START, by="ana")
        register_deployment(engine, config, REQUEST, START, probe=no_probe)
        during = rollback(engine, config, "chat", START + 5, by="ana")
        assert (during.from_version, during.to_version, during.during_rollout) == ("v2", "v1", True)
        assert _weights(engine) == {"v1": 100.0, "v2": 0.0}
        assert get_rollout(engine, "chat").reason == {"kind": "manual", "by": "ana"}

        register_deployment(engine, config, REQUEST, START + 10, probe=no_probe)
        promote_rollout(engine, config, "chat", START + 20, by="ana")
        after = rollback(engine, config, "chat", START + 30, by="bo")
        assert (after.from_version, after.to_version, after.during_rollout) == ("v2", "v1", False)
        assert _weights(engine) == {"v1": 100.0, "v2": 0.0}
        assert _deployment(engine)["status"] == "rolled_back"


def test_rollout_state_survives_a_restart(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        register_deployment(engine, config, REQUEST, START, probe=no_probe)
        _run(engine, config, stand_in("pass"), 1)
    engine = connect(config.store.url)  # a new process: nothing kept in memory
    try:
        assert get_rollout(engine, "chat").weight == 25.0
        events = advance_rollouts(engine, config, START + 120, judge=stand_in("pass"))
        assert [e.kind for e in events] == ["analysis", "step"]
        assert get_rollout(engine, "chat").weight == 50.0
    finally:
        engine.dispose()


def test_the_real_judge_fails_an_erroring_canary(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        add_events(engine, "v2", START, 200, errors=40)
        add_events(engine, "v1", START, 400)
        bad = judge_window(engine, config, "chat", "v2", "v1", START, START + 60)
        assert bad.analysis.result == "fail"
        failed = [c["metric"] for c in bad.analysis.checks if c["result"] == "fail"]
        assert failed and bad.to_dict()["verdict"] == "fail"
        assert bad.to_dict()["samples"]["canary"]["errors"] == 40


def test_the_controller_on_both_engines(store_url: str) -> None:
    config = release_config(store_url)
    engine = connect(store_url)
    try:
        register_deployment(engine, config, REQUEST, START, probe=no_probe)
        with pytest.raises(ConflictError):
            register_deployment(engine, config, REQUEST, START, probe=no_probe)
        add_events(engine, "v2", START + 1, 30, errors=3)
        add_events(engine, "v1", START + 1, 300)
        judge = stand_in("pass")
        assert _run(engine, config, judge, 3) == ["analysis", "step"] * 2 + ["analysis", "promoted"]
        canary, stable, _ = judge.seen[0]
        assert (canary.requests, canary.errors, len(canary.latencies_ms)) == (30, 3, 27)
        assert stable.requests == 300
        assert rollback(engine, config, "chat", START + 500, by="ana").to_version == "v1"
        assert _weights(engine) == {"v1": 100.0, "v2": 0.0}
    finally:
        engine.dispose()
