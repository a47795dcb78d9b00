"""PagerDuty Events API v2: trigger, acknowledge and resolve, one event per alert occurrence.

Every event of one alert occurrence carries the same ``dedup_key``, so PagerDuty folds
repeats and escalations into one alert, and the acknowledge and resolve reach it. The
``routing_key`` is a secret: it is added when the event is sent, never stored.
"""

from __future__ import annotations

from typing import Any

import httpx

from prodloop.alerting.notifiers.base import (
    PAGE_ACTIONS,
    AlertView,
    Notification,
    SendResult,
    dashboard_for,
    format_value,
    is_http_url,
    post_json,
    rfc3339,
    truncate,
)

SUMMARY_LIMIT = 1024  # payload.summary's documented maximum
DEDUP_KEY_LIMIT = 255

# prodloop's severities to PagerDuty's (critical | error | warning | info).
SEVERITIES = {"page": "critical", "ticket": "warning", "critical": "critical", "error": "error"}
CLIENT = "prodloop"


def pagerduty_severity(severity: str) -> str:
    """PagerDuty's severity for a prodloop one: page → critical, ticket → warning."""
    return SEVERITIES.get(severity, "info" if severity == "info" else "error")


def dedup_key(alert: AlertView) -> str:
    """Stable for one occurrence of an alert, different for the next occurrence."""
    return truncate(f"prodloop/{alert.fingerprint}/{alert.id}", DEDUP_KEY_LIMIT)


def event_action(action: str) -> str:
    """PagerDuty's event_action for a notification action: trigger, acknowledge, resolve."""
    if action in PAGE_ACTIONS:
        return "trigger"
    if action == "acknowledged":
        return "acknowledge"
    if action == "resolved":
        return "resolve"
    raise ValueError(f"no PagerDuty event for '{action}'")


def _summary(alert: AlertView) -> str:
    text = f"{alert.alertname}: {alert.summary}" if alert.summary else alert.headline
    return truncate(text, SUMMARY_LIMIT)


def _custom_details(n: Notification, alert: AlertView) -> dict[str, Any]:
    details: dict[str, Any] = {
        "alert_id": alert.id,
        "alertname": alert.alertname,
        "service": alert.service,
        "severity": alert.severity,
        "value": format_value(alert.value, alert.unit),
        "threshold": format_value(alert.threshold, alert.unit),
        "firing_since": rfc3339(alert.started_at),
        "labels": dict(alert.labels),
    }
    if alert.slo:
        details["slo"] = alert.slo
    if alert.runbook_url:
        details["runbook"] = alert.runbook_url
    if n.paged:
        details["paged"] = list(n.paged)
    if n.escalation_level is not None:
        details["escalation_level"] = n.escalation_level
    if alert.ack_url and alert.acked_at is None:
        details["acknowledge_url"] = alert.ack_url
    return details


def _links(n: Notification, alert: AlertView) -> list[dict[str, str]]:
    candidates = [
        (dashboard_for(n, alert), "Dashboard"),
        (alert.runbook_url, "Runbook"),
        (alert.ack_url if alert.acked_at is None else None, "Acknowledge in prodloop"),
    ]
    return [{"href": url, "text": text} for url, text in candidates if url and is_http_url(url)]


def build_event(n: Notification, alert: AlertView) -> dict[str, Any]:
    """The event for one alert, without ``routing_key``."""
    action = event_action(n.action)
    if action != "trigger":
        return {"event_action": action, "dedup_key": dedup_key(alert)}
    payload: dict[str, Any] = {
        "summary": _summary(alert),
        "source": alert.service,
        "severity": pagerduty_severity(alert.severity),
        "timestamp": rfc3339(alert.started_at),
        "component": alert.slo or alert.alertname,
        "class": alert.alertname,
        "custom_details": _custom_details(n, alert),
    }
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": dedup_key(alert),
        "payload": payload,
        "client": CLIENT,
    }
    if is_http_url(n.dashboard_url):
        event["client_url"] = n.dashboard_url
    links = _links(n, alert)
    if links:
        event["links"] = links
    return event


def send(
    http: httpx.Client,
    events_url: str,
    routing_key: str,
    event: dict[str, Any],
    *,
    timeout_s: float,
    now: float,
) -> SendResult:
    """POST the event with its routing key; PagerDuty answers 202."""
    body = {"routing_key": routing_key, **event}
    return post_json(http, events_url, body, timeout_s=timeout_s, now=now)
