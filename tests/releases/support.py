"""Shared pieces of the release tests: a config, a store, stand-in judges, events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.config import Config, parse_config
from prodloop.releases.analysis import Analysis, Observed
from prodloop.store import connect
from prodloop.store.schema import deployments, request_events, rollouts, service_versions

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def release_config(store_url: str, extra: str = "", *, require_signed: bool = False) -> Config:
    text = f"""
store:
  url: {store_url}
services:
  chat:
    stable: v1
    require_signed: {"true" if require_signed else "false"}
    versions:
      v1: {{upstream: "http://127.0.0.1:9/v1"}}
  search:
    stable: s1
    versions:
      s1: {{upstream: "http://127.0.0.1:9/v1"}}
releases:
  hold: 60s
  analysis_interval: 60s
  failure_limit: 2
  inconclusive_limit: 2
paging:
  notifiers:
    console: {{kind: console}}
  routes:
    - match: {{alertname: CanaryRolledBack}}
      notifiers: [console]
    - match: {{alertname: CanaryPaused}}
      notifiers: [console]
{extra}
"""
    return parse_config(text, environ={})


@contextmanager
def open_store(tmp_path: Path, extra: str = "", **kwargs: bool) -> Iterator[tuple[Config, Engine]]:
    """A config and a migrated SQLite store in `tmp_path`."""
    config = release_config(f"sqlite:///{tmp_path / 'prodloop.db'}", extra, **kwargs)
    engine = connect(config.store.url)
    try:
        yield config, engine
    finally:
        engine.dispose()


def no_probe(_upstream: str, _timeout_s: float) -> None:
    """Every upstream answers."""


class StandIn:
    """A judge that always gives `result`, recording what it saw."""

    def __init__(self, result: Literal["pass", "fail", "inconclusive"]) -> None:
        self.result: Literal["pass", "fail", "inconclusive"] = result
        self.seen: list[tuple[Observed, Observed, int]] = []

    def __call__(
        self, config: Config, service: str, canary: Observed, stable: Observed, look: int
    ) -> Analysis:
        self.seen.append((canary, stable, look))
        check = {"metric": "error_rate", "result": self.result, "canary": canary.errors}
        return Analysis(self.result, (check,))


def stand_in(result: Literal["pass", "fail", "inconclusive"]) -> StandIn:
    """A stand-in for the statistics judge."""
    return StandIn(result)


def snapshot(engine: Engine) -> tuple[list[tuple[object, ...]], ...]:
    """Every release table's rows, to show a refused request changed nothing."""
    with engine.connect() as conn:
        return tuple(
            [tuple(row) for row in conn.execute(select(table))]
            for table in (deployments, rollouts, service_versions)
        )


def add_events(
    engine: Engine,
    version: str,
    at: float,
    n: int,
    *,
    errors: int = 0,
    latency_ms: float = 100.0,
    service: str = "chat",
) -> None:
    rows = [
        {
            "ts": at + i * 0.01,
            "service": service,
            "version": version,
            "route": "/v1/chat/completions",
            "status": 503 if i < errors else 200,
            "error_class": "upstream_5xx" if i < errors else None,
            "latency_ms": latency_ms + (i % 7),
            "cost_usd": 0.0001,
            "guardrails": "",
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(request_events.insert(), rows)
