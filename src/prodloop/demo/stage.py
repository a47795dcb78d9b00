"""The stage the launch demo plays on: real servers, one manual clock.

Two fake upstreams (a healthy app and a regressed one), a prodloop gateway and its
control plane start in-process on free loopback ports, over the demo's store. All of
them read the same `ManualClock`: requests really go through the gateway and feedback
and analytics really go through the control plane's public ingest, but every event is
stamped with simulated time, and the loop's evaluators run when the scenario ticks.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx

from prodloop import loop
from prodloop.clock import ManualClock
from prodloop.config import Config
from prodloop.demo.traffic import Call, Outcome, gateway_client, send_calls
from prodloop.demo.upstream import Profile, create_upstream_app
from prodloop.errors import ProdloopError
from prodloop.gateway.app import GatewayApp
from prodloop.gateway.flags import FlagsPoller
from prodloop.gateway.weights import apply_routes
from prodloop.releases.routing import read_routes
from prodloop.server import Runtime, build_runtime, make_processes, serve, uvicorn_server

# v1 and v3: answers every question (the launch checklist wants a deploy without a
# single failed request).
HEALTHY = Profile("demo-healthy", latency_p50_ms=12, latency_p95_ms=60, ttft_ms=5, output_tokens=40)
# The regressed v2: most of its answers are server errors, and the rest are slow.
REGRESSED = Profile(
    "demo-regressed",
    latency_p50_ms=30,
    latency_p95_ms=400,
    ttft_ms=10,
    error_rate=0.6,
    output_tokens=40,
)
CONCURRENCY = 16


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stage:
    """The running servers, the clock they share, and the ways the scenario acts on them."""

    def __init__(
        self,
        runtime: Runtime,
        clock: ManualClock,
        app: GatewayApp,
        keys: dict[str, str],
        ingest_key: str,
        upstream_ports: tuple[int, int],
    ) -> None:
        self.runtime = runtime
        self.clock = clock
        self.app = app
        self.config: Config = runtime.config
        self.engine = runtime.engine
        self.upstream_ports = upstream_ports
        gateway = runtime.config.gateway
        control = runtime.config.control
        self.gateway_url = f"http://127.0.0.1:{gateway.port}/v1"
        self.control_url = f"http://127.0.0.1:{control.port}"
        self.clients = {
            service: gateway_client(self.gateway_url, key, CONCURRENCY)
            for service, key in keys.items()
        }
        self.ingest = httpx.AsyncClient(
            base_url=self.control_url, headers={"x-prodloop-key": ingest_key}, timeout=30.0
        )
        self.flag_poller = FlagsPoller(runtime.engine, app.flags) if app.flags else None
        self.requests_sent = 0
        self.events_posted = 0
        self.feedback_posted = 0

    @property
    def now(self) -> float:
        return self.clock.now()

    def upstream_url(self, version: str) -> str:
        """The fake app a version runs on: v2 on the regressed one, the others healthy."""
        port = self.upstream_ports[1 if version == "v2" else 0]
        return f"http://127.0.0.1:{port}/v1"

    async def sync_gateway(self) -> None:
        """Apply the store's weights and flags to the gateway now (its pollers would soon)."""
        apply_routes(self.app, read_routes(self.engine))
        if self.flag_poller is not None:
            await self.flag_poller.poll_once()

    async def send(self, service: str, calls: Sequence[Call]) -> list[Outcome]:
        """Send calls through the gateway as `service`'s app does, at the clock's time."""
        outcomes = await send_calls(self.clients[service], list(calls), concurrency=CONCURRENCY)
        self.requests_sent += len(outcomes)
        return outcomes

    async def tick(self) -> loop.TickReport:
        """Write every measured request, then run the loop once for the clock's time."""
        await asyncio.to_thread(self.runtime.pipeline.flush)
        return loop.tick(self.engine, self.config, self.clock.now())

    async def post_events(self, events: Sequence[dict[str, Any]]) -> int:
        """Analytics events through `POST /ingest/events`, in batches; how many were stored."""
        stored = 0
        for start in range(0, len(events), 500):
            batch = list(events[start : start + 500])
            response = await self.ingest.post("/ingest/events", json={"events": batch})
            if response.status_code != 200:
                raise ProdloopError(
                    f"/ingest/events answered {response.status_code}: {response.text[:200]}"
                )
            stored += int(response.json()["stored"])
        self.events_posted += stored
        return stored

    async def post_feedback(self, item: dict[str, Any]) -> int:
        """One piece of feedback through `POST /ingest/feedback`; its id."""
        response = await self.ingest.post("/ingest/feedback", json=item)
        if response.status_code not in (200, 201):
            raise ProdloopError(
                f"/ingest/feedback answered {response.status_code}: {response.text[:200]}"
            )
        self.feedback_posted += 1
        return int(response.json()["id"])

    async def close(self) -> None:
        for client in (*self.clients.values(), self.ingest):
            await client.aclose()


@asynccontextmanager
async def open_stage(
    config: Config,
    clock: ManualClock,
    keys: dict[str, str],
    ingest_key: str,
    upstream_ports: tuple[int, int],
    *,
    seed: int = 7,
) -> AsyncIterator[Stage]:
    """Start the upstreams, the gateway and the control plane; stop them (flushing) after."""
    profiles = zip((HEALTHY, REGRESSED), upstream_ports, strict=True)
    upstreams = [
        uvicorn_server(create_upstream_app(profile, rnd=random.Random(seed + i)), "127.0.0.1", port)
        for i, (profile, port) in enumerate(profiles)
    ]
    upstream_tasks = [asyncio.create_task(server.serve()) for server in upstreams]
    runtime = build_runtime(config, clock=clock)
    processes = make_processes(runtime, gateway=True, control=True)
    app = processes.servers[0].config.app
    assert isinstance(app, GatewayApp)
    serving = asyncio.create_task(serve(runtime, processes, run_loop=False))
    stage: Stage | None = None
    try:
        while not (processes.started and all(server.started for server in upstreams)):
            if serving.done():
                await serving  # raises what went wrong
            await asyncio.sleep(0.01)
        stage = Stage(runtime, clock, app, keys, ingest_key, upstream_ports)
        yield stage
    finally:
        if stage is not None:
            await stage.close()
        processes.request_stop()
        await serving  # flushes every buffered event
        for server in upstreams:
            server.should_exit = True
        await asyncio.gather(*upstream_tasks)
