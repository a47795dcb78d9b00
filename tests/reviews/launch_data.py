"""Launch-ready data: a store in which every line of the launch checklist passes at `now`.

`launch_config` writes a prodloop.yaml with a production service (`chat`), a staging
service (`chat-staging`), a runbooks folder copied from ops/runbooks and the launch links;
`make_launch_ready` fills the store: ≥ 48 h of staging traffic, a canary promoted by the
rollout controller with its merge time, 26 h of clean production traffic, 12 feedback
submissions, 6 users with the success event, drilled runbooks, every sign-off and the
launch flag. Tests then break one criterion at a time.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from prodloop.config import Config, parse_config
from prodloop.incidents.runbooks import load_runbooks, record_drill
from prodloop.releases.deployments import Deployment, DeployRequest, register_deployment
from prodloop.releases.flags.model import flag_from_dict
from prodloop.releases.flags.store import create_flag
from prodloop.releases.rollouts import advance_rollouts, get_rollout
from prodloop.reviews.launch import record_signoff
from prodloop.store import connect
from prodloop.store.schema import analytics_events, feedback
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events
from tests.releases.support import StandIn, no_probe

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "chat"
STAGING = "chat-staging"
SUCCESS_EVENT = "first_question"
DOCS_URL = "https://docs.example.com/chat"
STATUS_URL = "https://status.example.com"
FEEDBACK_URL = "https://example.com/feedback"


def config_text(store_url: str, folder: Path, extra: str = "") -> str:
    """prodloop.yaml for the launch tests, everything written under `folder`."""
    return f"""
store:
  url: {store_url}
services:
  {SERVICE}:
    stable: v1
    versions:
      v1: {{upstream: "http://127.0.0.1:9/v1"}}
  {STAGING}:
    stable: s1
    versions:
      s1: {{upstream: "http://127.0.0.1:9/v1"}}
releases:
  hold: 60s
  analysis_interval: 60s
alerts:
  runbooks_dir: {folder / "runbooks"}
reviews:
  output_dir: {folder / "docs" / "reviews"}
launch:
  service: {SERVICE}
  staging_service: {STAGING}
  post_dir: {folder / "docs"}
  docs_url: {DOCS_URL}
  status_url: {STATUS_URL}
  feedback_url: {FEEDBACK_URL}
{extra}
"""


@dataclass
class LaunchStore:
    """A config file, its parsed config and the store's engine."""

    config_file: Path
    config: Config
    engine: Engine
    folder: Path


def launch_store(folder: Path, store_url: str | None = None, extra: str = "") -> LaunchStore:
    """Write prodloop.yaml and the runbooks (not yet drilled) under `folder`; open the store."""
    url = store_url or f"sqlite:///{folder / 'prodloop.db'}"
    shutil.copytree(ROOT / "ops" / "runbooks", folder / "runbooks", dirs_exist_ok=True)
    text = config_text(url, folder, extra)
    config_file = folder / "prodloop.yaml"
    config_file.write_text(text)
    config = parse_config(text, environ={})
    return LaunchStore(config_file, config, connect(config.store.url), folder)


def request(ts: float, service: str = SERVICE, *, version: str = "v1", error: bool = False,
            latency_ms: float = 400.0) -> RequestEvent:  # fmt: skip
    """One request as the gateway records it."""
    return RequestEvent(
        ts=ts,
        service=service,
        version=version,
        route="/v1/chat/completions",
        status=502 if error else 200,
        latency_ms=latency_ms,
        model="gpt-4o-mini",
        error_class="upstream_5xx" if error else None,
        cost_usd=0.001,
    )


def traffic(service: str, start: float, end: float, every_s: float) -> list[RequestEvent]:
    """Clean requests every `every_s` seconds in [start, end)."""
    count = int((end - start) // every_s)
    return [request(start + i * every_s, service) for i in range(count)]


def deploy_promoted(store: LaunchStore, at: float, *, lead_s: float = 600.0) -> Deployment:
    """Deploy chat v2 at `at` (merged `lead_s` before) and let the controller promote it."""
    config, engine = store.config, store.engine
    deployment = register_deployment(
        engine,
        config,
        DeployRequest(SERVICE, "v2", "http://127.0.0.1:9/v1", "ci", steps=(50.0, 100.0),
                      hold_s=60.0, git_sha="abc1234", merged_at=at - lead_s),
        at,
        probe=no_probe,
    )  # fmt: skip
    judge = StandIn("pass")
    now = at
    for _ in range(20):
        now += 60.0
        # Requests on the canary while it ramps, none of them failing.
        write_events(engine, [request(now - 30.0 + i, version="v2") for i in range(5)])
        advance_rollouts(engine, config, now, judge=judge)
        if get_rollout(engine, SERVICE).state == "promoted":
            break
    assert get_rollout(engine, SERVICE).state == "promoted"
    return deployment


def add_feedback(engine: Engine, now: float, count: int) -> None:
    """`count` feedback submissions in the last hours."""
    rows = [
        {"created_at": now - 3600.0 - i * 60.0, "updated_at": now - 3600.0 - i * 60.0,
         "source": "widget", "rating": 1.0, "rating_kind": "thumbs", "comment": f"nice {i}",
         "user_id": f"user-{i}"}
        for i in range(count)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(feedback), rows)


def add_success_users(engine: Engine, now: float, users: int, event: str = SUCCESS_EVENT) -> None:
    """`users` distinct users who sent the success event (one of them twice)."""
    rows = [
        {"uuid": uuid.uuid4().hex, "event": event, "distinct_id": f"user-{i % users}",
         "ts": now - 7200.0 - i * 60.0, "received_at": now - 7200.0, "source": "prodloop",
         "properties": "{}"}
        for i in range(users + 1)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(analytics_events), rows)


def drill_runbooks(store: LaunchStore, day: dt.date) -> None:
    """Record a drill on every runbook of the folder."""
    runbooks, problems = load_runbooks(store.folder / "runbooks")
    assert not problems
    for runbook in runbooks:
        record_drill(runbook.path, day)


def sign_off_all(store: LaunchStore, now: float) -> None:
    """Every required role signs off."""
    for role in store.config.launch.required_signoffs:
        record_signoff(store.engine, store.config, by=f"{role}-lead", role=role, now=now)


def create_launch_flag(store: LaunchStore, now: float) -> None:
    """The boolean launch flag, off."""
    create_flag(store.engine, flag_from_dict({"key": store.config.launch.flag,
                                              "kind": "boolean"}), by="alice", now=now)  # fmt: skip


def make_launch_ready(store: LaunchStore, now: float) -> Deployment:
    """Fill the store so that every checklist line passes at `now`; the promoted deploy."""
    engine = store.engine
    write_events(engine, traffic(STAGING, now - 50 * 3600.0, now - 600.0, 600.0))
    write_events(engine, traffic(SERVICE, now - 26 * 3600.0, now - 60.0, 120.0))
    deployment = deploy_promoted(store, now - 3 * 3600.0)
    add_feedback(engine, now, 12)
    add_success_users(engine, now, 6)
    drill_runbooks(store, dt.datetime.fromtimestamp(now, dt.UTC).date())
    sign_off_all(store, now - 1800.0)
    create_launch_flag(store, now - 7200.0)
    return deployment
