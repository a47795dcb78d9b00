"""Alerts, a delivery log and an incident for the alerts and incidents pages' tests: chat
fires a page (with an open SEV1 incident), search has a pending ticket whose summary
tries to inject a script, and a notification failed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from playwright.sync_api import Page
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from prodloop.alerting.acks import alert_record
from prodloop.api.app import create_control_app
from prodloop.clock import ManualClock
from prodloop.config import Config
from prodloop.incidents.lifecycle import open_incident
from prodloop.store import connect
from prodloop.store.schema import alerts, notification_deliveries
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.pipeline import Pipeline
from tests.api.support import ControlPlane, control_config
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import HOSTILE, NOW, SERVICES_YAML, login, seeded_plane

# alice holds the daily shift that began at 08:00 on NOW's day; bob takes over at 08:00.
PAGING_YAML = """
paging:
  notifiers:
    console: {{kind: console}}
  people:
    alice: {{notify: [console]}}
    bob: {{notify: [console]}}
  schedules:
    primary: {{rotation: daily, people: [alice, bob], start: 2026-01-01, handoff: "08:00"}}
  escalation_policies:
    chat:
      levels:
        - {{targets: ["schedule:primary"], after: 30m}}
  routes:
    - match: {{}}
      notifiers: [console]
      escalation_policy: chat
incidents:
  postmortem_dir: "{postmortem_dir}"
"""
FIRED_AT = NOW - 300
DELIVERY_ERROR = "connection refused <b>x</b>"


@dataclass(frozen=True)
class Seeded:
    firing_id: int
    pending_id: int
    incident_id: int


@dataclass
class OncallDashboard(Dashboard):
    config: Config
    seeded: Seeded

    def logged_in(self, name: str) -> TestClient:
        http = self.new_client()
        assert login(http, name).status_code == 303
        return http


def _alert(engine: Engine, **values: object) -> int:
    row = {
        "kind": "threshold",
        "slo": None,
        "labels": "{}",
        "last_eval_at": NOW,
        "threshold": 0.05,
        "summary": "",
        **values,
    }
    with engine.begin() as conn:
        key = conn.execute(insert(alerts).values(**row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def seed_oncall(engine: Engine, config: Config) -> Seeded:
    firing = _alert(engine, fingerprint="f1", alertname="ErrorRateHigh", severity="page",
                    service="chat", state="firing", active_at=FIRED_AT - 60,
                    fired_at=FIRED_AT, value=0.12, summary="chat answers 503")  # fmt: skip
    pending = _alert(engine, fingerprint="f2", alertname="LatencyHigh", severity="ticket",
                     service="search", state="pending", active_at=NOW - 60, value=0.07,
                     summary=HOSTILE)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            insert(notification_deliveries).values(
                notifier="console", kind="console", action="firing", alert_id=firing,
                alert_ids=json.dumps([firing]), group_key="g", recipients="alice",
                payload="{}", state="failed", attempts=3, created_at=FIRED_AT,
                last_attempt_at=FIRED_AT + 30, last_status=None, last_error=DELIVERY_ERROR,
            )
        )  # fmt: skip
        row = conn.execute(select(alerts).where(alerts.c.id == firing)).mappings().one()
        incident = open_incident(conn, config, alert_record(row), FIRED_AT, share=0.5)
    return Seeded(firing, pending, incident.id)


@contextmanager
def oncall_dashboard(tmp_path: Path, seeded_store: Path) -> Iterator[OncallDashboard]:
    """The real control-plane app over the seeded store plus alerts and an incident."""
    shutil.copy(seeded_store, tmp_path / "prodloop.db")
    paging = PAGING_YAML.format(postmortem_dir=tmp_path / "postmortems")
    config = control_config(f"sqlite:///{tmp_path / 'prodloop.db'}", SERVICES_YAML + paging)
    engine = connect(config.store.url)
    seeded = seed_oncall(engine, config)
    clock = ManualClock(NOW)
    metrics = Metrics()
    pipeline = Pipeline(engine, queue_size=100, batch_size=10, flush_interval_s=0.05,
                        metrics=metrics)  # fmt: skip
    app = create_control_app(config, engine, pipeline, metrics, clock=clock)
    with TestClient(app, follow_redirects=False) as client:
        yield OncallDashboard(client, engine, clock, config, seeded)
    engine.dispose()


@contextmanager
def oncall_plane(folder: Path, seeded_store: Path) -> Iterator[tuple[ControlPlane, Seeded]]:
    """A real server on a free port over the same data, for the browser tests."""
    paging = PAGING_YAML.format(postmortem_dir=folder / "postmortems")
    with seeded_plane(folder, seeded_store, SERVICES_YAML + paging) as plane:
        yield plane, seed_oncall(plane.engine, plane.config)


def overflow_px(page: Page) -> int:
    """How far the page is wider than the window (0 or less: no horizontal scrolling)."""
    value: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return value
