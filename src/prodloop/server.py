"""Assembles processes: `prodloop up` = gateway + control plane + loop scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn
from sqlalchemy.engine import Engine

from prodloop import loop
from prodloop.clock import Clock, SystemClock
from prodloop.config import Config
from prodloop.store import connect
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.pipeline import Pipeline

log = logging.getLogger("prodloop.server")


@dataclass
class Runtime:
    """What every process of prodloop shares: the store, the metrics and the pipeline."""

    config: Config
    engine: Engine
    metrics: Metrics
    pipeline: Pipeline
    clock: Clock


def build_runtime(config: Config, *, clock: Clock | None = None) -> Runtime:
    """Open (and migrate) the store and start the event pipeline's writer."""
    engine = connect(config.store.url)
    metrics = Metrics()
    pipeline = Pipeline.from_config(engine, config.telemetry, metrics)
    pipeline.start()
    return Runtime(config, engine, metrics, pipeline, clock or SystemClock())


class _Server(uvicorn.Server):
    # Several servers share one process; the signals are handled once, for all of them.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn_server(app: object, host: str, port: int) -> _Server:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        # The gateway passes the upstream's own Date and Server headers through.
        server_header=False,
        date_header=False,
        proxy_headers=False,
    )
    return _Server(config)


@dataclass
class Processes:
    """The servers of one prodloop process and the event that stops them."""

    servers: list[_Server]
    stop: asyncio.Event

    def request_stop(self) -> None:
        self.stop.set()
        for server in self.servers:
            server.should_exit = True

    @property
    def started(self) -> bool:
        return all(server.started for server in self.servers)


async def _scheduler(runtime: Runtime, stop: asyncio.Event) -> None:
    interval = runtime.config.control.tick_interval_s
    while not stop.is_set():
        try:
            await asyncio.to_thread(loop.tick, runtime.engine, runtime.config, runtime.clock.now())
        except Exception:  # the loop must outlive one bad tick; the error is logged
            log.exception("loop tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def make_processes(runtime: Runtime, *, gateway: bool = True, control: bool = True) -> Processes:
    """Create (not start) the uvicorn servers for the chosen planes."""
    from prodloop.api.app import create_control_app
    from prodloop.gateway.app import create_gateway_app

    config = runtime.config
    servers: list[_Server] = []
    if gateway:
        app = create_gateway_app(
            config, runtime.pipeline, clock=runtime.clock, metrics_render=runtime.metrics.render
        )
        servers.append(_uvicorn_server(app, config.gateway.host, config.gateway.port))
    if control:
        control_app = create_control_app(
            config, runtime.engine, runtime.pipeline, runtime.metrics, clock=runtime.clock
        )
        servers.append(_uvicorn_server(control_app, config.control.host, config.control.port))
    return Processes(servers, asyncio.Event())


async def serve(
    runtime: Runtime,
    processes: Processes,
    *,
    run_loop: bool,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run until stopped, then flush every buffered event before returning."""
    running = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            running.add_signal_handler(sig, processes.request_stop)
    tasks = [asyncio.create_task(server.serve()) for server in processes.servers]
    if run_loop:
        tasks.append(asyncio.create_task(_scheduler(runtime, processes.stop)))
    if on_ready is not None:
        while not processes.started and not any(task.done() for task in tasks):
            await asyncio.sleep(0.01)
        if processes.started:
            on_ready()
    try:
        await asyncio.gather(*tasks)
    finally:
        processes.request_stop()
        await asyncio.to_thread(runtime.pipeline.stop)
        runtime.engine.dispose()
