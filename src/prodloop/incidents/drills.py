"""Drills: a simulated incident run through the real loop on a demo store.

A scenario is a fault rule (the gateway's `FaultRule`) plus what ends it. The runner
builds a demo config over its own store, feeds steady traffic on a manual clock, turns
the fault on, and lets `loop.tick` detect, page, open the incident and mitigate it. The
on-call acknowledges by itself unless told not to; for faults a rollback cannot fix,
the drill turns the fault off when acknowledged, as the runbook's mitigation step would.

What is real and what is simulated: the alert evaluation, paging, incident lifecycle,
rollback and status-page updates are prodloop's own code; the traffic is simulated, as
request events the fault rule shapes (the same fields the gateway's fault injection sets),
written to the store at 5 requests per simulated second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Engine

from prodloop import loop
from prodloop.clock import ManualClock
from prodloop.config import Config, parse_config
from prodloop.config.sections import FaultRule
from prodloop.errors import ValidationError
from prodloop.incidents.comms import post_status_update
from prodloop.incidents.lifecycle import (
    acknowledge_incident,
    list_incidents,
    load_incident,
    member_alerts,
)
from prodloop.incidents.runbooks import load_runbooks, record_drill, runbook_for
from prodloop.incidents.timeline import read_timeline, record
from prodloop.releases.deployments import DeployRequest, register_deployment
from prodloop.store import connect
from prodloop.store.schema import incidents
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events

SERVICE = "chat"
ON_CALL = "drill-oncall"
TICK_S = 15.0
REQUESTS_PER_S = 5
BASE_LATENCY_MS = 400.0
BASE_COST_USD = 0.0015
BASELINE_S = 300.0
LIMIT_S = 3600.0  # a drill that has not resolved after an hour of simulated time fails
DETECT_TARGET_S = 300.0  # the alert windows
FIRST_UPDATE_TARGET_S = 900.0  # the status page within 15 minutes
MITIGATE_TARGET_S = 1800.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """One drill: the fault it injects and whether a canary rollback is what ends it."""

    name: str
    description: str
    fault: FaultRule
    is_canary: bool = False


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "error-spike",
            "a canary version answers 503s; the rollout is rolled back",
            FaultRule(service=SERVICE, version="v2", error_rate=1.0),
            is_canary=True,
        ),
        Scenario(
            "latency-regression",
            "every request takes 3 s longer",
            FaultRule(service=SERVICE, latency_ms=3000.0),
        ),
        Scenario(
            "token-cost-spike",
            "responses use three times the tokens",
            FaultRule(service=SERVICE, token_multiplier=3.0),
        ),
        Scenario(
            "upstream-outage",
            "the upstream answers 503 to every request",
            FaultRule(service=SERVICE, error_rate=1.0),
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Measure:
    """One measured time against its target, in seconds from the fault."""

    name: str
    seconds: float | None
    target_s: float | None

    @property
    def is_met(self) -> bool:
        """Measured, and within the target when there is one."""
        if self.seconds is None:
            return False
        return self.target_s is None or self.seconds <= self.target_s


@dataclass(frozen=True, slots=True)
class DrillReport:
    """What a drill measured and where it left its files."""

    scenario: str
    incident_id: int | None
    fault_at: float
    measures: list[Measure]
    timeline: list[tuple[float, str, str]]  # (seconds from the fault, kind, message)
    is_rolled_back: bool
    report_path: Path | None = None
    runbook_path: str | None = None

    @property
    def is_passed(self) -> bool:
        """Every target met (and, for a canary, the rollback completed)."""
        return all(m.is_met for m in self.measures)


def drill_config(store_url: str) -> Config:
    """The demo config of a drill: one service, the guide's alerts, console paging."""
    text = f"""
store: {{url: "{store_url}"}}
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
    return parse_config(text, environ={})


def _events(
    start: float, end: float, fault: FaultRule | None, canary_share: float
) -> list[RequestEvent]:
    """Steady traffic over [start, end); `fault` shapes the requests it applies to."""
    count = round((end - start) * REQUESTS_PER_S)
    canary_every = round(1 / canary_share) if canary_share > 0 else 0
    events: list[RequestEvent] = []
    for i in range(count):
        version = "v2" if canary_every and i % canary_every == 0 else "v1"
        is_hit = fault is not None and fault.version in (None, version)
        is_error = is_hit and fault is not None and i % 100 < fault.error_rate * 100
        multiplier = fault.token_multiplier if is_hit and fault is not None else 1.0
        added_ms = fault.latency_ms if is_hit and fault is not None else 0.0
        events.append(
            RequestEvent(
                ts=start + i / REQUESTS_PER_S,
                service=SERVICE,
                version=version,
                route="/v1/chat/completions",
                status=503 if is_error else 200,
                latency_ms=BASE_LATENCY_MS + added_ms,
                error_class="upstream_5xx" if is_error else None,
                input_tokens=round(200 * multiplier),
                output_tokens=round(100 * multiplier),
                cost_usd=BASE_COST_USD * multiplier,
            )
        )
    return events


def _mark_drill(engine: Engine, incident_id: int) -> None:
    """The lifecycle opens incidents as real ones; a drill's is flagged right after."""
    with engine.begin() as conn:
        conn.execute(update(incidents).where(incidents.c.id == incident_id).values(is_drill=True))


def run_drill(
    scenario: Scenario,
    *,
    store_url: str,
    speed: float = 0.0,
    is_auto_ack: bool = True,
    now_start: float = 1_767_258_000.0,
    echo: Callable[[str], None] = lambda _line: None,
    runbooks_dir: Path | None = None,
    output: Path | None = None,
) -> DrillReport:
    """Run one drill to resolution and measure it; see the module docstring."""
    if not is_auto_ack:
        raise ValidationError("waiting for a person is not supported yet", field="--no-auto-ack")
    del speed  # simulated time only: the drill never sleeps
    config = drill_config(store_url)
    engine = connect(config.store.url)
    try:
        return _run(scenario, config, engine, now_start, echo, runbooks_dir, output)
    finally:
        engine.dispose()


def _run(
    scenario: Scenario,
    config: Config,
    engine: Engine,
    now_start: float,
    echo: Callable[[str], None],
    runbooks_dir: Path | None,
    output: Path | None,
) -> DrillReport:
    clock = ManualClock(now_start)
    fault: FaultRule | None = None
    canary_share = 0.0
    incident_id: int | None = None
    fault_at = now_start + BASELINE_S
    is_fault_off = False

    def step() -> None:
        start = clock.now()
        clock.advance(TICK_S)
        write_events(engine, _events(start, clock.now(), fault, canary_share))
        loop.tick(engine, config, clock.now())

    while clock.now() < fault_at:
        step()
    echo(f"fault on: {scenario.description}")
    if scenario.is_canary:
        request = DeployRequest(SERVICE, "v2", "http://127.0.0.1:9/v1", deployed_by="drill")
        register_deployment(engine, config, request, clock.now(), probe=lambda _u, _t: None)
        canary_share = 0.1
    fault = scenario.fault
    while clock.now() < fault_at + LIMIT_S:
        step()
        opened = list_incidents(engine)
        if incident_id is None and opened:
            incident_id = opened[0].id
            _mark_drill(engine, incident_id)
            echo(f"incident {incident_id} opened at +{clock.now() - fault_at:.0f}s")
        if incident_id is None:
            continue
        incident = load_incident(engine, incident_id)
        if incident.acknowledged_at is None:
            acknowledge_incident(engine, incident_id, ON_CALL, clock.now())
            echo(f"acknowledged as {ON_CALL} at +{clock.now() - fault_at:.0f}s")
        if scenario.is_canary and incident.mitigated_at is not None:
            canary_share = 0.0  # rolled back: no traffic reaches v2
        if not scenario.is_canary and not is_fault_off:
            fault, is_fault_off = None, True
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
            break
    return _report(scenario, engine, incident_id, fault_at, runbooks_dir, output, echo)


def _report(
    scenario: Scenario,
    engine: Engine,
    incident_id: int | None,
    fault_at: float,
    runbooks_dir: Path | None,
    output: Path | None,
    echo: Callable[[str], None],
) -> DrillReport:
    firsts: dict[str, float] = {}
    steps: list[tuple[float, str, str]] = []
    if incident_id is not None:
        with engine.connect() as conn:
            for entry in read_timeline(conn, incident_id):
                steps.append((entry.at - fault_at, entry.kind, entry.message))
                firsts.setdefault(entry.kind, entry.at - fault_at)
    measures = [
        Measure("detect", firsts.get("detected"), DETECT_TARGET_S),
        Measure("page", firsts.get("paged"), DETECT_TARGET_S),
        Measure("acknowledge", firsts.get("acknowledged"), None),
        Measure("mitigate", firsts.get("mitigation_done"), MITIGATE_TARGET_S),
        Measure("first update", _since(firsts, "status_update", "detected"), FIRST_UPDATE_TARGET_S),
    ]
    is_rolled_back = any(
        kind == "mitigation_started" and "rolled" in message.lower() for _, kind, message in steps
    )
    if scenario.is_canary:
        rolled_at = firsts.get("mitigation_done") if is_rolled_back else None
        measures.append(Measure("rollback done", rolled_at, MITIGATE_TARGET_S))
    day = dt.datetime.now(dt.UTC).date()  # the day the drill was run, not the simulated one
    runbook_path: str | None = None
    if runbooks_dir is not None and runbooks_dir.is_dir() and incident_id is not None:
        runbooks, _ = load_runbooks(runbooks_dir)
        with engine.connect() as conn:
            labels = member_alerts(conn, incident_id)[0].labels
        covering = runbook_for(labels, runbooks)
        if covering is not None:
            record_drill(covering.path, day)
            runbook_path = covering.path
            echo(f"recorded the drill on {covering.path}")
    report = DrillReport(
        scenario.name, incident_id, fault_at, measures, steps, is_rolled_back,
        runbook_path=runbook_path,
    )  # fmt: skip
    path = output or Path("ops/drills") / f"{day.isoformat()}-{scenario.name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(drill_markdown(report), encoding="utf-8")
    return DrillReport(
        report.scenario, report.incident_id, report.fault_at, report.measures,
        report.timeline, report.is_rolled_back, path, runbook_path,
    )  # fmt: skip


def _since(firsts: dict[str, float], kind: str, start: str) -> float | None:
    """Seconds from the first `start` step to the first `kind` step, when both happened."""
    if kind not in firsts or start not in firsts:
        return None
    return firsts[kind] - firsts[start]


def _fmt(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.0f} s"


def drill_markdown(report: DrillReport) -> str:
    """The drill report as Markdown: verdict, measured times against targets, timeline."""
    verdict = "passed" if report.is_passed else "FAILED"
    lines = [
        f"# Drill: {report.scenario}",
        "",
        f"Result: **{verdict}** — incident {report.incident_id} (marked as a drill).",
        "Times are simulated seconds from the moment the fault was turned on; the first "
        "status update is counted from detection, as the 15-minute rule is.",
        "",
        "| step | measured | target | met |",
        "|---|---|---|---|",
    ]
    for m in report.measures:
        lines.append(f"| {m.name} | {_fmt(m.seconds)} | {_fmt(m.target_s)} | "
                     f"{'yes' if m.is_met else 'no'} |")  # fmt: skip
    lines += ["", "## Timeline", "", "| at | step | what |", "|---|---|---|"]
    lines += [f"| +{at:.0f} s | {kind} | {message} |" for at, kind, message in report.timeline]
    if report.runbook_path:
        lines += ["", f"Recorded on runbook `{report.runbook_path}`."]
    return "\n".join(lines) + "\n"
