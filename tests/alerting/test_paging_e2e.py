"""End to end: traffic through the real gateway into an outage, the loop ticking on a manual
clock, and the exact Slack, PagerDuty and Alertmanager payloads a local server receives.

The servers are the ones `prodloop up` runs (gateway and control plane, in this process so
their clock can be a manual one); the upstream is `prodloop demo-upstream` in its own
process. The drill switches fault injection on and off by restarting with another config,
as an operator would, which also shows that a restart pages nobody twice.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from prodloop import loop
from prodloop.alerting.acks import ack_link
from prodloop.clock import ManualClock
from prodloop.config import Config, parse_config
from prodloop.server import Runtime, build_runtime, make_processes, serve
from prodloop.store.schema import alerts
from tests.alerting.recorder import (
    PAGERDUTY_PATH,
    ROUTING_KEY,
    SLACK_PATH,
    WEBHOOK_PATH,
    Recorder,
    environ,
    recording_server,
)
from tests.conftest import wait_for_port
from tests.support import free_port

START = 1_767_258_000.0  # 2026-01-01T09:00:00Z
TICK_S = 15.0
PER_TICK = 8  # requests sent through the gateway every tick
GATEWAY_KEY = "gw-e2e-key"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "prodloop.cli", "demo-upstream", "--profile", "fast", "--port",
         str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout_s=30)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server


def _config(tmp_path: Path, upstream: str, recorder_url: str, *, outage: bool) -> Config:
    gateway_port, control_port = free_port(), free_port()
    text = f"""
store:
  url: sqlite:///{tmp_path / "store.db"}
gateway:
  port: {gateway_port}
  default_service: chat
control:
  port: {control_port}
  api_tokens: ["${{T_API_TOKEN}}"]
telemetry:
  flush_interval_s: 0.05
services:
  chat:
    stable: v1
    keys: ["${{GW_KEY}}"]
    versions:
      v1: {{upstream: "{upstream}"}}
faults:
  enabled: {"true" if outage else "false"}
  rules: [{{service: chat, error_rate: 1.0}}]
slos:
  objectives:
    - name: error-rate
      kind: ratio
      objective: 0.99
      bad: errors
      alert: {{above: 0.03, window: 5m, for: 5m}}
      burn_rate_alerts: false
      runbook: ops/runbooks/rollback.md
alerts:
  dashboard_url: "http://dash.example/d/slo"
  runbook_base_url: "https://github.com/example/prodloop/blob/main"
paging:
  public_url: "http://127.0.0.1:{control_port}"
  signing_key: "${{T_SIGNING_KEY}}"
  notifiers:
    slack: {{kind: slack, url: "${{T_SLACK_URL}}"}}
    pagerduty: {{kind: pagerduty, routing_key: "${{T_PD_KEY}}",
                events_url: "{recorder_url}{PAGERDUTY_PATH}"}}
    webhook: {{kind: webhook, url: "${{T_WEBHOOK_URL}}"}}
  people:
    alice: {{notify: [pagerduty]}}
    bob: {{notify: [pagerduty]}}
  schedules:
    primary: {{rotation: daily, people: [alice, bob], start: 2026-01-01, handoff: "08:00"}}
  escalation_policies:
    chat:
      repeat: 0
      levels:
        - {{targets: ["schedule:primary"], after: 10m}}
        - {{targets: ["person:bob"], after: 10m}}
  routes:
    - match: {{severity: page}}
      notifiers: [slack, webhook]
      escalation_policy: chat
"""
    return parse_config(text, environ={**environ(recorder_url), "GW_KEY": GATEWAY_KEY})


@contextmanager
def running(config: Config, clock: ManualClock) -> Iterator[Runtime]:
    """The gateway and control plane `prodloop up` runs, served from a background thread."""
    runtime = build_runtime(config, clock=clock)
    processes = make_processes(runtime)
    thread = threading.Thread(
        target=lambda: asyncio.run(serve(runtime, processes, run_loop=False)), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not processes.started:
        assert time.monotonic() < deadline and thread.is_alive(), "servers did not start"
        time.sleep(0.01)
    try:
        yield runtime
    finally:
        processes.request_stop()
        thread.join(30)


def _drive(runtime: Runtime, clock: ManualClock, ticks: int) -> list[loop.TickReport]:
    """Every tick: advance the clock, send requests through the gateway, then loop.tick."""
    gateway = runtime.config.gateway
    reports = []
    with httpx.Client(
        base_url=f"http://127.0.0.1:{gateway.port}/v1",
        headers={"authorization": f"Bearer {GATEWAY_KEY}"},
        timeout=10,
    ) as client:
        for _ in range(ticks):
            clock.advance(TICK_S)
            for i in range(PER_TICK):
                client.post(
                    "/chat/completions",
                    json={
                        "model": "gpt-4o-mini",
                        "messages": [{"role": "user", "content": f"{i}"}],
                    },
                )
            assert runtime.pipeline.flush(10)
            reports.append(
                loop.tick(runtime.engine, runtime.config, clock.now(), metrics=runtime.metrics)
            )
    return reports


def _alert_row(runtime: Runtime) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        [row] = conn.execute(select(alerts)).mappings().all()
    return dict(row)


def test_outage_pages_on_call_ack_stops_escalation_restart_does_not_repage(
    tmp_path: Path, upstream: str, recorder: Recorder
) -> None:
    clock = ManualClock(START)
    healthy = _config(tmp_path, upstream, recorder.url, outage=False)
    with running(healthy, clock) as runtime:
        _drive(runtime, clock, 4)  # a healthy minute through the fake upstream
    assert recorder.received == []

    outage = _config(tmp_path, upstream, recorder.url, outage=True)
    with running(outage, clock) as runtime:
        reports = _drive(runtime, clock, 26)
        fired_at = next(r.now for r in reports if r.paging.paged)
        assert [r.paging.paged for r in reports].count(1) == 1
        [fired] = [t for r in reports for t in r.alert_transitions if t.to_state == "firing"]
        assert fired.at == fired_at
        # the row's value moves on with every evaluation; the page shows it as it fired
        row = {**_alert_row(runtime), "value": fired.value, "summary": fired.summary}
        link = ack_link(outage.paging, row["id"], fired_at)
        control = f"http://127.0.0.1:{outage.control.port}"
        assert link is not None and link.startswith(f"{control}/ack/")

        # -- the exact payloads each service received --
        assert [(r.path, r.status, r.problems) for r in recorder.received] == [
            (SLACK_PATH, 200, []),
            (WEBHOOK_PATH, 200, []),
            (PAGERDUTY_PATH, 202, []),
        ]
        assert row["state"] == "firing" and row["fired_at"] == fired_at
        _assert_payloads(recorder, row, link, control)

        # -- acknowledged through the signed link in the Slack message, before it escalates --
        assert sum(r.paging.escalated for r in _drive(runtime, clock, 20)) == 0  # 5 minutes
        button = recorder.bodies(SLACK_PATH)[0]["blocks"][2]["elements"][0]
        acked = httpx.get(button["url"], headers={"accept": "application/json"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["alert"]["acked_by"] == "ack link"
        after_ack = _drive(runtime, clock, 24)  # past when level 2 was due, still failing

    assert sum(r.paging.acknowledged for r in after_ack) == 1
    assert sum(r.paging.escalated for r in after_ack) == 0
    pagerduty = recorder.bodies(PAGERDUTY_PATH)
    dedup_key = f"prodloop/{row['fingerprint']}/{row['id']}"
    assert pagerduty[1:] == [
        {"routing_key": ROUTING_KEY, "dedup_key": dedup_key, "event_action": "acknowledge"}
    ]
    assert recorder.bodies(SLACK_PATH)[1]["text"].startswith(
        "ACKNOWLEDGED: ErrorRateAboveThreshold on chat"
    )
    seen = len(recorder.received)

    # -- a restart on the same store pages nobody again --
    with running(outage, clock) as runtime:
        again = _drive(runtime, clock, 4)
    assert all(r.paging.paged == 0 and r.paging.escalated == 0 for r in again)
    assert len(recorder.received) == seen

    # -- the drill ends: healthy traffic resolves the alert; PagerDuty closes its incident --
    with running(healthy, clock) as runtime:
        recovery = _drive(runtime, clock, 26)
        row = _alert_row(runtime)
    assert row["state"] == "resolved"
    assert sum(r.paging.resolved for r in recovery) == 1
    assert recorder.bodies(PAGERDUTY_PATH)[-1] == {
        "routing_key": ROUTING_KEY,
        "dedup_key": dedup_key,
        "event_action": "resolve",
    }
    resolved = recorder.bodies(WEBHOOK_PATH)[-1]
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] == _rfc3339(row["resolved_at"])
    assert recorder.bodies(SLACK_PATH)[-1]["text"].startswith(
        "RESOLVED: ErrorRateAboveThreshold on chat"
    )
    assert all(r.problems == [] for r in recorder.received)


def _rfc3339(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _assert_payloads(recorder: Recorder, row: dict[str, Any], link: str, control: str) -> None:
    labels = json.loads(row["labels"])
    value = f"{row['value'] * 100:.2f}%"
    dashboard = "http://dash.example/d/slo?service=chat&slo=error-rate"
    runbook = "https://github.com/example/prodloop/blob/main/ops/runbooks/rollback.md"
    fired = _rfc3339(row["fired_at"])
    since = fired[:10] + " " + fired[11:16] + " UTC"

    assert labels == {
        "alertname": "ErrorRateAboveThreshold",
        "kind": "threshold",
        "service": "chat",
        "severity": "page",
        "slo": "error-rate",
        "window": "5m",
    }
    [slack] = recorder.bodies(SLACK_PATH)
    assert slack == {
        "text": f"FIRING: ErrorRateAboveThreshold on chat: {value} &gt; 3.00% — paging alice · "
        f"<{link}|Acknowledge> · <{dashboard}|Dashboard> · <{runbook}|Runbook>",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ":rotating_light: FIRING: ErrorRateAboveThreshold on chat",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*ErrorRateAboveThreshold on chat* — {value} &gt; 3.00%\n"
                    f"{row['summary']}",
                },
                "fields": [
                    {"type": "mrkdwn", "text": "*Service*\nchat"},
                    {"type": "mrkdwn", "text": "*Severity*\npage"},
                    {"type": "mrkdwn", "text": f"*Value*\n{value}"},
                    {"type": "mrkdwn", "text": "*Threshold*\n3.00%"},
                    {"type": "mrkdwn", "text": f"*Firing since*\n{since}"},
                    {"type": "mrkdwn", "text": "*Paged*\nalice"},
                    {"type": "mrkdwn", "text": "*SLO*\nerror-rate"},
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Acknowledge", "emoji": True},
                        "url": link,
                        "action_id": f"ack-{row['id']}",
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Dashboard", "emoji": True},
                        "url": dashboard,
                        "action_id": f"dashboard-{row['id']}",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Runbook", "emoji": True},
                        "url": runbook,
                        "action_id": f"runbook-{row['id']}",
                    },
                ],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"prodloop · alert #{row['id']}"}],
            },
        ],
    }
    annotations = {
        "dashboard_url": dashboard,
        "description": f"ErrorRateAboveThreshold on chat: {value} > 3.00%",
        "runbook_url": runbook,
        "summary": row["summary"],
        "threshold": "3.00%",
        "value": value,
    }
    [webhook] = recorder.bodies(WEBHOOK_PATH)
    assert webhook == {
        "version": "4",
        "groupKey": '{}/{severity="page"}:{alertname="ErrorRateAboveThreshold", service="chat"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "webhook",
        "groupLabels": {"alertname": "ErrorRateAboveThreshold", "service": "chat"},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": control,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": fired,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": f"{control}/api/v1/alerts/{row['id']}",
                "fingerprint": row["fingerprint"],
            }
        ],
    }
    [pagerduty] = recorder.bodies(PAGERDUTY_PATH)
    assert pagerduty == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": f"prodloop/{row['fingerprint']}/{row['id']}",
        "payload": {
            "summary": f"ErrorRateAboveThreshold: {row['summary']}",
            "source": "chat",
            "severity": "critical",
            "timestamp": fired,
            "component": "error-rate",
            "class": "ErrorRateAboveThreshold",
            "custom_details": {
                "alert_id": row["id"],
                "alertname": "ErrorRateAboveThreshold",
                "service": "chat",
                "severity": "page",
                "value": value,
                "threshold": "3.00%",
                "firing_since": fired,
                "labels": labels,
                "slo": "error-rate",
                "runbook": runbook,
                "paged": ["alice"],
                "acknowledge_url": link,
            },
        },
        "client": "prodloop",
        "client_url": "http://dash.example/d/slo",
        "links": [
            {"href": dashboard, "text": "Dashboard"},
            {"href": runbook, "text": "Runbook"},
            {"href": link, "text": "Acknowledge in prodloop"},
        ],
    }
    assert row["summary"].startswith("chat error-rate: error rate ")
