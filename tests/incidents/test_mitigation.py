"""Mitigation: roll back a rollout under way, or a deployment that just went live."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.clock import ManualClock
from prodloop.config import Config
from prodloop.incidents.lifecycle import list_incidents, load_incident
from prodloop.incidents.mitigation import mitigate_by_rollback
from prodloop.incidents.timeline import read_timeline
from prodloop.releases.control import promote_rollout
from prodloop.releases.deployments import DeployRequest, register_deployment
from prodloop.store import connect
from prodloop.store.schema import deployments, rollouts, service_versions
from tests.incidents.test_lifecycle import START, drive, incident_config


def _no_probe(_upstream: str, _timeout_s: float) -> None:
    """Every upstream answers."""


def _setup(tmp_path: Path, extra: str = "") -> tuple[Config, Engine, ManualClock]:
    config = incident_config(f"sqlite:///{tmp_path / 'p.db'}", extra)
    engine = connect(config.store.url)
    clock = ManualClock(START)
    drive(engine, config, clock, 6, 0.0)
    return config, engine, clock


def _deploy(engine: Engine, config: Config, clock: ManualClock) -> None:
    request = DeployRequest(service="chat", version="v2", upstream="http://127.0.0.1:9/v1",
                            deployed_by="carol")  # fmt: skip
    register_deployment(engine, config, request, clock.now(), probe=_no_probe)


def _weights(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        rows = conn.execute(select(service_versions.c.version, service_versions.c.weight))
        return {version: weight for version, weight in rows}


def _timeline(engine: Engine, incident_id: int) -> list[tuple[str, str | None, dict[str, object]]]:
    with engine.connect() as conn:
        return [(e.kind, e.actor, e.data) for e in read_timeline(conn, incident_id)]


def test_a_page_during_a_rollout_rolls_it_back_and_the_timeline_says_so(tmp_path: Path) -> None:
    config, engine, clock = _setup(tmp_path)
    _deploy(engine, config, clock)
    drive(engine, config, clock, 8, 1.0)

    (incident,) = list_incidents(engine)
    assert incident.mitigated_at is not None
    assert incident.mitigated_at >= incident.detected_at
    with engine.connect() as conn:
        state = conn.execute(select(rollouts.c.state)).scalar_one()
    assert state == "rolled_back"
    assert _weights(engine)["v1"] == 100.0
    done = [d for kind, _, d in _timeline(engine, incident.id) if kind == "mitigation_done"]
    assert done and done[0]["to_version"] == "v1" and done[0]["during_rollout"] is True


def test_the_incident_rolls_back_a_rollout_when_the_controller_does_not(tmp_path: Path) -> None:
    config, engine, clock = _setup(tmp_path)
    releases = config.releases.model_copy(update={"rollback_on_page": False})
    config = config.model_copy(update={"releases": releases})
    _deploy(engine, config, clock)
    drive(engine, config, clock, 8, 1.0)

    (incident,) = list_incidents(engine)
    with engine.connect() as conn:
        state = conn.execute(select(rollouts.c.state)).scalar_one()
    assert state == "rolled_back"
    started = [a for kind, a, _ in _timeline(engine, incident.id) if kind == "mitigation_started"]
    assert started == [f"prodloop (incident {incident.id})"]
    assert load_incident(engine, incident.id).mitigation_started_at == incident.detected_at


def _live_v2(tmp_path: Path, policy: str) -> tuple[Config, Engine, ManualClock]:
    config, engine, clock = _setup(tmp_path, f"incidents:\n  mitigation: {policy}\n")
    _deploy(engine, config, clock)
    promote_rollout(engine, config, "chat", clock.now(), by="carol")
    drive(engine, config, clock, 8, 1.0)
    return config, engine, clock


def test_suggest_proposes_rolling_back_a_recent_deployment(tmp_path: Path) -> None:
    config, engine, clock = _live_v2(tmp_path, "suggest")
    (incident,) = list_incidents(engine)
    assert _weights(engine)["v2"] == 100.0  # nothing changed
    proposed = [d for kind, _, d in _timeline(engine, incident.id) if kind == "mitigation_proposed"]
    assert proposed == [{"deployment_id": 1, "version": "v2", "previous_version": "v1"}]
    assert incident.mitigated_at is None

    clock.advance(120)
    done = mitigate_by_rollback(engine, config, incident.id, clock.now(), by="alice")

    assert done.rollback is not None and done.rollback.to_version == "v1"
    assert _weights(engine)["v1"] == 100.0
    incident = load_incident(engine, incident.id)
    assert incident.mitigated_at == clock.now()
    kinds = [(kind, actor) for kind, actor, _ in _timeline(engine, incident.id)]
    assert ("mitigation_started", "alice") in kinds and ("mitigation_done", "alice") in kinds


def test_auto_rolls_back_a_recent_deployment(tmp_path: Path) -> None:
    _, engine, _ = _live_v2(tmp_path, "auto")
    (incident,) = list_incidents(engine)
    assert _weights(engine)["v1"] == 100.0
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(deployments.c.version, deployments.c.status)).all())
    assert statuses["v2"] == "rolled_back"
    assert incident.mitigated_at is not None


def test_an_old_deployment_is_not_a_suspect(tmp_path: Path) -> None:
    config, engine, clock = _setup(tmp_path, "incidents:\n  mitigation: auto\n")
    _deploy(engine, config, clock)
    promote_rollout(engine, config, "chat", clock.now(), by="carol")
    drive(engine, config, clock, 35, 0.0)  # v2 has been live 35 minutes
    drive(engine, config, clock, 8, 1.0)
    (incident,) = list_incidents(engine)
    assert _weights(engine)["v2"] == 100.0
    assert "mitigation_proposed" not in [k for k, _, _ in _timeline(engine, incident.id)]
