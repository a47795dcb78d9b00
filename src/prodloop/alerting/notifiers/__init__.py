"""Notifiers: pure payload builders per channel, and one send function over httpx.

``render`` turns a Notification into the bodies a channel receives (one per message for
Slack, webhooks and the console; one per alert for PagerDuty); ``deliver`` sends one
stored body, adding the channel's secret (URL or routing key) only at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from prodloop.alerting.notifiers import console, pagerduty, slack, webhook
from prodloop.alerting.notifiers.base import (
    ACTIONS,
    PAGE_ACTIONS,
    Action,
    AlertView,
    Notification,
    SendResult,
    Unit,
    format_value,
    rfc3339,
)
from prodloop.config import Notifier

__all__ = [
    "ACTIONS",
    "PAGE_ACTIONS",
    "Action",
    "AlertView",
    "Notification",
    "Rendered",
    "SendResult",
    "Unit",
    "deliver",
    "format_value",
    "handles",
    "render",
    "rfc3339",
]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One body to send, and the alerts it is about."""

    alert_ids: tuple[int, ...]
    payload: dict[str, Any]


def handles(kind: str, action: str) -> bool:
    """Whether a channel is told about `action` (Alertmanager receivers know no acks)."""
    return not (kind == "webhook" and action == "acknowledged")


def render(kind: str, n: Notification) -> list[Rendered]:
    """The bodies `n` becomes on a channel of `kind`."""
    ids = tuple(alert.id for alert in n.alerts)
    if kind == "slack":
        return [Rendered(ids, slack.build_message(n))]
    if kind == "webhook":
        return [Rendered(ids, webhook.build_payload(n))]
    if kind == "pagerduty":
        return [Rendered((a.id,), pagerduty.build_event(n, a)) for a in n.alerts]
    if kind == "console":
        return [Rendered(ids, {"line": console.format_line(n)})]
    raise ValueError(f"unknown notifier kind '{kind}'")


def _missing(what: str, ref_name: str) -> SendResult:
    return SendResult(
        None, f"{what} is not set: environment variable {ref_name} is empty", is_permanent=True
    )


def deliver(
    http: httpx.Client,
    notifier: Notifier,
    payload: dict[str, Any],
    *,
    timeout_s: float,
    now: float,
) -> SendResult:
    """Send one stored body to its channel. Never raises; the outcome says what happened."""
    if notifier.kind == "console":
        return console.send(str(payload.get("line", "")))
    if notifier.kind == "pagerduty":
        assert notifier.routing_key is not None  # the config requires it
        key = notifier.routing_key.get()
        if not key:
            return _missing("routing_key", notifier.routing_key.env_name)
        return pagerduty.send(http, notifier.events_url, key, payload, timeout_s=timeout_s, now=now)
    assert notifier.url is not None  # the config requires it for slack and webhook
    url = notifier.url.get()
    if not url:
        return _missing("url", notifier.url.env_name)
    if notifier.kind == "slack":
        return slack.send(http, url, payload, timeout_s=timeout_s, now=now)
    return webhook.send(http, url, payload, timeout_s=timeout_s, now=now)
