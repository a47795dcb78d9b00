"""The delivery log and retry queue: every notification attempt is recorded, none is lost.

A delivery is one body for one notifier. It is sent when due; a network error, a 5xx or
a 429 puts it back in the queue with exponential backoff (a 429's Retry-After wins);
any other 4xx, a missing secret, or running out of attempts marks it failed, counts it in
``prodloop_notification_failures_total`` and logs it, so a page is never dropped silently.
Sent and failed deliveries, and their attempts, are kept for ``paging.retention_days``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.alerting.notifiers import Rendered, SendResult, deliver
from prodloop.config import Paging, duration_s
from prodloop.errors import NotFoundError, ValidationError
from prodloop.store.schema import notification_attempts, notification_deliveries
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.rollups import DAY_S

log = logging.getLogger("prodloop.alerts")

DeliveryState = Literal["pending", "sent", "failed"]
DELIVERY_STATES: tuple[DeliveryState, ...] = ("pending", "sent", "failed")
Outcome = Literal["sent", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification to one notifier, and where it stands."""

    id: int
    notifier: str
    kind: str
    action: str
    alert_id: int
    alert_ids: tuple[int, ...]
    group_key: str
    recipients: tuple[str, ...]
    state: str
    attempts: int
    created_at: float
    next_attempt_at: float | None
    last_attempt_at: float | None
    last_status: int | None
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "notifier": self.notifier,
            "kind": self.kind,
            "action": self.action,
            "alert_id": self.alert_id,
            "alert_ids": list(self.alert_ids),
            "group_key": self.group_key,
            "recipients": list(self.recipients),
            "state": self.state,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "next_attempt_at": self.next_attempt_at,
            "last_attempt_at": self.last_attempt_at,
            "last_status": self.last_status,
            "last_error": self.last_error,
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at sending a delivery: the delivery log's line."""

    id: int
    delivery_id: int
    notifier: str
    alert_id: int
    action: str
    attempt: int
    at: float
    status_code: int | None
    error: str | None
    outcome: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery_id": self.delivery_id,
            "notifier": self.notifier,
            "alert_id": self.alert_id,
            "action": self.action,
            "attempt": self.attempt,
            "at": self.at,
            "status_code": self.status_code,
            "error": self.error,
            "outcome": self.outcome,
        }


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one pass over the due deliveries did."""

    attempted: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class NextStep:
    """Where a delivery goes after an attempt."""

    state: DeliveryState
    outcome: Outcome
    next_attempt_at: float | None


def backoff_s(attempt: int, paging: Paging) -> float:
    """Wait after failed attempt number `attempt` (1-based): doubling, capped."""
    first = duration_s(paging.retry_backoff)
    cap = duration_s(paging.retry_max_backoff)
    return float(min(cap, first * 2 ** max(0, attempt - 1)))


def next_step(
    result: SendResult, *, attempt: int, max_attempts: int, paging: Paging, now: float
) -> NextStep:
    """Sent, retried later (backoff, or the 429's Retry-After), or failed for good."""
    if result.is_sent:
        return NextStep("sent", "sent", None)
    if not result.is_retryable or attempt >= max_attempts:
        return NextStep("failed", "failed", None)
    wait = result.retry_after_s if result.retry_after_s is not None else backoff_s(attempt, paging)
    return NextStep("pending", "retry", now + wait)


def enqueue(
    conn: Connection,
    *,
    notifier: str,
    kind: str,
    action: str,
    rendered: Rendered,
    group_key: str,
    recipients: Sequence[str],
    now: float,
) -> int:
    """Queue one body for `notifier`, due now; returns the delivery id."""
    result = conn.execute(
        insert(notification_deliveries).values(
            notifier=notifier,
            kind=kind,
            action=action,
            alert_id=rendered.alert_ids[0],
            alert_ids=json.dumps(list(rendered.alert_ids)),
            group_key=group_key,
            recipients=",".join(recipients),
            payload=json.dumps(rendered.payload, ensure_ascii=False, sort_keys=True),
            state="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _claim(conn: Connection, row: RowMapping, now: float) -> bool:
    # Another replica may be sending the same delivery: only one update wins the attempt.
    claimed = conn.execute(
        update(notification_deliveries)
        .where(
            and_(
                notification_deliveries.c.id == row["id"],
                notification_deliveries.c.state == "pending",
                notification_deliveries.c.attempts == row["attempts"],
            )
        )
        .values(attempts=row["attempts"] + 1, last_attempt_at=now)
    )
    return claimed.rowcount == 1


def _record(
    engine: Engine,
    row: RowMapping,
    attempt: int,
    result: SendResult,
    step: NextStep,
    now: float,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(notification_deliveries)
            .where(notification_deliveries.c.id == row["id"])
            .values(
                state=step.state,
                next_attempt_at=step.next_attempt_at,
                last_status=result.status_code,
                last_error=result.error,
            )
        )
        conn.execute(
            insert(notification_attempts).values(
                delivery_id=row["id"],
                notifier=row["notifier"],
                alert_id=row["alert_id"],
                action=row["action"],
                attempt=attempt,
                at=now,
                status_code=result.status_code,
                error=result.error,
                outcome=step.outcome,
            )
        )


def _due(now: float) -> Any:
    table = notification_deliveries
    return and_(table.c.state == "pending", table.c.next_attempt_at <= now)


def has_due(engine: Engine, now: float) -> bool:
    """Whether any delivery is due at `now` (so a caller opens an HTTP client only then)."""
    with engine.connect() as conn:
        found = conn.execute(select(notification_deliveries.c.id).where(_due(now)).limit(1)).first()
    return found is not None


def send_due(
    engine: Engine,
    paging: Paging,
    now: float,
    http: httpx.Client,
    *,
    metrics: Metrics | None = None,
    limit: int = 200,
) -> DeliveryReport:
    """Attempt every delivery due at `now`, oldest first, and record each attempt."""
    with engine.connect() as conn:
        due = (
            conn.execute(
                select(notification_deliveries)
                .where(_due(now))
                .order_by(notification_deliveries.c.next_attempt_at, notification_deliveries.c.id)
                .limit(limit)
            )
            .mappings()
            .all()
        )
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for row in due:
        with engine.begin() as conn:
            if not _claim(conn, row, now):
                continue
        attempt = int(row["attempts"]) + 1
        notifier = paging.notifiers.get(row["notifier"])
        if notifier is None:
            result = SendResult(
                None, f"notifier '{row['notifier']}' is no longer configured", is_permanent=True
            )
            max_attempts = attempt
        else:
            payload = json.loads(row["payload"])
            result = deliver(http, notifier, payload, timeout_s=paging.http_timeout_s, now=now)
            max_attempts = notifier.max_attempts
        step = next_step(result, attempt=attempt, max_attempts=max_attempts, paging=paging, now=now)
        _record(engine, row, attempt, result, step, now)
        counts[step.outcome] += 1
        if step.state == "failed":
            log.error(
                "notification %s (%s, alert %s) to '%s' failed after %d attempt(s): %s",
                row["id"],
                row["action"],
                row["alert_id"],
                row["notifier"],
                attempt,
                result.error,
            )
            if metrics is not None:
                metrics.record_notification_failure(row["notifier"])
    return DeliveryReport(
        attempted=sum(counts.values()),
        sent=counts["sent"],
        retrying=counts["retry"],
        failed=counts["failed"],
    )


def _delivery(row: RowMapping) -> Delivery:
    recipients = str(row["recipients"] or "")
    return Delivery(
        id=int(row["id"]),
        notifier=row["notifier"],
        kind=row["kind"],
        action=row["action"],
        alert_id=int(row["alert_id"]),
        alert_ids=tuple(int(i) for i in json.loads(row["alert_ids"] or "[]")),
        group_key=row["group_key"],
        recipients=tuple(r for r in recipients.split(",") if r),
        state=row["state"],
        attempts=int(row["attempts"]),
        created_at=float(row["created_at"]),
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        last_status=row["last_status"],
        last_error=row["last_error"],
    )


def list_deliveries(
    engine: Engine,
    *,
    state: str | None = None,
    alert_id: int | None = None,
    notifier: str | None = None,
    since: float | None = None,
    limit: int = 100,
) -> list[Delivery]:
    """Deliveries, newest first, filtered by state, alert, notifier and creation time."""
    if state is not None and state not in DELIVERY_STATES:
        raise ValidationError(
            f"unknown state '{state}' (use {', '.join(DELIVERY_STATES)})", field="state"
        )
    if limit < 1:
        raise ValidationError("must be at least 1", field="limit")
    table = notification_deliveries
    query = select(table).order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(table.c.state == state)
    if alert_id is not None:
        query = query.where(table.c.alert_id == alert_id)
    if notifier is not None:
        query = query.where(table.c.notifier == notifier)
    if since is not None:
        query = query.where(table.c.created_at >= since)
    with engine.connect() as conn:
        return [_delivery(row) for row in conn.execute(query).mappings()]


def list_attempts(
    engine: Engine,
    *,
    delivery_ids: Sequence[int] | None = None,
    alert_id: int | None = None,
    limit: int = 500,
) -> list[Attempt]:
    """Attempts in the order they were made, for some deliveries or one alert."""
    table = notification_attempts
    query = select(table).order_by(table.c.at, table.c.id).limit(limit)
    if delivery_ids is not None:
        query = query.where(table.c.delivery_id.in_(list(delivery_ids)))
    if alert_id is not None:
        query = query.where(table.c.alert_id == alert_id)
    with engine.connect() as conn:
        return [
            Attempt(
                id=int(row["id"]),
                delivery_id=int(row["delivery_id"]),
                notifier=row["notifier"],
                alert_id=int(row["alert_id"]),
                action=row["action"],
                attempt=int(row["attempt"]),
                at=float(row["at"]),
                status_code=row["status_code"],
                error=row["error"],
                outcome=row["outcome"],
            )
            for row in conn.execute(query).mappings()
        ]


def delivery_payload(engine: Engine, delivery_id: int) -> dict[str, Any]:
    """The stored body of a delivery (no secrets: those are added when it is sent)."""
    with engine.connect() as conn:
        text = conn.execute(
            select(notification_deliveries.c.payload).where(
                notification_deliveries.c.id == delivery_id
            )
        ).scalar_one_or_none()
    if text is None:
        raise NotFoundError(f"no delivery {delivery_id}", field="id")
    payload: dict[str, Any] = json.loads(text)
    return payload


def failed_notifications(
    engine: Engine, now: float, alert_ids: Sequence[int] = (), *, window_s: float = 86_400.0
) -> list[Delivery]:
    """Deliveries given up on in the last `window_s`, and any for the given alerts."""
    table = notification_deliveries
    recent = table.c.created_at >= now - window_s
    condition = or_(recent, table.c.alert_id.in_(list(alert_ids))) if alert_ids else recent
    query = (
        select(table)
        .where(and_(table.c.state == "failed", condition))
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(200)
    )
    with engine.connect() as conn:
        return [_delivery(row) for row in conn.execute(query).mappings()]


def prune_deliveries(engine: Engine, paging: Paging, now: float) -> int:
    """Delete sent and failed deliveries whose last attempt is older than
    ``paging.retention_days``, with their attempts; how many deliveries went.

    Pending deliveries stay whatever their age: they are still owed a send.
    """
    cutoff = now - paging.retention_days * DAY_S
    table = notification_deliveries
    expired = and_(
        table.c.state.in_(("sent", "failed")),
        table.c.created_at < cutoff,  # the indexed bound; a delivery is tried after it is made
        or_(table.c.last_attempt_at.is_(None), table.c.last_attempt_at < cutoff),
    )
    with engine.begin() as conn:
        conn.execute(
            delete(notification_attempts).where(
                notification_attempts.c.delivery_id.in_(select(table.c.id).where(expired))
            )
        )
        result = conn.execute(delete(table).where(expired))
    return int(result.rowcount)
