"""Payload builders for Slack, PagerDuty, Alertmanager webhooks and the console, and sends
to a local server that checks each body the way the real service documents it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from prodloop.alerting.notifiers import AlertView, Notification, deliver, handles, render
from prodloop.alerting.notifiers.base import format_value, parse_retry_after, rfc3339
from prodloop.alerting.notifiers.console import format_line
from prodloop.alerting.notifiers.pagerduty import build_event, dedup_key, pagerduty_severity
from prodloop.alerting.notifiers.slack import build_message
from prodloop.alerting.notifiers.webhook import build_payload, group_key
from prodloop.config import Notifier
from tests.alerting.recorder import (
    PAGERDUTY_PATH,
    ROUTING_KEY,
    SLACK_PATH,
    T0,
    WEBHOOK_PATH,
    Recorder,
    check_alertmanager,
    check_pagerduty,
    check_slack,
    recording_server,
)
from tests.gateway.servers import closed_port

ACK = "http://prodloop.example/ack/7.1767312000.c2lnbmF0dXJl"
LABELS = {
    "alertname": "ErrorRateAboveThreshold",
    "service": "chat",
    "slo": "error-rate",
    "severity": "page",
    "kind": "threshold",
    "window": "5m",
}


def _alert(**changes: Any) -> AlertView:
    alert = AlertView(
        id=7,
        fingerprint="ce5f5f8743ef6724",
        alertname="ErrorRateAboveThreshold",
        service="chat",
        severity="page",
        state="firing",
        labels=LABELS,
        summary="chat error-rate: error rate 5.20% over 5m (threshold 3.00%)",
        value=0.052,
        threshold=0.03,
        started_at=T0,
        slo="error-rate",
        unit="ratio",
        runbook_url="https://runbooks.example/rollback.md",
        dashboard_url="http://dash.example/d/slo?service=chat&slo=error-rate",
        ack_url=ACK,
    )
    return replace(alert, **changes)


def _notification(*alerts: AlertView, **changes: Any) -> Notification:
    n = Notification(
        action="firing",
        receiver="slack",
        group_key='{}/{service="chat"}:{alertname="ErrorRateAboveThreshold", service="chat"}',
        group_labels={"alertname": "ErrorRateAboveThreshold", "service": "chat"},
        alerts=alerts or (_alert(),),
        dashboard_url="http://dash.example/d/slo",
        public_url="http://prodloop.example",
        now=T0,
        paged=("alice",),
    )
    return replace(n, **changes)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server


# --- Slack ------------------------------------------------------------------------------


def test_slack_firing_message_is_block_kit_with_value_threshold_and_links() -> None:
    message = build_message(_notification())

    assert message == {
        "text": (
            "FIRING: ErrorRateAboveThreshold on chat: 5.20% &gt; 3.00% — paging alice · "
            f"<{ACK}|Acknowledge> · "
            "<http://dash.example/d/slo?service=chat&slo=error-rate|Dashboard> · "
            "<https://runbooks.example/rollback.md|Runbook>"
        ),
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
                    "text": "*ErrorRateAboveThreshold on chat* — 5.20% &gt; 3.00%\n"
                    "chat error-rate: error rate 5.20% over 5m (threshold 3.00%)",
                },
                "fields": [
                    {"type": "mrkdwn", "text": "*Service*\nchat"},
                    {"type": "mrkdwn", "text": "*Severity*\npage"},
                    {"type": "mrkdwn", "text": "*Value*\n5.20%"},
                    {"type": "mrkdwn", "text": "*Threshold*\n3.00%"},
                    {"type": "mrkdwn", "text": "*Firing since*\n2026-01-01 00:00 UTC"},
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
                        "url": ACK,
                        "action_id": "ack-7",
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Dashboard", "emoji": True},
                        "url": "http://dash.example/d/slo?service=chat&slo=error-rate",
                        "action_id": "dashboard-7",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Runbook", "emoji": True},
                        "url": "https://runbooks.example/rollback.md",
                        "action_id": "runbook-7",
                    },
                ],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "prodloop · alert #7"}]},
        ],
    }
    assert check_slack(message) == []


def test_slack_acknowledged_and_resolved_messages_drop_the_ack_button() -> None:
    acked = _alert(acked_at=T0 + 120, acked_by="alice")
    ack_message = build_message(_notification(acked, action="acknowledged", paged=()))
    resolved = _alert(state="resolved", resolved_at=T0 + 900, ack_url=None)
    resolved_message = build_message(_notification(resolved, action="resolved", paged=()))

    assert ack_message["blocks"][0]["text"]["text"] == (
        ":eyes: ACKNOWLEDGED: ErrorRateAboveThreshold on chat"
    )
    assert {"type": "mrkdwn", "text": "*Acknowledged*\nalice at 2026-01-01 00:02 UTC"} in (
        ack_message["blocks"][1]["fields"]
    )
    assert "acknowledged by alice" in ack_message["text"]
    assert resolved_message["blocks"][0]["text"]["text"] == (
        ":white_check_mark: RESOLVED: ErrorRateAboveThreshold on chat"
    )
    assert {"type": "mrkdwn", "text": "*Last value*\n5.20%"} in resolved_message["blocks"][1][
        "fields"
    ]
    for message in (ack_message, resolved_message):
        buttons = [e["text"]["text"] for e in message["blocks"][2]["elements"]]
        assert buttons == ["Dashboard", "Runbook"]
        assert check_slack(message) == []


def test_slack_escapes_markup_and_keeps_relative_runbooks_out_of_buttons() -> None:
    alert = _alert(summary="<!channel> & friends", runbook_url="ops/runbooks/triage.md")
    message = build_message(_notification(alert, action="escalation", escalation_level=2))

    section = message["blocks"][2]["text"]["text"]
    assert "&lt;!channel&gt; &amp; friends" in section
    assert "<!channel>" not in str(message)
    assert "Runbook: `ops/runbooks/triage.md`" in section
    assert message["blocks"][1]["text"]["text"] == (
        "Not acknowledged: escalated to level 2 (alice)."
    )
    urls = [e["url"] for e in message["blocks"][3]["elements"]]
    assert "ops/runbooks/triage.md" not in urls
    assert check_slack(message) == []


def test_slack_without_signed_links_says_how_to_acknowledge() -> None:
    message = build_message(_notification(_alert(ack_url=None)))

    assert (
        "Acknowledge with `prodloop alerts ack 7 --by NAME`"
        in (message["blocks"][1]["text"]["text"])
    )
    assert [e["text"]["text"] for e in message["blocks"][2]["elements"]] == [
        "Dashboard",
        "Runbook",
    ]


def test_slack_message_of_a_large_group_stays_within_block_kit_limits() -> None:
    alerts = [_alert(id=i, summary="x" * 5000) for i in range(1, 13)]
    message = build_message(_notification(*alerts))

    assert len(message["blocks"]) <= 50
    assert message["blocks"][0]["text"]["text"].endswith("(+11 more)")
    assert message["blocks"][-1]["elements"][0]["text"] == (
        "prodloop · alert #1 · 2 more alerts not shown"
    )
    assert check_slack(message) == []


# --- PagerDuty --------------------------------------------------------------------------


def test_pagerduty_trigger_event_exact() -> None:
    event = build_event(_notification(receiver="pagerduty"), _alert())

    assert event == {
        "event_action": "trigger",
        "dedup_key": "prodloop/ce5f5f8743ef6724/7",
        "payload": {
            "summary": "ErrorRateAboveThreshold: chat error-rate: error rate 5.20% over 5m "
            "(threshold 3.00%)",
            "source": "chat",
            "severity": "critical",
            "timestamp": "2026-01-01T00:00:00Z",
            "component": "error-rate",
            "class": "ErrorRateAboveThreshold",
            "custom_details": {
                "alert_id": 7,
                "alertname": "ErrorRateAboveThreshold",
                "service": "chat",
                "severity": "page",
                "value": "5.20%",
                "threshold": "3.00%",
                "firing_since": "2026-01-01T00:00:00Z",
                "labels": LABELS,
                "slo": "error-rate",
                "runbook": "https://runbooks.example/rollback.md",
                "paged": ["alice"],
                "acknowledge_url": ACK,
            },
        },
        "client": "prodloop",
        "client_url": "http://dash.example/d/slo",
        "links": [
            {"href": "http://dash.example/d/slo?service=chat&slo=error-rate", "text": "Dashboard"},
            {"href": "https://runbooks.example/rollback.md", "text": "Runbook"},
            {"href": ACK, "text": "Acknowledge in prodloop"},
        ],
    }
    assert check_pagerduty({"routing_key": ROUTING_KEY, **event}) == []


def test_pagerduty_acknowledge_and_resolve_carry_only_the_dedup_key() -> None:
    alert = _alert()
    ack = build_event(_notification(action="acknowledged"), alert)
    resolve = build_event(_notification(action="resolved"), alert)

    assert ack == {"event_action": "acknowledge", "dedup_key": "prodloop/ce5f5f8743ef6724/7"}
    assert resolve == {"event_action": "resolve", "dedup_key": "prodloop/ce5f5f8743ef6724/7"}


def test_pagerduty_dedup_key_is_per_occurrence_and_summary_is_capped() -> None:
    first, again, next_occurrence = _alert(), _alert(value=0.9), _alert(id=8)
    long = build_event(_notification(), _alert(summary="y" * 3000))

    assert dedup_key(first) == dedup_key(again) != dedup_key(next_occurrence)
    assert len(long["payload"]["summary"]) == 1024
    assert long["payload"]["summary"].endswith("…")
    assert check_pagerduty({"routing_key": ROUTING_KEY, **long}) == []


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("page", "critical"), ("ticket", "warning"), ("info", "info"), ("other", "error")],
)
def test_pagerduty_severity_mapping(ours: str, theirs: str) -> None:
    assert pagerduty_severity(ours) == theirs


# --- Alertmanager webhook ----------------------------------------------------------------


def test_webhook_payload_is_alertmanager_v4() -> None:
    payload = build_payload(_notification(receiver="webhook"))

    annotations = {
        "summary": "chat error-rate: error rate 5.20% over 5m (threshold 3.00%)",
        "description": "ErrorRateAboveThreshold on chat: 5.20% > 3.00%",
        "value": "5.20%",
        "threshold": "3.00%",
        "dashboard_url": "http://dash.example/d/slo?service=chat&slo=error-rate",
        "runbook_url": "https://runbooks.example/rollback.md",
    }
    assert payload == {
        "version": "4",
        "groupKey": '{}/{service="chat"}:{alertname="ErrorRateAboveThreshold", service="chat"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "webhook",
        "groupLabels": {"alertname": "ErrorRateAboveThreshold", "service": "chat"},
        "commonLabels": dict(sorted(LABELS.items())),
        "commonAnnotations": dict(sorted(annotations.items())),
        "externalURL": "http://prodloop.example",
        "alerts": [
            {
                "status": "firing",
                "labels": dict(sorted(LABELS.items())),
                "annotations": annotations,
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prodloop.example/api/v1/alerts/7",
                "fingerprint": "ce5f5f8743ef6724",
            }
        ],
    }
    assert check_alertmanager(payload) == []


def test_webhook_common_labels_are_shared_ones_and_resolved_alerts_end() -> None:
    latency = _alert(
        id=9,
        fingerprint="aaaa",
        labels={**LABELS, "slo": "latency-p95"},
        state="resolved",
        resolved_at=T0 + 330.25,
    )
    payload = build_payload(_notification(_alert(), latency))

    assert payload["status"] == "firing"  # one alert of the group still fires
    assert "slo" not in payload["commonLabels"]
    assert payload["commonLabels"]["service"] == "chat"
    assert payload["alerts"][1]["status"] == "resolved"
    assert payload["alerts"][1]["endsAt"] == "2026-01-01T00:05:30.250Z"
    assert check_alertmanager(payload) == []
    resolved_only = build_payload(_notification(latency, action="resolved"))
    assert resolved_only["status"] == "resolved"


def test_group_key_follows_alertmanager() -> None:
    assert group_key({}, {"alertname": "A"}) == '{}/{}:{alertname="A"}'
    assert (
        group_key({"service": "chat", "severity": "page"}, {"b": 'x"y', "a": "1"})
        == '{}/{service="chat",severity="page"}:{a="1", b="x\\"y"}'
    )


# --- console and helpers -------------------------------------------------------------------


def test_console_line_and_who_hears_acks() -> None:
    line = format_line(_notification(escalation_level=2, action="escalation"))

    assert line == (
        "ESCALATED alert #7 ErrorRateAboveThreshold on chat: 5.20% > 3.00% "
        "runbook=https://runbooks.example/rollback.md (escalation level 2) paging alice"
    )
    assert not handles("webhook", "acknowledged")
    assert handles("pagerduty", "acknowledged") and handles("slack", "acknowledged")
    assert len(render("pagerduty", _notification(_alert(), _alert(id=8)))) == 2
    assert len(render("slack", _notification(_alert(), _alert(id=8)))) == 1


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (2630.0, "ms", "2.63s"),
        (850.0, "ms", "850ms"),
        (0.052, "ratio", "5.20%"),
        (0.0031, "usd", "$0.0031"),
        (14.4, "burn", "14.4×"),
        (None, "ratio", "no data"),
        (float("nan"), "ms", "no data"),
    ],
)
def test_format_value(value: float | None, unit: Any, shown: str) -> None:
    assert format_value(value, unit) == shown


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("120", T0) == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:30 GMT", T0) == 90.0
    assert parse_retry_after("Thu, 01 Jan 2025 00:00:00 GMT", T0) == 0.0
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after(None, T0) is None
    assert rfc3339(T0 + 0.5) == "2026-01-01T00:00:00.500Z"


# --- sends to the recording server ---------------------------------------------------------


def test_deliver_posts_each_channel_its_documented_body(recorder: Recorder) -> None:
    env = {
        "SLACK": recorder.url + SLACK_PATH,
        "HOOK": recorder.url + WEBHOOK_PATH,
        "KEY": ROUTING_KEY,
    }
    context = {"environ": env}
    slack = Notifier.model_validate({"kind": "slack", "url": "${SLACK}"}, context=context)
    hook = Notifier.model_validate({"kind": "webhook", "url": "${HOOK}"}, context=context)
    pagerduty = Notifier.model_validate(
        {"kind": "pagerduty", "routing_key": "${KEY}", "events_url": recorder.url + PAGERDUTY_PATH},
        context=context,
    )
    n = _notification()
    with httpx.Client() as http:
        results = [
            deliver(http, notifier, render(notifier.kind, n)[0].payload, timeout_s=5, now=T0)
            for notifier in (slack, hook, pagerduty)
        ]

    assert [r.status_code for r in results] == [200, 200, 202]
    assert all(r.is_sent for r in results)
    assert [r.problems for r in recorder.received] == [[], [], []]
    assert recorder.bodies(SLACK_PATH) == [build_message(n)]
    assert recorder.bodies(WEBHOOK_PATH) == [build_payload(n)]
    assert recorder.bodies(PAGERDUTY_PATH) == [
        {"routing_key": ROUTING_KEY, **build_event(n, n.alerts[0])}
    ]
    assert recorder.at(SLACK_PATH)[0].headers["content-type"] == "application/json"


def test_deliver_reports_4xx_429_and_network_errors_without_leaking_the_url(
    recorder: Recorder,
) -> None:
    from tests.alerting.recorder import Reply

    secret_url = recorder.url + SLACK_PATH
    slack = Notifier.model_validate(
        {"kind": "slack", "url": "${S}"}, context={"environ": {"S": secret_url}}
    )
    recorder.queue(SLACK_PATH, Reply(404, "no_service"), Reply(429, "", {"Retry-After": "30"}))
    body = build_message(_notification())
    with httpx.Client() as http:
        gone = deliver(http, slack, body, timeout_s=5, now=T0)
        limited = deliver(http, slack, body, timeout_s=5, now=T0)
        down = Notifier.model_validate(
            {"kind": "slack", "url": "${S}"},
            context={"environ": {"S": f"http://127.0.0.1:{closed_port()}/services/T/B/secret"}},
        )
        refused = deliver(http, down, body, timeout_s=5, now=T0)

    assert (gone.status_code, gone.error, gone.is_retryable) == (404, "HTTP 404: no_service", False)
    assert (limited.status_code, limited.retry_after_s, limited.is_retryable) == (429, 30.0, True)
    assert refused.status_code is None and refused.is_retryable
    assert refused.error is not None and "secret" not in refused.error


def test_deliver_with_an_unset_secret_fails_for_good() -> None:
    slack = Notifier.model_validate({"kind": "slack", "url": "${UNSET}"}, context={"environ": {}})
    with httpx.Client() as http:
        result = deliver(http, slack, {"text": "x"}, timeout_s=5, now=T0)

    assert result.is_permanent and not result.is_retryable
    assert result.error == "url is not set: environment variable UNSET is empty"


def test_console_delivery_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    console = Notifier(kind="console")
    with caplog.at_level(logging.WARNING, logger="prodloop.alerts"), httpx.Client() as http:
        result = deliver(http, console, {"line": "FIRING alert #7"}, timeout_s=5, now=T0)

    assert result.is_sent
    assert [r.getMessage() for r in caplog.records] == ["FIRING alert #7"]
