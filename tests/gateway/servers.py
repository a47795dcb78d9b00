"""Real servers for the gateway tests: uvicorn in a background thread on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from prodloop.telemetry.events import RequestEvent


class RecordingSink:
    """An EventSink that keeps every event in a list."""

    def __init__(self) -> None:
        self.events: list[RequestEvent] = []

    def submit(self, event: RequestEvent) -> bool:
        self.events.append(event)
        return True

    def wait_for(self, count: int = 1, timeout_s: float = 10.0) -> list[RequestEvent]:
        """The events once at least `count` arrived (the gateway submits after answering)."""
        return wait_until(lambda: self.events if len(self.events) >= count else None, timeout_s)

    def last(self, timeout_s: float = 10.0) -> RequestEvent:
        return self.wait_for(1, timeout_s)[-1]

    def clear(self) -> None:
        self.events.clear()


def wait_until(probe: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll `probe` until it returns something truthy, within a bounded deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s}s")
        time.sleep(0.005)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run `app` with uvicorn (httptools, uvloop) on a free loopback port; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), 10.0)
        if not server.started:
            raise RuntimeError("the server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
