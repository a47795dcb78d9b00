"""Evaluate every alert rule at `now` and keep alert state in the store.

Each rule reads its windows (all ending at `now`, read together, see `slo.counts`), the
state machine (`alerting.state`) moves its alert on, and every change is written to the
`alerts` table and returned as an `AlertTransition` for whoever pages people.

The `alerts` table holds one row per occurrence of an alert:

* a row is inserted when the condition first holds (state ``pending``, or ``firing`` at
  once when the rule's `for` is 0);
* ``pending`` → ``firing`` sets `fired_at`; a pending alert whose condition clears first
  is deleted (as Prometheus forgets it);
* ``firing`` → ``resolved`` sets `resolved_at`; the row stays as history and the next
  occurrence is a new row;
* every evaluation updates `last_eval_at`, `value` (never NaN; None without a reading)
  and, while the condition holds, `last_true_at`.

Because `active_at`, `fired_at` and `last_true_at` are stored, a restart neither
re-pends a firing alert nor loses a pending alert's timer. Evaluations are serialised
(a transaction-scoped advisory lock on PostgreSQL, the write lock on SQLite), so two
replicas never insert the same occurrence twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, select, text, update

from prodloop.alerting.rules import AlertRule, alert_rules, rule_windows
from prodloop.alerting.state import ACTIVE_STATES, INACTIVE, AlertState, State, step
from prodloop.config import Config
from prodloop.slo.counts import read_windows
from prodloop.slo.windows import trailing_window
from prodloop.store.schema import alerts
from prodloop.telemetry.rollups import Aggregate

# Any constant shared by every prodloop process works as the advisory lock's key.
_PG_LOCK_KEY = 0x70726F646C6F6F70  # "prodloop"


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """An alert changed state at `at`. `alert_id` is its row in the `alerts` table.

    inactive → pending | firing inserts the row; pending → inactive deletes it (the id is
    then gone); pending → firing and firing → resolved update it.
    """

    alert_id: int
    fingerprint: str
    alertname: str
    from_state: State
    to_state: State
    at: float
    value: float | None  # the rule's reading at `at` (burn rate, or indicator)
    threshold: float
    labels: dict[str, str]
    severity: str
    summary: str
    runbook_url: str | None
    dashboard_url: str

    @property
    def service(self) -> str:
        """The service the alert is about."""
        return self.labels["service"]

    @property
    def is_page(self) -> bool:
        """A page-severity alert that started firing."""
        return self.to_state == "firing" and self.severity == "page"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "alert_id": self.alert_id,
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "at": self.at,
            "value": self.value,
            "threshold": self.threshold,
            "labels": dict(self.labels),
            "severity": self.severity,
            "summary": self.summary,
            "runbook_url": self.runbook_url,
            "dashboard_url": self.dashboard_url,
        }


def evaluate_alerts(engine: Engine, config: Config, now: float) -> list[AlertTransition]:
    """Evaluate every rule at `now`, store the new states and return what changed."""
    lengths = sorted(rule_windows(config))
    starts = {length: trailing_window(now, length).start for length in lengths}
    with_latency = any(slo.kind == "latency" for slo in config.slos.objectives)
    by_start = read_windows(engine, list(starts.values()), now, with_latency=with_latency)
    by_length = {length: by_start[start] for length, start in starts.items()}
    seen = set().union(*by_length.values()) if by_length else set()
    with engine.begin() as conn:
        _serialise(conn)
        rows = {
            row.fingerprint: row
            for row in conn.execute(select(alerts).where(alerts.c.state.in_(ACTIVE_STATES)))
        }
        services = set(config.services) | seen | {row.service for row in rows.values()}
        rules = alert_rules(config, services)
        transitions = _apply(conn, config, now, rules, rows, by_length)
        transitions += _retire(conn, config, now, rows, {rule.fingerprint for rule in rules})
    return transitions


def _serialise(conn: Connection) -> None:
    """Take the lock that makes concurrent evaluations run one after the other."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        # A write that changes nothing still takes SQLite's write lock for the transaction.
        conn.execute(update(alerts).where(alerts.c.id < 0).values(state=alerts.c.state))


def _state_of(row: Any) -> AlertState:
    if row is None:
        return INACTIVE
    return AlertState(
        state=row.state,
        active_at=row.active_at,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        last_true_at=row.last_true_at,
        keep_firing_since=row.keep_firing_since,
    )


def _apply(
    conn: Connection,
    config: Config,
    now: float,
    rules: list[AlertRule],
    rows: dict[str, Any],
    by_length: dict[float, dict[str, Aggregate]],
) -> list[AlertTransition]:
    empty = Aggregate()
    min_requests = config.alerts.min_requests
    transitions: list[AlertTransition] = []
    unchanged: list[dict[str, Any]] = []
    for rule in rules:
        windows = {length: by_length[length].get(rule.service, empty) for length in rule.windows_s}
        reading = rule.read(windows, min_requests)
        row = rows.get(rule.fingerprint)
        current = _state_of(row)
        new = step(
            current,
            reading.is_true,
            now,
            for_s=rule.for_s,
            keep_firing_for_s=rule.keep_firing_for_s,
            no_data=config.alerts.no_data,
        )
        if new.state == current.state:
            if row is not None:
                unchanged.append(
                    {"k_id": row.id, "last_eval_at": now, "value": reading.value,
                     "last_true_at": new.last_true_at,
                     "keep_firing_since": new.keep_firing_since}
                )  # fmt: skip
            continue
        summary = rule.summary(reading.value)
        alert_id = _write(conn, rule, row, new, now, reading.value, summary)
        transitions.append(
            AlertTransition(
                alert_id=alert_id,
                fingerprint=rule.fingerprint,
                alertname=rule.alertname,
                from_state=current.state,
                to_state=new.state,
                at=now,
                value=reading.value,
                threshold=rule.threshold,
                labels=dict(rule.labels),
                severity=rule.severity,
                summary=summary,
                runbook_url=rule.runbook_url,
                dashboard_url=rule.dashboard_url,
            )
        )
    if unchanged:
        conn.execute(
            update(alerts)
            .where(alerts.c.id == bindparam("k_id"))
            .values(
                last_eval_at=bindparam("last_eval_at"),
                value=bindparam("value"),
                last_true_at=bindparam("last_true_at"),
                keep_firing_since=bindparam("keep_firing_since"),
            ),
            unchanged,
        )
    return transitions


def _write(
    conn: Connection,
    rule: AlertRule,
    row: Any,
    new: AlertState,
    now: float,
    value: float | None,
    summary: str,
) -> int:
    """Store a state change; the id of the alert's row."""
    if row is None:
        result = conn.execute(
            alerts.insert().values(
                fingerprint=rule.fingerprint,
                alertname=rule.alertname,
                kind=rule.kind,
                severity=rule.severity,
                service=rule.service,
                slo=rule.slo.name,
                labels=json.dumps(rule.labels, sort_keys=True),
                state=new.state,
                active_at=new.active_at,
                fired_at=new.fired_at,
                last_eval_at=now,
                last_true_at=new.last_true_at,
                value=value,
                threshold=rule.threshold,
                summary=summary,
                runbook_url=rule.runbook_url,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])
    alert_id = int(row.id)
    if new.state == "inactive":
        conn.execute(delete(alerts).where(alerts.c.id == alert_id))
        return alert_id
    conn.execute(
        update(alerts)
        .where(alerts.c.id == alert_id)
        .values(
            state=new.state,
            fired_at=new.fired_at,
            resolved_at=new.resolved_at,
            last_eval_at=now,
            last_true_at=new.last_true_at,
            keep_firing_since=new.keep_firing_since,
            value=value,
            summary=summary,
        )
    )
    return alert_id


def _retire(
    conn: Connection, config: Config, now: float, rows: dict[str, Any], fingerprints: set[str]
) -> list[AlertTransition]:
    """Resolve (or forget, if pending) active alerts whose rule the config no longer has."""
    transitions = []
    for fingerprint, row in rows.items():
        if fingerprint in fingerprints:
            continue
        to_state: State = "resolved" if row.state == "firing" else "inactive"
        if to_state == "inactive":
            conn.execute(delete(alerts).where(alerts.c.id == row.id))
        else:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == row.id)
                .values(state="resolved", resolved_at=now, last_eval_at=now, value=None)
            )
        labels: dict[str, str] = json.loads(row.labels or "{}")
        transitions.append(
            AlertTransition(
                alert_id=int(row.id),
                fingerprint=fingerprint,
                alertname=row.alertname,
                from_state=row.state,
                to_state=to_state,
                at=now,
                value=None,
                threshold=row.threshold,
                labels=labels,
                severity=row.severity,
                summary=f"{row.summary} (rule removed from the configuration)",
                runbook_url=row.runbook_url,
                dashboard_url=config.alerts.dashboard_url,
            )
        )
    return transitions
