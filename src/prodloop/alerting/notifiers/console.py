"""The console notifier: one log line per message, for local runs and as a last resort."""

from __future__ import annotations

import logging

from prodloop.alerting.notifiers.base import Notification, SendResult, format_value

log = logging.getLogger("prodloop.alerts")

WORDS = {
    "firing": "FIRING",
    "repeat": "STILL FIRING",
    "escalation": "ESCALATED",
    "acknowledged": "ACKNOWLEDGED",
    "resolved": "RESOLVED",
}


def format_line(n: Notification) -> str:
    """``FIRING alert #3 error-rate on chat: 5.20 % > 3.00 % …`` for every alert."""
    parts = []
    for alert in n.alerts:
        text = f"{WORDS[n.action]} alert #{alert.id} {alert.title}: "
        if n.action == "resolved":
            text += f"last value {format_value(alert.value, alert.unit)}"
        else:
            text += alert.condition
        if alert.acked_by and n.action == "acknowledged":
            text += f" by {alert.acked_by}"
        if alert.runbook_url:
            text += f" runbook={alert.runbook_url}"
        parts.append(text)
    line = "; ".join(parts)
    if n.escalation_level is not None:
        line += f" (escalation level {n.escalation_level})"
    if n.paged:
        line += " paging " + ", ".join(n.paged)
    return line


def send(line: str) -> SendResult:
    """Write the line to the log; always delivered."""
    log.warning("%s", line)
    return SendResult(None)
