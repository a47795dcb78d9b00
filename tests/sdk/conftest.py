from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from prodloop.sdk import track as sdk
from tests.api.support import ControlPlane, running_control_plane


@pytest.fixture(autouse=True)
def fresh_sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test configures the SDK itself; nothing leaks from the environment or between tests."""
    for name in (
        "PRODLOOP_ENDPOINT",
        "PRODLOOP_INGEST_KEY",
        "PRODLOOP_SERVICE",
        "PRODLOOP_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)
    sdk.shutdown(timeout_s=1)
    yield
    sdk.shutdown(timeout_s=1)


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path) as plane:
        yield plane


class ScriptedIngest:
    """A stand-in control plane answering with scripted statuses, recording each batch."""

    def __init__(self) -> None:
        self.statuses: list[int] = []  # answered in order; 202 once they run out
        self.batches: list[list[dict[str, Any]]] = []
        self.auth: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = owner.statuses.pop(0) if owner.statuses else 202
                owner.auth.append(self.headers.get("authorization"))
                if status < 300:
                    owner.batches.append(orjson.loads(body))
                self.send_response(status)
                if status == 429:
                    self.send_header("retry-after", "0")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for batch in self.batches for event in batch]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[ScriptedIngest]:
    server = ScriptedIngest()
    yield server
    server.close()
