"""Posting a review's summary to the paging notifiers in ``reviews.notifiers``.

Summaries go through the paging delivery queue, as support notices do, so they are
retried and logged like a page and the same loop tick's paging run sends them. Slack gets
a Block Kit message; webhooks and the console get the alert shape they already read.
PagerDuty is left out: a check-in is not a page.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from prodloop.alerting.deliveries import enqueue
from prodloop.alerting.notifiers import AlertView, Notification, Rendered, render
from prodloop.alerting.notifiers.slack import escape
from prodloop.config import Config

NO_ALERT = 0  # a summary is about a period, not an alert: its group key says which
SECTION_CHARS = 2900


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_summary(title: str, lines: Sequence[str], footer: str) -> dict[str, object]:
    """A Block Kit message: a header, the figures as a bulleted section, a footer."""
    body = "\n".join(f"• {escape(line)}" for line in lines) or "Nothing to report."
    return {
        "text": _cut(escape(title), 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(title, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, SECTION_CHARS)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(footer)}]},
        ],
    }


def _rendered(
    config: Config, name: str, kind: str, alertname: str, key: str, title: str,
    lines: Sequence[str], footer: str, now: float,
) -> list[Rendered]:  # fmt: skip
    if kind == "slack":
        return [Rendered((NO_ALERT,), slack_summary(title, lines, footer))]
    labels = {"alertname": alertname, "service": "prodloop", "severity": "info", "period": key}
    view = AlertView(
        id=NO_ALERT,
        fingerprint=f"{alertname}-{key}",
        alertname=alertname,
        service="prodloop",
        severity="info",
        state="firing",
        labels=labels,
        summary=_cut(title + "\n" + "\n".join(lines), 4000),
        value=None,
        threshold=0.0,
        started_at=now,
        dashboard_url=config.alerts.dashboard_url or None,
    )
    notification = Notification(
        action="firing",
        receiver=name,
        group_key=f"{alertname}:{key}",
        group_labels={"alertname": alertname, "period": key},
        alerts=(view,),
        dashboard_url=config.alerts.dashboard_url,
        public_url=config.paging.public_url,
        now=now,
    )
    return render(kind, notification)


def queue_summary(
    conn: Connection,
    config: Config,
    *,
    alertname: str,
    key: str,
    title: str,
    lines: Sequence[str],
    footer: str,
    now: float,
) -> list[str]:
    """Queue the summary for every notifier of ``reviews.notifiers``; the notifiers queued."""
    queued = []
    for name in config.reviews.notifiers:
        notifier = config.paging.notifiers.get(name)
        if notifier is None or notifier.kind == "pagerduty":
            continue
        for rendered in _rendered(config, name, notifier.kind, alertname, key, title, lines,
                                  footer, now):  # fmt: skip
            enqueue(conn, notifier=name, kind=notifier.kind, action="review",
                    rendered=rendered, group_key=f"{alertname}:{key}", recipients=(),
                    now=now)  # fmt: skip
        queued.append(name)
    return queued
