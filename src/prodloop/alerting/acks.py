"""The alerts people act on: list them, acknowledge one, and signed acknowledge links.

A link is ``{alert_id}.{expires}.{signature}``, the signature an HMAC-SHA256 over the alert
id and the expiry with ``paging.signing_key``. Changing any part breaks the signature; a
link past its expiry is refused even when its signature holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.config import Paging, duration_s
from prodloop.errors import NotFoundError, ProdloopError, ValidationError
from prodloop.store.schema import alerts

ALERT_STATES = ("pending", "firing", "resolved")
ACTIVE_STATES = ("pending", "firing")


class AckLinkError(ProdloopError):
    """A signed acknowledge link that is malformed or was changed."""

    status_code = 403


class AckLinkExpiredError(ProdloopError):
    """A signed acknowledge link past its expiry."""

    status_code = 410


class AlertStateError(ProdloopError):
    """The alert is not in a state that allows this (acknowledging a resolved alert)."""

    status_code = 409


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One row of the `alerts` table: one occurrence of an alert."""

    id: int
    fingerprint: str
    alertname: str
    kind: str
    severity: str
    service: str
    slo: str | None
    labels: dict[str, str]
    state: str
    active_at: float
    fired_at: float | None
    resolved_at: float | None
    value: float | None
    threshold: float
    summary: str
    runbook_url: str | None
    acked_at: float | None
    acked_by: str | None

    @property
    def all_labels(self) -> dict[str, str]:
        """The labels routes and silences match on: alertname, service, severity, slo too."""
        base = {"alertname": self.alertname, "service": self.service, "severity": self.severity}
        if self.slo:
            base["slo"] = self.slo
        return {**base, **self.labels}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "kind": self.kind,
            "severity": self.severity,
            "service": self.service,
            "slo": self.slo,
            "labels": self.all_labels,
            "state": self.state,
            "active_at": self.active_at,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "value": self.value,
            "threshold": self.threshold,
            "summary": self.summary,
            "runbook_url": self.runbook_url,
            "acked_at": self.acked_at,
            "acked_by": self.acked_by,
        }


def alert_record(row: RowMapping) -> AlertRecord:
    """An AlertRecord from a row of `alerts` (labels decoded from JSON)."""
    try:
        labels = json.loads(row["labels"] or "{}")
    except ValueError:
        labels = {}
    return AlertRecord(
        id=int(row["id"]),
        fingerprint=row["fingerprint"],
        alertname=row["alertname"],
        kind=row["kind"],
        severity=row["severity"],
        service=row["service"],
        slo=row["slo"],
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        state=row["state"],
        active_at=float(row["active_at"]),
        fired_at=row["fired_at"],
        resolved_at=row["resolved_at"],
        value=row["value"],
        threshold=float(row["threshold"]),
        summary=row["summary"] or "",
        runbook_url=row["runbook_url"],
        acked_at=row["acked_at"],
        acked_by=row["acked_by"],
    )


def parse_states(text: str | None) -> tuple[str, ...]:
    """("pending", "firing") from "pending,firing"; "active" or nothing means those two."""
    if not text or text.strip() == "active":
        return ACTIVE_STATES
    if text.strip() == "all":
        return ALERT_STATES
    states = tuple(part.strip() for part in text.split(",") if part.strip())
    for state in states:
        if state not in ALERT_STATES:
            raise ValidationError(
                f"unknown state '{state}' (use {', '.join(ALERT_STATES)}, active or all)",
                field="state",
            )
    return states


def list_alerts(
    engine: Engine, states: Sequence[str] = ACTIVE_STATES, *, limit: int = 200
) -> list[AlertRecord]:
    """Alerts in the given states, the most recently active first."""
    query = (
        select(alerts)
        .where(alerts.c.state.in_(list(states)))
        .order_by(alerts.c.active_at.desc(), alerts.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [alert_record(row) for row in conn.execute(query).mappings()]


def get_alert(conn: Connection, alert_id: int) -> AlertRecord:
    """One alert by id, or NotFoundError naming it."""
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no alert {alert_id}", field="id")
    return alert_record(row)


@dataclass(frozen=True, slots=True)
class AckResult:
    """The alert after acknowledging, and whether someone had acknowledged it already."""

    alert: AlertRecord
    was_already_acked: bool

    def to_dict(self) -> dict[str, Any]:
        return {"alert": self.alert.to_dict(), "already_acknowledged": self.was_already_acked}


def check_actor(by: object, *, field: str = "by", doing: str = "acknowledges") -> str:
    """Who does something: a non-empty name of at most 128 characters."""
    name = by.strip() if isinstance(by, str) else ""
    if not name:
        raise ValidationError(f"say who {doing} (a name)", field=field)
    if len(name) > 128:
        raise ValidationError("at most 128 characters", field=field)
    return name


def acknowledge(engine: Engine, alert_id: int, by: str, now: float) -> AckResult:
    """Acknowledge a firing alert: escalation stops at the next loop tick.

    Acknowledging twice keeps the first acknowledgement. A pending or resolved alert
    cannot be acknowledged (AlertStateError, 409).
    """
    who = check_actor(by)
    with engine.begin() as conn:
        alert = get_alert(conn, alert_id)
        if alert.acked_at is not None:
            return AckResult(alert, was_already_acked=True)
        if alert.state != "firing":
            raise AlertStateError(
                f"alert {alert_id} is {alert.state}: only a firing alert can be acknowledged",
                field="id",
            )
        conn.execute(
            update(alerts)
            .where(and_(alerts.c.id == alert_id, alerts.c.acked_at.is_(None)))
            .values(acked_at=now, acked_by=who)
        )
        return AckResult(get_alert(conn, alert_id), was_already_acked=False)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature(alert_id: int, expires: int, key: str) -> str:
    message = f"ack:{alert_id}:{expires}".encode()
    return _b64(hmac.new(key.encode(), message, hashlib.sha256).digest())


def sign_ack_token(alert_id: int, expires_at: float, key: str) -> str:
    """A token that acknowledges `alert_id` until `expires_at`."""
    expires = math.ceil(expires_at)
    return f"{alert_id}.{expires}.{_signature(alert_id, expires, key)}"


def verify_ack_token(token: str, key: str, now: float) -> int:
    """The alert id a token acknowledges; AckLinkError or AckLinkExpiredError otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise AckLinkError("the acknowledge link is malformed", field="token")
    alert_id, expires = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2].encode(), _signature(alert_id, expires, key).encode()):
        raise AckLinkError(
            "the acknowledge link's signature does not match (was the link changed?)",
            field="token",
        )
    if now >= expires:
        when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise AckLinkExpiredError(
            f"the acknowledge link expired at {when}; acknowledge with "
            f"`prodloop alerts ack {alert_id} --by NAME`",
            field="token",
        )
    return alert_id


def signing_key(paging: Paging) -> str | None:
    """The key acknowledge links are signed with, when one is configured and set."""
    return paging.signing_key.get() if paging.signing_key is not None else None


def ack_link(paging: Paging, alert_id: int, now: float) -> str | None:
    """The signed acknowledge link for an alert, valid for ``paging.ack_link_ttl``."""
    key = signing_key(paging)
    if not key:
        return None
    token = sign_ack_token(alert_id, now + duration_s(paging.ack_link_ttl), key)
    return f"{paging.public_url.rstrip('/')}/ack/{token}"
