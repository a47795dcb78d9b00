"""Generic webhook with Alertmanager's v4 payload, so existing receivers work unchanged."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from prodloop.alerting.notifiers.base import (
    ZERO_TIME,
    AlertView,
    Notification,
    SendResult,
    dashboard_for,
    format_value,
    post_json,
    rfc3339,
)

VERSION = "4"


def label_set(labels: Mapping[str, str]) -> str:
    """Prometheus' rendering of a label set: ``{alertname="X", service="chat"}``."""
    inner = ", ".join(f'{name}="{_quote(labels[name])}"' for name in sorted(labels))
    return "{" + inner + "}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def group_key(route_match: Mapping[str, str], group_labels: Mapping[str, str]) -> str:
    """Alertmanager's group key: the route's matchers, then the group's labels."""
    matchers = ",".join(f'{name}="{_quote(route_match[name])}"' for name in sorted(route_match))
    return "{}/{" + matchers + "}:" + label_set(group_labels)


def alert_annotations(n: Notification, alert: AlertView) -> dict[str, str]:
    """Alertmanager annotations: free-form strings about the alert."""
    notes = {
        "summary": alert.headline,
        "description": f"{alert.title}: {alert.condition}",
        "value": format_value(alert.value, alert.unit),
        "threshold": format_value(alert.threshold, alert.unit),
        "dashboard_url": dashboard_for(n, alert),
    }
    if alert.runbook_url:
        notes["runbook_url"] = alert.runbook_url
    return notes


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    items = [dict(m) for m in maps]
    if not items:
        return {}
    first = items[0]
    return {k: v for k, v in sorted(first.items()) if all(m.get(k) == v for m in items[1:])}


def alert_entry(n: Notification, alert: AlertView) -> dict[str, Any]:
    """One entry of the payload's `alerts`."""
    resolved = alert.state == "resolved"
    return {
        "status": "resolved" if resolved else "firing",
        "labels": dict(sorted(alert.labels.items())),
        "annotations": alert_annotations(n, alert),
        "startsAt": rfc3339(alert.started_at),
        "endsAt": rfc3339(alert.resolved_at)
        if resolved and alert.resolved_at is not None
        else ZERO_TIME,
        "generatorURL": f"{n.public_url.rstrip('/')}/api/v1/alerts/{alert.id}",
        "fingerprint": alert.fingerprint,
    }


def build_payload(n: Notification) -> dict[str, Any]:
    """The v4 body Alertmanager's webhook_config posts."""
    entries = [alert_entry(n, alert) for alert in n.alerts]
    return {
        "version": VERSION,
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": n.status,
        "receiver": n.receiver,
        "groupLabels": dict(sorted(n.group_labels.items())),
        "commonLabels": _common(alert.labels for alert in n.alerts),
        "commonAnnotations": _common(entry["annotations"] for entry in entries),
        "externalURL": n.public_url,
        "alerts": entries,
    }


def send(
    http: httpx.Client, url: str, payload: dict[str, Any], *, timeout_s: float, now: float
) -> SendResult:
    """POST the payload to the receiver; any 2xx is delivered."""
    return post_json(http, url, payload, timeout_s=timeout_s, now=now)
