"""Helpers the tests share: real servers started on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def require_binary(name: str, *extra_dirs: Path) -> str:
    """Path of a binary the test needs; skip locally, but fail in CI, when it is absent."""
    found = shutil.which(name)
    if found is None:
        for folder in extra_dirs:
            candidate = folder / name
            if candidate.exists():
                found = str(candidate)
                break
    if found is None:
        message = f"{name} is not installed (make test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_js(page: Any, expression: str, timeout_s: float = 10.0) -> Any:
    """Poll a JavaScript expression until it is truthy; its value.

    Playwright's own wait_for_function compiles the predicate inside the page once it has
    to poll, which a strict CSP without 'unsafe-eval' refuses; evaluate() is not subject
    to the page's CSP, so polling from here works on the pages under test as they are.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s:g} s: {expression}")
        page.wait_for_timeout(50)


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler], port: int = 0) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 (a free port unless given) in a thread; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
