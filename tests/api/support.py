"""A real control plane on a free loopback port, with a SQLite store and the real pipeline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy.engine import Engine

from prodloop.api.app import create_control_app
from prodloop.clock import Clock, SystemClock
from prodloop.config import Config, parse_config
from prodloop.store import connect
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.pipeline import Pipeline
from tests.support import free_port

API_TOKEN = "test-api-token"
INGEST_KEY = "test-ingest-key"
ENVIRON = {"T_API_TOKEN": API_TOKEN, "T_INGEST_KEY": INGEST_KEY}


@dataclass
class ControlPlane:
    url: str
    config: Config
    engine: Engine
    pipeline: Pipeline
    metrics: Metrics
    clock: Clock

    def client(self, token: str | None = API_TOKEN, **kwargs: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kwargs)

    def slis(self, **params: str) -> dict[str, Any]:
        """Flush the pipeline, then GET /api/v1/slis with an API token."""
        assert self.pipeline.flush(10)
        with self.client() as http:
            response = http.get("/api/v1/slis", params=params)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def control_config(
    store_url: str, control_yaml: str = "", environ: dict[str, str] | None = None
) -> Config:
    text = f"""
store:
  url: {store_url}
control:
  api_tokens: ["${{T_API_TOKEN}}"]
  ingest_keys: ["${{T_INGEST_KEY}}"]
{control_yaml}
"""
    return parse_config(text, environ=ENVIRON if environ is None else environ)


@contextmanager
def running_control_plane(
    tmp_path: Path,
    *,
    control_yaml: str = "",
    clock: Clock | None = None,
    queue_size: int = 10_000,
    start_pipeline: bool = True,
    environ: dict[str, str] | None = None,
) -> Iterator[ControlPlane]:
    """Start create_control_app under uvicorn in a thread; stop it and the pipeline after."""
    config = control_config(f"sqlite:///{tmp_path / 'prodloop.db'}", control_yaml, environ)
    engine = connect(config.store.url)
    metrics = Metrics()
    pipeline = Pipeline(
        engine, queue_size=queue_size, batch_size=500, flush_interval_s=0.05, metrics=metrics
    )
    if start_pipeline:
        pipeline.start()
    clock = clock or SystemClock()
    app = create_control_app(config, engine, pipeline, metrics, clock=clock)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the control plane did not start")
        time.sleep(0.01)
    try:
        yield ControlPlane(f"http://127.0.0.1:{port}", config, engine, pipeline, metrics, clock)
    finally:
        server.should_exit = True
        thread.join(10)
        if start_pipeline:
            pipeline.stop(10)
        engine.dispose()
