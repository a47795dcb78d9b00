"""Tell people about a rollout that rolled back or paused, through the alert routes.

The event is recorded as an occurrence in the `alerts` table (kind ``rollout``, already
resolved, so the alert evaluator never touches it) and queued to the notifiers of the
first paging route its labels match, in the same transaction as the rollout's change.
The loop's paging step, which runs right after the rollouts in a tick, sends it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from prodloop.alerting.deliveries import enqueue
from prodloop.alerting.notifiers import AlertView, Notification, handles, render
from prodloop.alerting.paging import group_of, match_route
from prodloop.config import Config
from prodloop.store.schema import alert_paging, alerts


@dataclass(frozen=True, slots=True)
class RolloutNotice:
    """What happened to a rollout, in the words a notification needs."""

    alertname: str  # CanaryRolledBack | CanaryPaused
    service: str
    canary_version: str
    stable_version: str
    summary: str
    reason: dict[str, Any]


def notify_through_routes(
    conn: Connection, config: Config, notice: RolloutNotice, now: float
) -> int:
    """Record the notice as an alert occurrence and queue it to its route; the alert id."""
    severity = config.releases.notify_severity
    labels = {
        "alertname": notice.alertname,
        "service": notice.service,
        "severity": severity,
        "version": notice.canary_version,
        "stable_version": notice.stable_version,
    }
    fingerprint = hashlib.sha256(
        json.dumps(labels, sort_keys=True).encode() + str(now).encode()
    ).hexdigest()[:32]
    result = conn.execute(
        alerts.insert().values(
            fingerprint=fingerprint,
            alertname=notice.alertname,
            kind="rollout",
            severity=severity,
            service=notice.service,
            slo=None,
            labels=json.dumps(
                {"version": notice.canary_version, "stable_version": notice.stable_version}
            ),
            state="resolved",  # an event, not a condition: nothing will resolve it later
            active_at=now,
            fired_at=now,
            resolved_at=now,
            last_eval_at=now,
            value=None,
            threshold=0.0,
            summary=notice.summary,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    alert_id = int(key[0])
    paging = config.paging
    index = match_route(paging.routes, labels)
    notifiers = list(paging.routes[index].notifiers) if index is not None else []
    group_key, group_labels = (
        group_of(paging.routes[index], labels) if index is not None else ("", {})
    )
    conn.execute(
        alert_paging.insert().values(
            alert_id=alert_id,
            route=index,
            group_key=group_key,
            notified_at=now,
            last_notified_at=now,
            notifiers=json.dumps(notifiers),
            resolved_notified_at=now,  # so paging never announces a resolution of it
            escalation_cycle=0,
            updated_at=now,
        )
    )
    view = AlertView(
        id=alert_id,
        fingerprint=fingerprint,
        alertname=notice.alertname,
        service=notice.service,
        severity=severity,
        state="firing",  # shown as news, not as a resolution
        labels=labels,
        summary=notice.summary,
        value=None,
        threshold=0.0,
        started_at=now,
        dashboard_url=config.alerts.dashboard_url or None,
    )
    for name in notifiers:
        notifier = paging.notifiers.get(name)
        if notifier is None or not handles(notifier.kind, "firing"):
            continue
        notification = Notification(
            action="firing",
            receiver=name,
            group_key=group_key,
            group_labels=group_labels,
            alerts=(view,),
            dashboard_url=config.alerts.dashboard_url,
            public_url=paging.public_url,
            now=now,
        )
        for rendered in render(notifier.kind, notification):
            enqueue(
                conn,
                notifier=name,
                kind=notifier.kind,
                action="firing",
                rendered=rendered,
                group_key=group_key,
                recipients=(),
                now=now,
            )
    return alert_id
