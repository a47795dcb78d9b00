"""Slack incoming webhooks: a Block Kit message with a plain `text` fallback.

Block Kit limits respected here: a header's text is at most 150 characters, a section's
text 3000, a field 2000, a button's label 75 and its URL 3000; a message holds at most 50
blocks. Buttons only carry absolute http(s) URLs, since Slack refuses the whole message
(``invalid_blocks``) over one bad link.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
    truncate,
)

MAX_ALERTS = 10  # alerts shown in one message; 3 blocks each stays under Slack's 50

HEADINGS = {
    "firing": (":rotating_light:", "FIRING"),
    "repeat": (":rotating_light:", "STILL FIRING"),
    "escalation": (":sos:", "ESCALATED"),
    "acknowledged": (":eyes:", "ACKNOWLEDGED"),
    "resolved": (":white_check_mark:", "RESOLVED"),
}


def escape(text: str) -> str:
    """Slack reads &, < and > as markup (``<!channel>`` pings everyone); escape them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _title(n: Notification) -> str:
    first = n.alerts[0]
    more = len(n.alerts) - 1
    _, word = HEADINGS[n.action]
    return f"{word}: {first.title}" + (f" (+{more} more)" if more else "")


def _link(url: str | None, label: str) -> str | None:
    return f"<{url}|{label}>" if url is not None and is_http_url(url) else None


def fallback_text(n: Notification) -> str:
    """The `text` Slack shows in notifications and where blocks cannot be shown."""
    first = n.alerts[0]
    parts = [f"{_title(n)}: {first.condition}"]
    if n.action == "acknowledged" and first.acked_by:
        parts.append(f"acknowledged by {first.acked_by}")
    if n.paged:
        parts.append("paging " + ", ".join(n.paged))
    links = [
        _link(first.ack_url, "Acknowledge") if _can_ack(n, first) else None,
        _link(dashboard_for(n, first), "Dashboard"),
        _link(first.runbook_url, "Runbook"),
    ]
    text = escape(" — ".join(parts))
    shown = [link for link in links if link is not None]
    return truncate(text + (" · " + " · ".join(shown) if shown else ""), 3000)


def _can_ack(n: Notification, alert: AlertView) -> bool:
    return n.action in PAGE_ACTIONS and alert.acked_at is None and alert.ack_url is not None


def _fields(n: Notification, alert: AlertView) -> list[dict[str, str]]:
    value_name = "Last value" if alert.state == "resolved" else "Value"
    rows = [
        ("Service", alert.service),
        ("Severity", alert.severity),
        (value_name, format_value(alert.value, alert.unit)),
        ("Threshold", format_value(alert.threshold, alert.unit)),
        ("Firing since", _when(alert.started_at)),
    ]
    if alert.resolved_at is not None:
        rows.append(("Resolved at", _when(alert.resolved_at)))
    if alert.acked_at is not None:
        rows.append(("Acknowledged", f"{alert.acked_by or '?'} at {_when(alert.acked_at)}"))
    if n.paged:
        rows.append(("Paged", ", ".join(n.paged)))
    if alert.slo:
        rows.append(("SLO", alert.slo))
    return [
        {"type": "mrkdwn", "text": truncate(f"*{name}*\n{escape(value)}", 2000)}
        for name, value in rows[:10]
    ]


def _button(text: str, url: str, action_id: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "url": url,
        "action_id": action_id,
    }
    if style is not None:
        button["style"] = style
    return button


def _actions(n: Notification, alert: AlertView) -> dict[str, Any] | None:
    buttons = []
    if _can_ack(n, alert) and alert.ack_url is not None and len(alert.ack_url) <= 3000:
        buttons.append(_button("Acknowledge", alert.ack_url, f"ack-{alert.id}", "primary"))
    dashboard = dashboard_for(n, alert)
    if is_http_url(dashboard) and len(dashboard) <= 3000:
        buttons.append(_button("Dashboard", dashboard, f"dashboard-{alert.id}"))
    runbook = alert.runbook_url
    if runbook is not None and is_http_url(runbook) and len(runbook) <= 3000:
        buttons.append(_button("Runbook", runbook, f"runbook-{alert.id}"))
    return {"type": "actions", "elements": buttons} if buttons else None


def _section(n: Notification, alert: AlertView) -> dict[str, Any]:
    lines = [f"*{escape(alert.title)}* — {escape(alert.condition)}"]
    if alert.summary:
        lines.append(escape(alert.summary))
    if alert.runbook_url and not is_http_url(alert.runbook_url):
        lines.append(f"Runbook: `{escape(alert.runbook_url)}`")
    if n.action in PAGE_ACTIONS and alert.acked_at is None and alert.ack_url is None:
        lines.append(f"Acknowledge with `prodloop alerts ack {alert.id} --by NAME`")
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate("\n".join(lines), 3000)},
        "fields": _fields(n, alert),
    }


def build_message(n: Notification) -> dict[str, Any]:
    """The incoming-webhook body: ``text`` (fallback) and ``blocks``."""
    emoji, _ = HEADINGS[n.action]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(f"{emoji} {_title(n)}", 150)},
        }
    ]
    if n.action == "escalation" and n.escalation_level is not None:
        who = ", ".join(n.paged) or "nobody"
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": escape(
                        f"Not acknowledged: escalated to level {n.escalation_level} ({who})."
                    ),
                },
            }
        )
    for alert in n.alerts[:MAX_ALERTS]:
        blocks.append(_section(n, alert))
        actions = _actions(n, alert)
        if actions is not None:
            blocks.append(actions)
    context = f"prodloop · alert #{n.alerts[0].id}"
    if len(n.alerts) > MAX_ALERTS:
        context += f" · {len(n.alerts) - MAX_ALERTS} more alerts not shown"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": fallback_text(n), "blocks": blocks}


def send(
    http: httpx.Client, url: str, message: dict[str, Any], *, timeout_s: float, now: float
) -> SendResult:
    """POST the message to the webhook URL; Slack answers 200 ``ok``."""
    return post_json(http, url, message, timeout_s=timeout_s, now=now)
