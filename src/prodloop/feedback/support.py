"""The support pipeline: feedback flagged for support is told to the support channel.

Feedback is flagged when the request it is about failed or tripped a guardrail and the
user reported a bug (a category in ``feedback.support.categories``) or gave a thumbs
down with a comment. Each flagged item is queued once, to every notifier in
``feedback.support.notifiers``, through the paging delivery queue, so a support notice
is retried and logged like a page; ``support_notified_at`` marks it as told. Slack gets a
message of its own; the other channels get the alert shape they already understand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from prodloop.alerting.deliveries import enqueue
from prodloop.alerting.notifiers import AlertView, Notification, Rendered, render
from prodloop.alerting.notifiers.slack import escape
from prodloop.config import Config
from prodloop.feedback.items import FeedbackItem, feedback_item
from prodloop.store.schema import feedback

ALERTNAME = "FeedbackForSupport"
ACTION = "support"
NO_ALERT = 0  # a support notice is about feedback, not an alert: its group key says which
COMMENT_CHARS = 2500


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def summary_line(item: FeedbackItem) -> str:
    """The notice in one line: ``chat v2: bug report on a failed request (status 502)``."""
    where = " ".join(x for x in (item.service, item.version) if x) or "unknown service"
    return f"{where}: {item.support_reason or 'flagged for support'}"


def _field(name: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(f"*{name}*\n{escape(value)}", 2000)}


def slack_message(item: FeedbackItem) -> dict[str, Any]:
    """A Block Kit message: what the user said (escaped: it is their text) and where."""
    comment = item.comment.strip() or "(no comment)"
    quoted = "\n".join("> " + line for line in escape(_cut(comment, COMMENT_CHARS)).splitlines())
    fields = [
        _field("Service", item.service or "-"),
        _field("Version", item.version or "-"),
        _field("Rating", item.rating_text),
        _field("Category", item.category or "-"),
        _field("Trace", item.trace_id or "-"),
        _field("Received", _when(item.created_at)),
    ]
    if item.user_id or item.email:
        fields.append(_field("User", item.email or item.user_id or ""))
    headline = f"Feedback #{item.id} for support: {summary_line(item)}"
    return {
        "text": _cut(escape(headline), 3000),
        "blocks": [
            {"type": "header",
             "text": {"type": "plain_text", "text": _cut(f":speech_balloon: {headline}", 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(quoted, 3000)},
             "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(
                f"Triage with `prodloop feedback show {item.id}`")}]},
        ],
    }  # fmt: skip


def _alert_view(config: Config, item: FeedbackItem) -> AlertView:
    labels = {
        "alertname": ALERTNAME,
        "service": item.service or "unknown",
        "severity": "ticket",
        "feedback_id": str(item.id),
    }
    if item.version:
        labels["version"] = item.version
    return AlertView(
        id=NO_ALERT,
        fingerprint=f"feedback-{item.id}",
        alertname=ALERTNAME,
        service=item.service or "unknown",
        severity="ticket",
        state="firing",
        labels=labels,
        summary=_cut(f"{summary_line(item)} — “{item.comment.strip()}”", 1000),
        value=None,
        threshold=0.0,
        started_at=item.created_at,
        dashboard_url=config.alerts.dashboard_url or None,
    )


def render_notice(config: Config, receiver: str, kind: str, item: FeedbackItem, now: float
                  ) -> list[Rendered]:  # fmt: skip
    """The bodies a support notice becomes on a channel of `kind`."""
    if kind == "slack":
        return [Rendered((NO_ALERT,), slack_message(item))]
    notification = Notification(
        action="firing",
        receiver=receiver,
        group_key=f"feedback:{item.id}",
        group_labels={"alertname": ALERTNAME, "feedback_id": str(item.id)},
        alerts=(_alert_view(config, item),),
        dashboard_url=config.alerts.dashboard_url,
        public_url=config.paging.public_url,
        now=now,
    )
    return render(kind, notification)


def queue_support_notices(conn: Connection, config: Config, now: float, *, since: float) -> int:
    """Queue a notice for each flagged, untold item created since `since`; how many items."""
    names = [n for n in config.feedback.support.notifiers if n in config.paging.notifiers]
    if not names:
        return 0
    rows = conn.execute(
        select(feedback)
        .where(
            and_(
                feedback.c.is_support.is_(True),
                feedback.c.support_notified_at.is_(None),
                feedback.c.created_at >= since,
            )
        )
        .order_by(feedback.c.created_at, feedback.c.id)
        .limit(200)
    ).mappings()
    told = 0
    for row in list(rows):
        item = feedback_item(row)
        # Only the replica whose update wins queues the notice, so it is sent once.
        claimed = conn.execute(
            update(feedback)
            .where(and_(feedback.c.id == item.id, feedback.c.support_notified_at.is_(None)))
            .values(support_notified_at=now)
        )
        if claimed.rowcount != 1:
            continue
        for name in names:
            notifier = config.paging.notifiers[name]
            for rendered in render_notice(config, name, notifier.kind, item, now):
                enqueue(conn, notifier=name, kind=notifier.kind, action=ACTION,
                        rendered=rendered, group_key=f"feedback:{item.id}", recipients=(),
                        now=now)  # fmt: skip
        told += 1
    return told
