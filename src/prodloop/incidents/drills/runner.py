"""A demo drill: a real burst through the gateway, then the incident in compressed time.

What is real time and what is simulated:

- Real time: `live.run_live_burst` sends requests through a real gateway to the fake
  upstream, half with the scenario's fault off and half with it on (the fault reaches
  the gateway as a runtime rule, through its poller). This measures that the injection
  really produces the errors, latency or tokens.
- Simulated time: the incident itself, on a `PacedClock` over the drill's own store.
  Traffic at 5 requests per simulated second is replayed from the events the gateway
  wrote (same status, latency, tokens and cost, new timestamps), and prodloop's own
  `loop.tick` runs every 15 simulated seconds: alert evaluation, paging, the incident,
  the canary rollback, the 15-minute status update. With `speed` 0 it runs as fast as it
  can; with N > 0 simulated time runs N times faster than real time.

The on-call acknowledges by itself unless told not to; then the drill waits for a person
(`prodloop incident ack ID`) and puts their real-time acknowledgement on the drill's
clock. For faults a rollback cannot fix, the drill turns the fault off once the
incident is acknowledged, as the runbook's mitigation step would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Engine

from prodloop import loop
from prodloop.config import Config, parse_config
from prodloop.errors import ValidationError
from prodloop.incidents.comms import post_status_update
from prodloop.incidents.drills.live import Shapes, run_live_burst
from prodloop.incidents.drills.pacing import PacedClock
from prodloop.incidents.drills.report import (
    DrillReport,
    drill_targets,
    measures_of,
    write_report,
)
from prodloop.incidents.drills.scenarios import SERVICE, Scenario
from prodloop.incidents.lifecycle import (
    acknowledge_incident,
    list_incidents,
    load_incident,
    member_alerts,
)
from prodloop.incidents.runbooks import Runbook, load_runbooks, record_drill, runbook_for
from prodloop.incidents.timeline import read_timeline, record
from prodloop.releases.deployments import DeployRequest, register_deployment
from prodloop.store import connect
from prodloop.store.schema import incident_events, incidents
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events

ON_CALL = "drill-oncall"
TICK_S = 15.0
REQUESTS_PER_S = 5
BASELINE_S = 300.0
LIMIT_S = 3600.0  # a drill that has not resolved after an hour of simulated time fails
CANARY_SHARE = 0.1


def drill_config_text(store_url: str) -> str:
    """The demo config of a drill as YAML: one service, the guide's alerts, console paging."""
    return f"""store: {{url: "{store_url}"}}
services:
  {SERVICE}:
    stable: v1
    versions:
      v1: {{upstream: "http://127.0.0.1:9/v1"}}
slos:
  objectives:
    - {{name: error-rate, kind: ratio, objective: 0.99, bad: errors, burn_rate_alerts: false,
       alert: {{above: 0.03, window: 5m, for: 1m}}}}
    - {{name: latency-p95, kind: latency, percentile: 95, threshold_ms: 2000,
       burn_rate_alerts: false, alert: {{above: 2500, window: 5m, for: 1m}}}}
    - {{name: cost-per-request, kind: average, target: 0.002, burn_rate_alerts: false,
       alert: {{above: 0.003, window: 5m, for: 1m}}}}
releases:
  analysis_interval: 1h
  hold: 1h
paging:
  notifiers:
    console: {{kind: console}}
  people:
    {ON_CALL}: {{notify: [console]}}
  schedules:
    primary: {{rotation: daily, people: [{ON_CALL}], start: 2026-01-01, handoff: "00:00"}}
  escalation_policies:
    {SERVICE}:
      levels:
        - {{targets: ["schedule:primary"], after: 30m}}
  routes:
    - match: {{severity: page}}
      notifiers: [console]
      escalation_policy: {SERVICE}
    - match: {{}}
      notifiers: [console]
"""


def drill_config(store_url: str) -> Config:
    """The demo config of a drill (see `drill_config_text`)."""
    return parse_config(drill_config_text(store_url), environ={})


def _replay(
    shapes: Shapes, start: float, end: float, is_fault: bool, canary_share: float
) -> list[RequestEvent]:
    """Steady traffic over [start, end), each request a copy of one the gateway measured."""
    count = round((end - start) * REQUESTS_PER_S)
    canary_every = round(1 / canary_share) if canary_share > 0 else 0
    events: list[RequestEvent] = []
    for i in range(count):
        version = "v2" if canary_every and i % canary_every == 0 else "v1"
        pool = shapes.pool(is_fault, version)
        sample = pool[(round(start * REQUESTS_PER_S) + i) % len(pool)]
        ts = start + i / REQUESTS_PER_S
        events.append(
            dataclasses.replace(
                sample, ts=ts, service=SERVICE, version=version, request_id="", trace_id=""
            )
        )
    return events


def _mark_drill(engine: Engine, incident_id: int) -> None:
    """The lifecycle opens incidents as real ones; a drill's is flagged right after."""
    with engine.begin() as conn:
        conn.execute(update(incidents).where(incidents.c.id == incident_id).values(is_drill=True))


def _move_acknowledgement(engine: Engine, incident_id: int, real_at: float, sim_at: float) -> None:
    """Put a person's acknowledgement, stamped in real time, on the drill's clock."""
    with engine.begin() as conn:
        conn.execute(
            update(incidents).where(incidents.c.id == incident_id).values(acknowledged_at=sim_at)
        )
        conn.execute(
            update(incident_events)
            .where(
                incident_events.c.incident_id == incident_id,
                incident_events.c.kind == "acknowledged",
                incident_events.c.at == real_at,
            )
            .values(at=sim_at)
        )


def _minute(now: float) -> float:
    return now - now % 60


def run_drill(
    scenario: Scenario,
    *,
    store_url: str,
    speed: float = 0.0,
    is_auto_ack: bool = True,
    now_start: float | None = None,
    echo: Callable[[str], None] = lambda _line: None,
    runbooks_dir: Path | None = None,
    output: Path | None = None,
    config_path: Path | None = None,
    shapes: Shapes | None = None,
    limit_s: float = LIMIT_S,
) -> DrillReport:
    """Run one demo drill to resolution and measure it; see the module docstring.

    `config_path`, when given, gets the drill store's config, for a person's
    `prodloop incident ack ID --config PATH`; `shapes` skips the live burst (benchmarks
    reuse one); a drill not resolved `limit_s` simulated seconds after the fault fails.
    """
    if not is_auto_ack and speed <= 0:
        raise ValidationError("waiting for a person needs a pacing speed above 0", field="speed")
    live = shapes or run_live_burst(scenario, echo)
    figures = live.figures
    echo(
        f"live: {figures.requests} requests; error rate {figures.baseline_error_rate:.0%} →"
        f" {figures.fault_error_rate:.0%}, p95 {figures.baseline_p95_ms:.0f} →"
        f" {figures.fault_p95_ms:.0f} ms, tokens ×{figures.token_multiplier:.2f}"
    )
    config = drill_config(store_url)
    if config_path is not None:
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(drill_config_text(store_url), encoding="utf-8")
    engine = connect(config.store.url)
    clock = PacedClock(_minute(time.time()) if now_start is None else now_start, speed)
    try:
        return _run(
            scenario, config, engine, clock, live, is_auto_ack, echo, runbooks_dir, output,
            config_path, limit_s,
        )  # fmt: skip
    finally:
        engine.dispose()


def _run(
    scenario: Scenario,
    config: Config,
    engine: Engine,
    clock: PacedClock,
    live: Shapes,
    is_auto_ack: bool,
    echo: Callable[[str], None],
    runbooks_dir: Path | None,
    output: Path | None,
    config_path: Path | None,
    limit_s: float,
) -> DrillReport:
    is_fault = False
    canary_share = 0.0
    incident_id: int | None = None
    fault_at = clock.now() + BASELINE_S
    is_fault_off = False
    notes: list[str] = []

    def step() -> None:
        start = clock.now()
        clock.advance(TICK_S)
        write_events(engine, _replay(live, start, clock.now(), is_fault, canary_share))
        loop.tick(engine, config, clock.now())

    while clock.now() < fault_at:
        step()
    echo(f"fault on at +0s (simulated): {scenario.description}")
    if scenario.is_canary:
        request = DeployRequest(SERVICE, "v2", "http://127.0.0.1:9/v1", deployed_by="drill")
        register_deployment(engine, config, request, clock.now(), probe=lambda _u, _t: None)
        canary_share = CANARY_SHARE
    is_fault = True
    is_resolved = False
    is_ack_placed = is_auto_ack  # the drill's own ack is stamped on its clock already
    while clock.now() < fault_at + limit_s:
        step()
        opened = list_incidents(engine)
        if incident_id is None and opened:
            incident_id = opened[0].id
            _mark_drill(engine, incident_id)
            echo(f"incident {incident_id} opened at +{clock.now() - fault_at:.0f}s")
            if not is_auto_ack:
                where = f" --config {config_path}" if config_path else ""
                echo(f"waiting for a person: prodloop incident ack {incident_id} --by NAME{where}")
        if incident_id is None:
            continue
        incident = load_incident(engine, incident_id)
        if incident.acknowledged_at is None and is_auto_ack:
            acknowledge_incident(engine, incident_id, ON_CALL, clock.now())
            echo(f"acknowledged as {ON_CALL} at +{clock.now() - fault_at:.0f}s")
            incident = load_incident(engine, incident_id)
        elif incident.acknowledged_at is not None and not is_ack_placed:
            # A person's ack: stamped in real time, which the paced clock maps onto its own.
            real_at = incident.acknowledged_at
            sim_at = min(max(clock.sim_at(real_at), incident.detected_at), clock.now())
            _move_acknowledgement(engine, incident_id, real_at, sim_at)
            is_ack_placed = True
            echo(f"acknowledged by a person at +{sim_at - fault_at:.0f}s")
            incident = load_incident(engine, incident_id)
        if incident.acknowledged_at is None:
            continue
        if scenario.is_canary and incident.mitigated_at is not None:
            canary_share = 0.0  # rolled back: no traffic reaches v2
        if not scenario.is_canary and not is_fault_off:
            is_fault, is_fault_off = False, True
            with engine.begin() as conn:
                record(conn, incident_id, clock.now(), "mitigation_started",
                       "drill: fault turned off (the runbook's mitigation step)",
                       actor=ON_CALL)  # fmt: skip
                conn.execute(
                    update(incidents)
                    .where(incidents.c.id == incident_id)
                    .values(mitigation_started_at=clock.now())
                )
            echo(f"fault off at +{clock.now() - fault_at:.0f}s")
        if incident.mitigated_at is not None and incident.first_update_at is not None:
            post_status_update(engine, incident_id, "resolved", "Drill over.", ON_CALL, clock.now())
            echo(f"resolved at +{clock.now() - fault_at:.0f}s")
            is_resolved = True
            break
    if not is_resolved:
        limit = f"{limit_s / 60:.0f} simulated minutes"
        if incident_id is None:
            notes.append(f"No incident opened within {limit}.")
        elif load_incident(engine, incident_id).acknowledged_at is None:
            notes.append(f"Nobody acknowledged incident {incident_id} within {limit}: gave up.")
        else:
            notes.append(f"Incident {incident_id} was not resolved within {limit}.")
        echo(notes[-1])
    clock_note = (
        f"simulated time, paced at {clock.speed:g}× real time"
        if clock.is_paced
        else "simulated time, compressed"
    )
    return _report(
        scenario, engine, incident_id, fault_at, runbooks_dir, output, echo, live,
        clock_note, notes,
    )  # fmt: skip


def _covering(engine: Engine, incident_id: int | None, runbooks_dir: Path | None) -> Runbook | None:
    if runbooks_dir is None or not runbooks_dir.is_dir() or incident_id is None:
        return None
    runbooks, _ = load_runbooks(runbooks_dir)
    with engine.connect() as conn:
        members = member_alerts(conn, incident_id)
    return runbook_for(members[0].labels, runbooks) if members else None


def _report(
    scenario: Scenario,
    engine: Engine,
    incident_id: int | None,
    fault_at: float,
    runbooks_dir: Path | None,
    output: Path | None,
    echo: Callable[[str], None],
    live: Shapes,
    clock_note: str,
    notes: list[str],
) -> DrillReport:
    steps: list[tuple[float, str, str]] = []
    if incident_id is not None:
        with engine.connect() as conn:
            steps = [(e.at - fault_at, e.kind, e.message) for e in read_timeline(conn, incident_id)]
    covering = _covering(engine, incident_id, runbooks_dir)
    measures, is_rolled_back = measures_of(steps, drill_targets(covering), scenario.is_canary)
    day = dt.datetime.now(dt.UTC).date()  # the day the drill was run
    runbook_path: str | None = None
    if covering is not None:
        record_drill(covering.path, day)
        runbook_path = covering.path
        echo(f"recorded the drill on {covering.path}")
    report = DrillReport(
        scenario.name, incident_id, fault_at, measures, steps, is_rolled_back, clock_note,
        live=live.figures, runbook_path=runbook_path, notes=tuple(notes),
    )  # fmt: skip
    path = output or Path("ops/drills") / f"{day.isoformat()}-{scenario.name}.md"
    return dataclasses.replace(report, report_path=write_report(report, path))
