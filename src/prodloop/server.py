"""Assembles processes: `prodloop up` = gateway + control plane + loop scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn
from sqlalchemy.engine import Engine

from prodloop import loop
from prodloop.clock import Clock, SystemClock
from prodloop.config import Config
from prodloop.errors import ProdloopError
from prodloop.store import connect
from prodloop.telemetry.metrics import Metrics, slo_latency_bounds_s
from prodloop.telemetry.pipeline import Pipeline

log = logging.getLogger("prodloop.server")
T = TypeVar("T")


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
    metrics = Metrics(extra_duration_buckets_s=slo_latency_bounds_s(config.slos))
    pipeline = Pipeline.from_config(engine, config.telemetry, metrics)
    pipeline.start()
    return Runtime(config, engine, metrics, pipeline, clock or SystemClock())


class _Server(uvicorn.Server):
    # Several servers share one process; the signals are handled once, for all of them.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def uvicorn_server(app: object, host: str, port: int) -> _Server:
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


def _bind(host: str, port: int, setting: str) -> socket.socket:
    """Listen before serving, so a taken port is a clear error naming its setting."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off for sockets that say so.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        message = f"cannot listen on {host}:{port}: {exc.strerror}"
        raise ProdloopError(message, field=setting) from exc
    sock.set_inheritable(True)
    return sock


@dataclass
class Processes:
    """The servers of one prodloop process, their bound sockets and the event that stops them."""

    servers: list[_Server]
    stop: asyncio.Event
    sockets: list[socket.socket] = field(default_factory=list)
    # Tasks that run beside the servers until `stop` is set (the gateway's weights poll).
    background: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = field(
        default_factory=list
    )

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
            await asyncio.to_thread(
                loop.tick,
                runtime.engine,
                runtime.config,
                runtime.clock.now(),
                metrics=runtime.metrics,
            )
        except Exception:  # the loop must outlive one bad tick; the error is logged
            log.exception("loop tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def make_processes(runtime: Runtime, *, gateway: bool = True, control: bool = True) -> Processes:
    """Create (not start) the uvicorn servers for the chosen planes."""
    from prodloop.api.app import create_control_app
    from prodloop.gateway.app import create_gateway_app

    config = runtime.config
    processes = Processes([], asyncio.Event())
    try:
        if gateway:
            app = create_gateway_app(
                config, runtime.pipeline, clock=runtime.clock, metrics_render=runtime.metrics.render
            )
            from prodloop.gateway.weights import WeightsPoller

            weights = WeightsPoller(runtime.engine, app)
            weights.prime()
            processes.background.append(weights.run)
            if app.flags is not None:
                from prodloop.gateway.flags import FlagsPoller

                flag_poller = FlagsPoller(runtime.engine, app.flags)
                flag_poller.prime()
                processes.background.append(flag_poller.run)
            if config.faults.enabled:  # never a poller where faults are off (production)
                from prodloop.gateway.runtime_faults import FaultsPoller

                fault_poller = FaultsPoller(runtime.engine, app.faults)
                fault_poller.prime()
                processes.background.append(fault_poller.run)
            gw = config.gateway
            processes.sockets.append(_bind(gw.host, gw.port, "gateway.port"))
            processes.servers.append(uvicorn_server(app, gw.host, gw.port))
        if control:
            control_app = create_control_app(
                config, runtime.engine, runtime.pipeline, runtime.metrics, clock=runtime.clock
            )
            cp = config.control
            processes.sockets.append(_bind(cp.host, cp.port, "control.port"))
            processes.servers.append(uvicorn_server(control_app, cp.host, cp.port))
    except ProdloopError:
        for sock in processes.sockets:
            sock.close()
        raise
    return processes


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop where it is installed (uvicorn[standard] brings it).

    Besides being faster, it matters for latency: on the default loop a proxied answer
    was seen to wait ~40 ms (a delayed-ACK stall) where uvloop answers in well under 1 ms.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)
    return uvloop.run(main)


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
        # Off the main thread (tests, the demo) or where the loop has no signal support,
        # the caller stops the servers itself through processes.request_stop().
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            running.add_signal_handler(sig, processes.request_stop)
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]))
        for server, sock in zip(processes.servers, processes.sockets, strict=True)
    ]
    tasks.extend(asyncio.create_task(task(processes.stop)) for task in processes.background)
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
