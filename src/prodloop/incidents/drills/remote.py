"""A drill against a staging prodloop: its API and its gateway, all in real time.

The drill turns the scenario's fault on with `PUT /api/v1/faults` (the staging gateway
must have `faults.enabled: true`), sends steady traffic through the staging gateway,
and polls `GET /api/v1/incidents` for the incident it caused. It acknowledges it as the
on-call (or waits for a person to), turns the fault off once acknowledged (the
runbook's mitigation step; a canary's rollback is the staging rollout controller's),
waits for the impact to end and the first public update, resolves the incident and
measures every step from the API's timeline. The fault is removed at the end whatever
happens, Ctrl-C included.

Times are real seconds from the moment the fault was put, on the drill's clock; the
staging server's clock stamps the timeline, so the two should be in sync (NTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from prodloop.durations import format_duration
from prodloop.errors import ProdloopError, ValidationError
from prodloop.incidents.drills.report import DrillReport, drill_targets, measures_of, write_report
from prodloop.incidents.drills.scenarios import Scenario
from prodloop.incidents.runbooks import Runbook, load_runbooks, record_drill
from prodloop.server import run_async

API_TOKEN_ENV = "PRODLOOP_API_TOKEN"
GATEWAY_KEY_ENV = "PRODLOOP_GATEWAY_KEY"
ON_CALL = "drill-oncall"
REQUESTS_PER_S = 10.0
MAX_IN_FLIGHT = 200
POLL_S = 0.5
LIMIT_S = 1800.0
MODEL = "drill-model"


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteTarget:
    """Where the staging prodloop is, and the secrets (from the environment) to reach it."""

    api_url: str
    gateway_url: str
    api_token: str
    gateway_key: str
    service: str = "chat"


class _Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ProdloopError(f"cannot reach the staging API: {exc}") from None
        if response.status_code >= 400:
            raise ProdloopError(
                f"{method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json()


async def _traffic(
    target: RemoteTarget, stop: asyncio.Event, sent: dict[str, int], rate_per_s: float
) -> None:
    """Steady requests through the staging gateway until `stop`; never waits on answers."""
    headers = {"Authorization": f"Bearer {target.gateway_key}"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": "drill: say hello"}]}
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT)
    in_flight: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(
        base_url=target.gateway_url.rstrip("/"), headers=headers, limits=limits, timeout=30.0
    ) as client:

        async def one() -> None:
            try:
                response = await client.post("/v1/chat/completions", json=body)
                key = "errors" if response.status_code >= 500 else "ok"
            except httpx.HTTPError:
                key = "failures"
            sent[key] = sent.get(key, 0) + 1

        while not stop.is_set():
            if len(in_flight) < MAX_IN_FLIGHT:
                task = asyncio.create_task(one())
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1 / rate_per_s)
        for task in list(in_flight):
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)


async def _drill(
    scenario: Scenario,
    target: RemoteTarget,
    is_auto_ack: bool,
    echo: Callable[[str], None],
    limit_s: float,
    rate_per_s: float,
) -> tuple[dict[str, Any] | None, float, list[tuple[float, str, str]], list[str]]:
    """Run it; (the incident with its timeline, when the fault went on, own steps, notes)."""
    rule = scenario.fault.model_copy(update={"service": target.service}).model_dump()
    headers = {"Authorization": f"Bearer {target.api_token}"}
    own: list[tuple[float, str, str]] = []  # steps the drill took that staging does not record
    notes: list[str] = []
    async with httpx.AsyncClient(
        base_url=target.api_url.rstrip("/"), headers=headers, timeout=10.0
    ) as client:
        api = _Api(client)
        query = {"status": "all", "service": target.service, "limit": 1000}
        before = await api.call("GET", "/api/v1/incidents", params=query)
        known = {item["id"] for item in before["incidents"]}
        stop = asyncio.Event()
        sent: dict[str, int] = {}
        fault_at = time.time()
        traffic: asyncio.Task[None] | None = None
        try:
            answer = await api.call("PUT", "/api/v1/faults", json=[rule])
            if not answer.get("gateway_faults_enabled", True):
                notes.append("The staging control plane's config has faults disabled.")
            echo(f"fault on at {target.gateway_url}: {scenario.description}")
            traffic = asyncio.create_task(_traffic(target, stop, sent, rate_per_s))
            incident = await _follow(
                api, query, known, fault_at, is_auto_ack, echo, limit_s, own, notes
            )
        finally:
            stop.set()
            if traffic is not None:
                await traffic
            # Always: a drill never leaves its fault behind, whatever ended it.
            await asyncio.shield(api.call("DELETE", "/api/v1/faults"))
            echo(f"fault removed; requests sent: {sent}")
        if incident is None:
            return None, fault_at, own, notes
        detail = await api.call("GET", f"/api/v1/incidents/{incident['id']}")
    return detail, fault_at, own, notes


async def _follow(
    api: _Api,
    query: dict[str, Any],
    known: set[int],
    fault_at: float,
    is_auto_ack: bool,
    echo: Callable[[str], None],
    limit_s: float,
    own: list[tuple[float, str, str]],
    notes: list[str],
) -> dict[str, Any] | None:
    incident: dict[str, Any] | None = None
    is_fault_off = False
    while time.time() < fault_at + limit_s:
        await asyncio.sleep(POLL_S)
        if incident is None:
            listed = await api.call("GET", "/api/v1/incidents", params=query)
            fresh = [item for item in listed["incidents"] if item["id"] not in known]
            if not fresh:
                continue
            incident = fresh[-1]  # the oldest new one: the list is the newest first
            echo(f"incident {incident['id']} opened at +{incident['detected_at'] - fault_at:.0f}s")
            # Off the staging status page at once: a drill's incident is never a public one.
            await api.call(
                "POST", f"/api/v1/incidents/{incident['id']}/drill", json={"by": ON_CALL}
            )
            if not is_auto_ack:
                echo(f"waiting for a person: prodloop incident ack {incident['id']} --by NAME")
        incident = await api.call("GET", f"/api/v1/incidents/{incident['id']}")
        assert incident is not None
        if incident["acknowledged_at"] is None:
            if not is_auto_ack:
                continue
            path = f"/api/v1/incidents/{incident['id']}/ack"
            incident = await api.call("POST", path, json={"by": ON_CALL})
            assert incident is not None
            echo(f"acknowledged as {ON_CALL} at +{incident['acknowledged_at'] - fault_at:.0f}s")
        if not is_fault_off:
            await api.call("DELETE", "/api/v1/faults")
            is_fault_off = True
            at = time.time() - fault_at
            own.append((at, "drill_fault_off", "drill: fault turned off (mitigation step)"))
            echo(f"fault off at +{at:.0f}s")
        if incident["mitigated_at"] is not None and incident["first_update_at"] is not None:
            path = f"/api/v1/incidents/{incident['id']}/updates"
            update = {"status": "resolved", "message": "Drill over.", "by": ON_CALL}
            await api.call("POST", path, json=update)
            echo(f"resolved at +{time.time() - fault_at:.0f}s")
            return incident
    limit = format_duration(limit_s)
    if incident is None:
        notes.append(f"No incident opened within {limit}.")
    elif incident["acknowledged_at"] is None:
        notes.append(f"Nobody acknowledged incident {incident['id']} within {limit}: gave up.")
    else:
        notes.append(f"Incident {incident['id']} was not resolved within {limit}.")
    echo(notes[-1])
    return incident


def _covering(incident: dict[str, Any] | None, runbooks_dir: Path | None) -> Runbook | None:
    """The local runbook staging linked the incident to, matched by file name."""
    if incident is None or not incident.get("runbook") or runbooks_dir is None:
        return None
    if not runbooks_dir.is_dir():
        return None
    name = Path(str(incident["runbook"]).split("#", 1)[0]).name
    runbooks, _ = load_runbooks(runbooks_dir)
    return next((r for r in runbooks if Path(r.path).name == name), None)


def run_remote_drill(
    scenario: Scenario,
    target: RemoteTarget,
    *,
    is_auto_ack: bool = True,
    echo: Callable[[str], None] = lambda _line: None,
    runbooks_dir: Path | None = None,
    output: Path | None = None,
    limit_s: float = LIMIT_S,
    rate_per_s: float = REQUESTS_PER_S,
) -> DrillReport:
    """Run one drill against a staging prodloop and measure it; see the module docstring."""
    if not target.api_token:
        raise ValidationError(f"set {API_TOKEN_ENV} to an API token of the target", field="env")
    if not target.gateway_key:
        raise ValidationError(f"set {GATEWAY_KEY_ENV} to a key of its gateway", field="env")
    detail, fault_at, own, notes = run_async(
        _drill(scenario, target, is_auto_ack, echo, limit_s, rate_per_s)
    )
    steps = [
        (e["at"] - fault_at, e["kind"], e["message"]) for e in (detail or {}).get("timeline", [])
    ]
    steps = sorted([*steps, *own], key=lambda step: step[0])
    covering = _covering(detail, runbooks_dir)
    measures, is_rolled_back = measures_of(steps, drill_targets(covering), scenario.is_canary)
    day = dt.datetime.now(dt.UTC).date()
    runbook_path = None
    if covering is not None:
        record_drill(covering.path, day)
        runbook_path = covering.path
        echo(f"recorded the drill on {covering.path}")
    report = DrillReport(
        scenario.name,
        None if detail is None else int(detail["id"]),
        fault_at,
        measures,
        steps,
        is_rolled_back,
        f"real time against {target.api_url}",
        runbook_path=runbook_path,
        notes=tuple(notes),
        is_drill_marked=detail is not None,
    )
    path = output or Path("ops/drills") / f"{day.isoformat()}-{scenario.name}-staging.md"
    return dataclasses.replace(report, report_path=write_report(report, path))
