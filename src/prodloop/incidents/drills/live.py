"""The real-time part of a demo drill: a burst through a real gateway, fault off then on.

A fake upstream and a prodloop gateway (`faults.enabled: true`, with the runtime fault
poller) start in-process on free loopback ports over a throwaway store. Half the burst
goes through with no fault; then the scenario's rule is put in the store's `fault_rules`
(as `PUT /api/v1/faults` does), the gateway's poller takes it, and the other half goes
through with the fault on, concurrently, so a 3 s latency fault costs about 3 s. The
request events the gateway's pipeline wrote are read back as the shapes of the drill's
simulated traffic.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from prodloop.config import Config, parse_config
from prodloop.demo.traffic import TrafficPlan, send_burst
from prodloop.demo.upstream import Profile, create_upstream_app
from prodloop.errors import ProdloopError
from prodloop.gateway.app import GatewayApp
from prodloop.gateway.runtime_faults import replace_fault_rules
from prodloop.incidents.drills.report import LiveFigures
from prodloop.incidents.drills.scenarios import SERVICE, Scenario
from prodloop.server import build_runtime, make_processes, run_async, serve, uvicorn_server
from prodloop.store import connect
from prodloop.store.schema import request_events
from prodloop.telemetry.events import RequestEvent

MODEL = "drill-model"
BURST_REQUESTS = 40  # per half; all of a half in flight at once
# Quick and without errors of its own, so what the drill sees is the fault's doing.
UPSTREAM = Profile("drill", latency_p50_ms=40, latency_p95_ms=120, output_tokens=24)
# Priced so a healthy request costs about $0.0015 and a tripled one twice the threshold.
PRICE_IN_PER_MTOK = 20.0
PRICE_OUT_PER_MTOK = 50.0
APPLY_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Shapes:
    """Request events the gateway measured, by (is the fault on, version)."""

    pools: dict[tuple[bool, str], list[RequestEvent]]
    figures: LiveFigures

    def pool(self, is_fault: bool, version: str) -> list[RequestEvent]:
        """The events of that half and version (the other version's when it got none)."""
        found = self.pools.get((is_fault, version))
        if found:
            return found
        return next(events for (fault, _), events in self.pools.items() if fault is is_fault)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def live_config(
    store_url: str, upstream_port: int, gateway_port: int, key_env: str, environ: dict[str, str]
) -> Config:
    """The drill gateway's config: chat with v1 and v2 on the fake upstream, faults on."""
    upstream = f"http://127.0.0.1:{upstream_port}/v1"
    text = f"""
store: {{url: "{store_url}"}}
gateway: {{host: 127.0.0.1, port: {gateway_port}}}
services:
  {SERVICE}:
    stable: v1
    keys: ["${{{key_env}}}"]
    versions:
      v1: {{upstream: "{upstream}"}}
      v2: {{upstream: "{upstream}"}}
pricing:
  - {{match: "^{MODEL}$", input_per_mtok: {PRICE_IN_PER_MTOK},
     output_per_mtok: {PRICE_OUT_PER_MTOK}}}
faults: {{enabled: true}}
"""
    return parse_config(text, path="drill", environ=environ)


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] if ordered else 0.0


def _figures(
    events: Sequence[RequestEvent], fault_from: float, scenario: Scenario, wall_s: float, where: str
) -> LiveFigures:
    """Error rate, p95 and tokens of the versions the fault targets, off and on."""
    hit = [e for e in events if scenario.fault.version in (None, e.version)]
    off = [e for e in hit if e.ts < fault_from]
    on = [e for e in hit if e.ts >= fault_from]

    def error_rate(part: Sequence[RequestEvent]) -> float:
        return sum(e.is_error for e in part) / len(part) if part else 0.0

    def tokens(part: Sequence[RequestEvent]) -> float:
        answered = [e.input_tokens + e.output_tokens for e in part if not e.is_error]
        return sum(answered) / len(answered) if answered else 0.0

    base_tokens = tokens(off)
    return LiveFigures(
        requests=len(events),
        baseline_error_rate=error_rate(off),
        fault_error_rate=error_rate(on),
        baseline_p95_ms=_p95([e.latency_ms for e in off]),
        fault_p95_ms=_p95([e.latency_ms for e in on]),
        token_multiplier=tokens(on) / base_tokens if base_tokens and tokens(on) else 1.0,
        wall_s=wall_s,
        where=where,
    )


def _read_events(store_url: str) -> list[RequestEvent]:
    engine = connect(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(request_events).order_by(request_events.c.ts)).mappings()
            return [
                RequestEvent(
                    ts=row["ts"],
                    service=row["service"],
                    version=row["version"],
                    route=row["route"],
                    status=row["status"],
                    latency_ms=row["latency_ms"],
                    model=row["model"],
                    provider=row["provider"],
                    error_class=row["error_class"],
                    ttft_ms=row["ttft_ms"],
                    is_stream=row["is_stream"],
                    input_tokens=row["input_tokens"],
                    output_tokens=row["output_tokens"],
                    cached_tokens=row["cached_tokens"],
                    reasoning_tokens=row["reasoning_tokens"],
                    cost_usd=row["cost_usd"],
                    overhead_ms=row["overhead_ms"],
                )
                for row in rows
            ]
    finally:
        engine.dispose()


async def _wait_applied(app: GatewayApp, scenario: Scenario) -> None:
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while app.faults.runtime_rules != (scenario.fault,):
        if time.monotonic() > deadline:
            raise ProdloopError("the drill gateway did not pick up the fault rule in time")
        await asyncio.sleep(0.02)


async def _burst_async(
    scenario: Scenario, store_url: str, echo: Callable[[str], None]
) -> tuple[list[RequestEvent], float, float, str]:
    key_env = "PRODLOOP_DRILL_GATEWAY_KEY"
    environ = {key_env: f"gw-drill-{secrets.token_hex(8)}"}
    upstream_port = _free_port()
    upstream = uvicorn_server(
        create_upstream_app(UPSTREAM, rnd=random.Random(7)), "127.0.0.1", upstream_port
    )
    upstream_task = asyncio.create_task(upstream.serve())
    config = live_config(store_url, upstream_port, _free_port(), key_env, environ)
    runtime = build_runtime(config)
    processes = make_processes(runtime, gateway=True, control=False)
    app = processes.servers[0].config.app
    assert isinstance(app, GatewayApp)
    if scenario.is_canary:
        # A canary rollout's split, so the burst measures both versions.
        app.set_weights(SERVICE, {"v1": 0.5, "v2": 0.5})
    serving = asyncio.create_task(serve(runtime, processes, run_loop=False))
    try:
        while not (processes.started and upstream.started):
            if serving.done():
                await serving  # raises what went wrong
            await asyncio.sleep(0.01)
        where = f"demo gateway on 127.0.0.1:{config.gateway.port}"
        base_url = f"http://127.0.0.1:{config.gateway.port}/v1"
        plan = TrafficPlan(
            requests=BURST_REQUESTS,
            concurrency=BURST_REQUESTS,
            stream_share=0.0,
            embeddings_share=0.0,
            pii_share=0.0,
            oversize_share=0.0,
            users=BURST_REQUESTS,
            model=MODEL,
        )
        started = time.perf_counter()
        key = environ[key_env]
        await send_burst(base_url, key, plan)
        fault_from = time.time()
        replace_fault_rules(runtime.engine, [scenario.fault], by="drill", now=fault_from)
        await _wait_applied(app, scenario)
        echo(f"live: fault on in the {where}: {scenario.description}")
        await send_burst(base_url, key, plan)
        wall_s = time.perf_counter() - started
    finally:
        processes.request_stop()
        await serving  # flushes every buffered event
        upstream.should_exit = True
        await upstream_task
    return _read_events(store_url), fault_from, wall_s, where


def run_live_burst(scenario: Scenario, echo: Callable[[str], None]) -> Shapes:
    """Start the fake upstream and a gateway, send the burst, and return what it measured."""
    with tempfile.TemporaryDirectory(prefix="prodloop-drill-") as folder:
        store_url = f"sqlite:///{Path(folder) / 'gateway.db'}"
        events, fault_from, wall_s, where = run_async(_burst_async(scenario, store_url, echo))
    pools: dict[tuple[bool, str], list[RequestEvent]] = {}
    for event in events:
        pools.setdefault((event.ts >= fault_from, event.version), []).append(event)
    if not any(fault for fault, _ in pools) or not any(not fault for fault, _ in pools):
        raise ProdloopError("the drill gateway recorded no events for one half of the burst")
    figures = _figures(events, fault_from, scenario, wall_s, where)
    return Shapes(pools, figures)
