"""`prodloop demo`: a fake upstream, the gateway in front of it, a burst, the table."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from prodloop.clock import SystemClock
from prodloop.config import Config, parse_config
from prodloop.demo.traffic import TrafficPlan, TrafficResult, send_burst
from prodloop.demo.upstream import PROFILES, create_upstream_app
from prodloop.server import build_runtime, make_processes, run_async, serve, uvicorn_server
from prodloop.telemetry.sli import Slis, query_slis

# Two services on two fake upstreams: a healthy one and a flaky one, so the table
# shows what prodloop tells apart.
DEMO_SERVICES = (("chat", "v1", "demo"), ("assist", "v2", "flaky"))


@dataclass
class DemoReport:
    traffic: dict[str, TrafficResult]
    slis: list[Slis]
    written: int
    dropped: int


def demo_config(
    store_url: str, upstream_ports: dict[str, int], gateway_port: int
) -> tuple[Config, dict[str, str]]:
    """The demo's config and the environment holding its (throwaway) keys."""
    environ: dict[str, str] = {}
    services = []
    for service, version, _profile in DEMO_SERVICES:
        key_name = f"PRODLOOP_DEMO_{service.upper()}_KEY"
        environ[key_name] = f"gw-demo-{secrets.token_hex(8)}"
        services.append(
            f"""  {service}:
    stable: {version}
    keys: ["${{{key_name}}}"]
    versions:
      {version}:
        upstream: http://127.0.0.1:{upstream_ports[service]}/v1"""
        )
    text = f"""
store:
  url: {store_url}
gateway:
  port: {gateway_port}
services:
{chr(10).join(services)}
guardrails:
  - name: prompt-too-long
    kind: max_prompt_chars
    limit: 100000
    action: block
  - name: pii
    kind: pii
    action: flag
"""
    return parse_config(text, path="demo", environ=environ), environ


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_demo_async(
    store_url: str, plan: TrafficPlan, echo: Callable[[str], None]
) -> DemoReport:
    """Start everything on free loopback ports, send the burst, stop, and measure."""
    upstream_ports = {service: _free_port() for service, _, _ in DEMO_SERVICES}
    upstreams = [
        uvicorn_server(create_upstream_app(PROFILES[profile]), "127.0.0.1", upstream_ports[service])
        for service, _, profile in DEMO_SERVICES
    ]
    upstream_tasks = [asyncio.create_task(server.serve()) for server in upstreams]
    config, environ = demo_config(store_url, upstream_ports, _free_port())
    runtime = build_runtime(config)
    processes = make_processes(runtime, gateway=True, control=False)
    serving = asyncio.create_task(serve(runtime, processes, run_loop=False))
    while not (processes.started and all(s.started for s in upstreams)):
        if serving.done():
            await serving  # raises what went wrong
        await asyncio.sleep(0.01)

    clock = SystemClock()
    start = clock.now()
    base_url = f"http://127.0.0.1:{config.gateway.port}/v1"
    echo(f"gateway on {base_url}, fake upstreams on ports {sorted(upstream_ports.values())}")
    traffic: dict[str, TrafficResult] = {}
    for service, version, profile in DEMO_SERVICES:
        key = environ[f"PRODLOOP_DEMO_{service.upper()}_KEY"]
        last_shown = 0

        def progress(done: int, total: int, service: str = service) -> None:
            nonlocal last_shown
            if done == total or done - last_shown >= total // 4:
                last_shown = done
                echo(f"  {service}: {done}/{total} requests")

        echo(f"sending {plan.requests} requests to {service} ({version}, '{profile}' upstream)")
        traffic[service] = await send_burst(base_url, key, plan, on_progress=progress)

    processes.request_stop()
    await serving  # flushes every buffered event
    for server in upstreams:
        server.should_exit = True
    await asyncio.gather(*upstream_tasks)
    end = clock.now() + 1
    engine = runtime.engine
    rows = query_slis(engine, start=start, end=end, group_by=("service", "version"))
    return DemoReport(traffic, rows, runtime.pipeline.written, runtime.pipeline.dropped)


def run_demo(store_url: str, plan: TrafficPlan, echo: Callable[[str], None]) -> DemoReport:
    return run_async(run_demo_async(store_url, plan, echo))
