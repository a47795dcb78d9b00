"""A new incident and its page link the runbook whose front matter covers the alert."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from prodloop.alerting.acks import get_alert
from prodloop.alerting.paging import alert_view
from prodloop.config import Config, parse_config
from prodloop.incidents.lifecycle import load_incident, open_incident
from prodloop.store import connect
from tests.alerting.recorder import T0, insert_alert

# Covers error-rate alerts under another file name than the SLO's `runbook:` (rollback.md).
SERVER_ERRORS = """---
title: Server errors
owner: on-call
alerts:
  - 'slo="error-rate", severity="page"'
---
"""
CONFIG = """
services:
  chat:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
alerts:
  runbooks_dir: RUNBOOKS
  runbook_base_url: https://git.example/prodloop/blob/main
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'prodloop.db'}")
    yield engine
    engine.dispose()


def config_for(folder: Path) -> Config:
    return parse_config(CONFIG.replace("RUNBOOKS", str(folder)), environ={})


def test_incident_and_notification_link_the_covering_runbook(
    tmp_path: Path, engine: Engine
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "server-errors.md").write_text(SERVER_ERRORS, encoding="utf-8")
    config = config_for(folder)
    [slo] = [slo for slo in config.slos.objectives if slo.name == "error-rate"]
    assert slo.runbook == "ops/runbooks/rollback.md"
    alert_id = insert_alert(
        engine, at=T0, runbook_url="https://git.example/prodloop/blob/main/ops/runbooks/rollback.md"
    )
    expected = "https://git.example/prodloop/blob/main/" + str(folder / "server-errors.md").lstrip(
        "/"
    )

    with engine.begin() as conn:
        alert = get_alert(conn, alert_id)
        incident = open_incident(conn, config, alert, T0, share=0.2)
    assert incident.runbook == expected
    assert load_incident(engine, incident.id).runbook == expected
    assert alert_view(config, alert, T0, with_ack_link=False).runbook_url == expected


def test_an_alert_no_runbook_covers_keeps_its_slo_link(tmp_path: Path, engine: Engine) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "server-errors.md").write_text(SERVER_ERRORS, encoding="utf-8")
    config = config_for(folder)
    slo_link = "https://git.example/prodloop/blob/main/ops/runbooks/triage.md"
    alert_id = insert_alert(engine, at=T0, slo="latency-p95", runbook_url=slo_link)

    with engine.begin() as conn:
        alert = get_alert(conn, alert_id)
        incident = open_incident(conn, config, alert, T0, share=0.2)
    assert incident.runbook == slo_link
    assert alert_view(config, alert, T0, with_ack_link=False).runbook_url == slo_link
