"""run_paging: turn the `alerts` table into pages, once per loop tick.

For every firing alert: the first route whose `match` its labels carry takes it; a
silence holds it back (recorded, not sent); otherwise its group (the route's `group_by`
labels) is paged to the route's notifiers and to the notifiers of the people on call at
level 0 of the route's escalation policy. Unacknowledged alerts escalate level by level
and repeat every `repeat_interval`; an acknowledgement stops both and tells PagerDuty and
Slack; a resolved alert is announced (PagerDuty always hears it, to close its incident).
Every decision is written to `alert_paging` in the same transaction as the deliveries it
queues, so a restart neither pages twice nor forgets a timer. Then due deliveries are sent,
and sent or failed ones older than `paging.retention_days` are deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.alerting.acks import AlertRecord, ack_link, alert_record
from prodloop.alerting.deliveries import (
    DeliveryReport,
    enqueue,
    has_due,
    prune_deliveries,
    send_due,
)
from prodloop.alerting.escalation import EscalationState, advance_escalation, start_escalation
from prodloop.alerting.notifiers import (
    PAGE_ACTIONS,
    Action,
    AlertView,
    Notification,
    Unit,
    handles,
    render,
)
from prodloop.alerting.notifiers.webhook import group_key as make_group_key
from prodloop.alerting.oncall import resolve_targets
from prodloop.alerting.rules import dashboard_url
from prodloop.alerting.runbook_links import covering_runbook_link
from prodloop.alerting.silences import active_silences, silencing
from prodloop.config import Config, EscalationPolicy, Paging, Route, duration_s
from prodloop.store.schema import alert_paging, alerts
from prodloop.telemetry.metrics import Metrics

log = logging.getLogger("prodloop.alerts")

_UNITS: dict[str, Unit] = {"latency": "ms", "ratio": "ratio", "rate": "ratio", "average": "usd"}


@dataclass(frozen=True, slots=True)
class PagingReport:
    """What one run of paging did."""

    paged: int = 0  # alerts whose first page was queued
    silenced: int = 0  # alerts newly held back by a silence
    unrouted: int = 0  # alerts no route matched (logged)
    repeated: int = 0
    escalated: int = 0
    acknowledged: int = 0
    resolved: int = 0
    deliveries: DeliveryReport = field(default_factory=DeliveryReport)
    pruned_deliveries: int = 0  # sent or failed deliveries past paging.retention_days


@dataclass
class _Message:
    """One notification about some alerts, before it is rendered per notifier."""

    action: Action
    group_key: str
    group_labels: dict[str, str]
    notifiers: list[str]
    people: list[str] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)
    escalation_level: int | None = None


@dataclass
class _Plan:
    messages: list[_Message] = field(default_factory=list)
    groups: dict[tuple[Any, ...], _Message] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("paged", "silenced", "unrouted", "repeated", "escalated", "acknowledged", "resolved"),
            0,
        )
    )

    def add(self, key: tuple[Any, ...], make: _Message, alert: AlertRecord) -> _Message:
        message = self.groups.get(key)
        if message is None:
            message = self.groups[key] = make
            self.messages.append(message)
        message.alerts.append(alert)
        return message


def match_route(routes: Sequence[Route], labels: Mapping[str, str]) -> int | None:
    """Index of the first route whose every `match` label the alert has; None if none does."""
    for i, route in enumerate(routes):
        if all(labels.get(name) == value for name, value in route.match.items()):
            return i
    return None


def group_of(route: Route, labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The group key and group labels of an alert under a route."""
    group_labels = {name: labels[name] for name in route.group_by if name in labels}
    return make_group_key(route.match, group_labels), group_labels


def unit_for(config: Config, alert: AlertRecord) -> Unit:
    """The unit an alert's value is shown in, from its SLO's kind."""
    if alert.kind == "burn_rate":
        return "burn"
    for slo in config.slos.objectives:
        if slo.name == alert.slo:
            return _UNITS.get(slo.kind, "")
    return ""


def _dashboard(config: Config, alert: AlertRecord) -> str:
    for slo in config.slos.objectives:
        if slo.name == alert.slo:
            return dashboard_url(config, alert.service, slo)
    return config.alerts.dashboard_url


def alert_runbook_url(config: Config, alert: AlertRecord) -> str | None:
    """The runbook covering the alert in alerts.runbooks_dir, else its SLO's runbook link."""
    settings = config.alerts
    return covering_runbook_link(
        alert.all_labels, settings.runbooks_dir, settings.runbook_base_url, alert.runbook_url
    )


def alert_view(config: Config, alert: AlertRecord, now: float, *, with_ack_link: bool) -> AlertView:
    """How notifications show an alert; a signed acknowledge link when asked and possible."""
    is_ackable = with_ack_link and alert.state == "firing" and alert.acked_at is None
    return AlertView(
        id=alert.id,
        fingerprint=alert.fingerprint,
        alertname=alert.alertname,
        service=alert.service,
        severity=alert.severity,
        state=alert.state,
        labels=alert.all_labels,
        summary=alert.summary,
        value=alert.value,
        threshold=alert.threshold,
        started_at=alert.fired_at if alert.fired_at is not None else alert.active_at,
        slo=alert.slo,
        unit=unit_for(config, alert),
        runbook_url=alert_runbook_url(config, alert),
        dashboard_url=_dashboard(config, alert),
        resolved_at=alert.resolved_at,
        acked_at=alert.acked_at,
        acked_by=alert.acked_by,
        ack_url=ack_link(config.paging, alert.id, now) if is_ackable else None,
    )


def _union(*lists: Iterable[str]) -> list[str]:
    out: list[str] = []
    for names in lists:
        out.extend(name for name in names if name not in out)
    return out


def _people_notifiers(paging: Paging, people: Sequence[str]) -> list[str]:
    return _union(*(paging.people[person].notify for person in people))


def _policy(paging: Paging, route: Route | None) -> EscalationPolicy | None:
    if route is None or route.escalation_policy is None:
        return None
    return paging.escalation_policies.get(route.escalation_policy)


def _route(paging: Paging, index: int | None) -> Route | None:
    if index is None or not 0 <= index < len(paging.routes):
        return None  # the config changed since the alert was routed
    return paging.routes[index]


def _insert_paging_row(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert the alert's paging row unless one exists (another replica got there first)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(alert_paging)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["alert_id"])
        .returning(alert_paging.c.alert_id)  # rowcount is unreliable for INSERT
    )
    return conn.execute(statement).first() is not None


def _update_paging_row(
    conn: Connection, alert_id: int, values: Mapping[str, Any], *, unless_changed: Any = None
) -> bool:
    """Update the alert's paging row; with `unless_changed`, only if that still holds."""
    condition = alert_paging.c.alert_id == alert_id
    if unless_changed is not None:
        condition = and_(condition, unless_changed)
    result = conn.execute(update(alert_paging).where(condition).values(**values))
    return result.rowcount == 1


def _load(conn: Connection) -> list[tuple[AlertRecord, RowMapping | None]]:
    paging_columns = [column.label(f"p_{column.name}") for column in alert_paging.c]
    query = (
        select(alerts, *paging_columns)
        .select_from(alerts.outerjoin(alert_paging, alert_paging.c.alert_id == alerts.c.id))
        .where(
            or_(
                alerts.c.state == "firing",
                and_(
                    alerts.c.state == "resolved",
                    alert_paging.c.alert_id.is_not(None),
                    alert_paging.c.resolved_notified_at.is_(None),
                ),
            )
        )
        .order_by(alerts.c.id)
    )
    loaded: list[tuple[AlertRecord, RowMapping | None]] = []
    for row in conn.execute(query).mappings():
        paging_row = row if row["p_alert_id"] is not None else None
        loaded.append((alert_record(row), paging_row))
    return loaded


class _Planner:
    """Decides, for one tick, what every alert needs, and records it as it goes."""

    def __init__(self, conn: Connection, config: Config, now: float) -> None:
        self.conn = conn
        self.config = config
        self.paging = config.paging
        self.now = now
        self.plan = _Plan()
        self.silences = active_silences(conn, now)
        # Alerts paged for the first time this tick, with their route, settled at the end.
        self.first_pages: list[tuple[AlertRecord, int]] = []

    def run(self) -> _Plan:
        for alert, row in _load(self.conn):
            if alert.state == "resolved":
                assert row is not None
                self._resolved(alert, row)
            elif row is None or row["p_notified_at"] is None:
                self._not_yet_paged(alert, row)
            else:
                self._paged_and_firing(alert, row)
        self._settle_first_pages()
        return self.plan

    def _not_yet_paged(self, alert: AlertRecord, row: RowMapping | None) -> None:
        labels = alert.all_labels
        index = match_route(self.paging.routes, labels)
        base = {"alert_id": alert.id, "notifiers": "[]", "escalation_cycle": 0}
        if index is None:
            if row is None and _insert_paging_row(
                self.conn, {**base, "route": None, "updated_at": self.now}
            ):
                self.plan.counts["unrouted"] += 1
                log.warning("alert %s (%s) matches no route: nobody is paged", alert.id, labels)
            return
        group_key, _ = group_of(self.paging.routes[index], labels)
        silence = silencing(self.silences, labels)
        values = {"route": index, "group_key": group_key, "updated_at": self.now}
        if silence is not None:
            if row is None:
                if _insert_paging_row(self.conn, {**base, **values, "silenced_by": silence.id}):
                    self.plan.counts["silenced"] += 1
            elif row["p_silenced_by"] != silence.id:
                _update_paging_row(self.conn, alert.id, {**values, "silenced_by": silence.id})
            return
        if row is None:
            claimed = _insert_paging_row(self.conn, {**base, **values, "notified_at": self.now})
        else:
            claimed = _update_paging_row(
                self.conn,
                alert.id,
                {**values, "notified_at": self.now},
                unless_changed=alert_paging.c.notified_at.is_(None),
            )
        if claimed:
            self.first_pages.append((alert, index))

    def _settle_first_pages(self) -> None:
        for alert, index in self.first_pages:
            route = self.paging.routes[index]
            group_key, group_labels = group_of(route, alert.all_labels)
            policy = _policy(self.paging, route)
            people = (
                resolve_targets(self.paging, policy.levels[0].targets, self.now) if policy else []
            )
            notifiers = _union(route.notifiers, _people_notifiers(self.paging, people))
            make = _Message("firing", group_key, group_labels, notifiers, people)
            self.plan.add(("firing", index, group_key), make, alert)
            escalation = start_escalation(policy, self.now) if policy else None
            stopped = "exhausted" if escalation and escalation.is_exhausted else None
            if alert.acked_at is not None:
                # acknowledged while a silence held it back: announce it, escalate nobody
                escalation = None
                stopped = "acknowledged" if policy else None
            _update_paging_row(
                self.conn,
                alert.id,
                {
                    "last_notified_at": self.now,
                    "silenced_by": None,
                    "notifiers": json.dumps(notifiers),
                    "acked_notified_at": self.now if alert.acked_at is not None else None,
                    "escalation_policy": route.escalation_policy if policy else None,
                    "escalation_level": 0 if policy else None,
                    "escalation_cycle": 0,
                    "next_escalation_at": escalation.next_at if escalation else None,
                    "escalation_stopped": stopped,
                },
            )
            self.plan.counts["paged"] += 1

    def _paged_and_firing(self, alert: AlertRecord, row: RowMapping) -> None:
        notified = json.loads(row["p_notifiers"] or "[]")
        if alert.acked_at is not None:
            if row["p_acked_notified_at"] is None:
                self._acknowledged(alert, row, notified)
            return
        if silencing(self.silences, alert.all_labels) is not None:
            return  # muted: no repeat and no escalation while the silence lasts
        # Escalation pages people; repeats remind the route's channels. Both run.
        self._escalate(alert, row, notified)
        route = _route(self.paging, row["p_route"])
        if route is None or not route.notifiers or row["p_last_notified_at"] is None:
            return
        if row["p_last_notified_at"] + duration_s(route.repeat_interval) > self.now:
            return
        if _update_paging_row(
            self.conn,
            alert.id,
            {"last_notified_at": self.now, "updated_at": self.now},
            unless_changed=alert_paging.c.last_notified_at == row["p_last_notified_at"],
        ):
            group_key, group_labels = group_of(route, alert.all_labels)
            make = _Message("repeat", group_key, group_labels, list(route.notifiers))
            self.plan.add(("repeat", row["p_route"], group_key), make, alert)
            self.plan.counts["repeated"] += 1

    def _escalate(self, alert: AlertRecord, row: RowMapping, notified: list[str]) -> None:
        due_at = row["p_next_escalation_at"]
        policy = self.paging.escalation_policies.get(row["p_escalation_policy"] or "")
        if due_at is None or due_at > self.now or policy is None:
            return
        state = EscalationState(
            int(row["p_escalation_level"] or 0), int(row["p_escalation_cycle"] or 0), due_at
        )
        state, level = advance_escalation(policy, state, self.now)
        people = (
            resolve_targets(self.paging, policy.levels[level].targets, self.now)
            if level is not None
            else []
        )
        names = _people_notifiers(self.paging, people)
        values: dict[str, Any] = {
            "escalation_level": state.level,
            "escalation_cycle": state.cycle,
            "next_escalation_at": state.next_at,
            "escalation_stopped": "exhausted" if state.is_exhausted else None,
            "notifiers": json.dumps(_union(notified, names)),
            "updated_at": self.now,
        }
        claimed = _update_paging_row(
            self.conn,
            alert.id,
            values,
            unless_changed=alert_paging.c.next_escalation_at == due_at,
        )
        if not claimed or level is None:
            return  # another replica escalated it, or the policy is exhausted
        group_labels = self._group_labels(alert, row)
        make = _Message(
            "escalation",
            row["p_group_key"],
            group_labels,
            names,
            people,
            escalation_level=level + 1,
        )
        self.plan.add(("escalation", alert.id), make, alert)
        self.plan.counts["escalated"] += 1

    def _group_labels(self, alert: AlertRecord, row: RowMapping) -> dict[str, str]:
        route = _route(self.paging, row["p_route"])
        return group_of(route, alert.all_labels)[1] if route is not None else {}

    def _acknowledged(self, alert: AlertRecord, row: RowMapping, notified: list[str]) -> None:
        stopped = row["p_escalation_stopped"] or (
            "acknowledged" if row["p_escalation_policy"] else None
        )
        if _update_paging_row(
            self.conn,
            alert.id,
            {
                "acked_notified_at": self.now,
                "next_escalation_at": None,
                "escalation_stopped": stopped,
                "updated_at": self.now,
            },
            unless_changed=alert_paging.c.acked_notified_at.is_(None),
        ):
            make = _Message(
                "acknowledged", row["p_group_key"], self._group_labels(alert, row), notified
            )
            self.plan.add(("acknowledged", alert.id), make, alert)
            self.plan.counts["acknowledged"] += 1

    def _resolved(self, alert: AlertRecord, row: RowMapping) -> None:
        values = {
            "resolved_notified_at": self.now,
            "next_escalation_at": None,
            "escalation_stopped": row["p_escalation_stopped"]
            or ("resolved" if row["p_escalation_policy"] else None),
            "updated_at": self.now,
        }
        if not _update_paging_row(
            self.conn,
            alert.id,
            values,
            unless_changed=alert_paging.c.resolved_notified_at.is_(None),
        ):
            return
        if row["p_notified_at"] is None:
            return  # never paged (silenced or unrouted the whole time): nothing to take back
        notified = json.loads(row["p_notifiers"] or "[]")
        route = _route(self.paging, row["p_route"])
        if route is not None and not route.send_resolved:
            # PagerDuty still hears it: an incident left open is a page that never ends.
            notified = [
                name
                for name in notified
                if name in self.paging.notifiers and self.paging.notifiers[name].kind == "pagerduty"
            ]
        if not notified:
            return
        group_key = row["p_group_key"]
        make = _Message("resolved", group_key, self._group_labels(alert, row), notified)
        self.plan.add(("resolved", row["p_route"], group_key, tuple(notified)), make, alert)
        self.plan.counts["resolved"] += 1


def _queue(conn: Connection, config: Config, message: _Message, now: float) -> int:
    """Render a message for each of its notifiers and queue the bodies; returns how many."""
    paging = config.paging
    with_link = message.action in PAGE_ACTIONS
    views = tuple(alert_view(config, a, now, with_ack_link=with_link) for a in message.alerts)
    queued = 0
    for name in message.notifiers:
        notifier = paging.notifiers.get(name)
        if notifier is None:
            log.error("notifier '%s' is no longer configured: %s not sent", name, message.action)
            continue
        if not handles(notifier.kind, message.action):
            continue
        notification = Notification(
            action=message.action,
            receiver=name,
            group_key=message.group_key,
            group_labels=message.group_labels,
            alerts=views,
            dashboard_url=config.alerts.dashboard_url,
            public_url=paging.public_url,
            now=now,
            paged=tuple(message.people),
            escalation_level=message.escalation_level,
        )
        for rendered in render(notifier.kind, notification):
            enqueue(
                conn,
                notifier=name,
                kind=notifier.kind,
                action=message.action,
                rendered=rendered,
                group_key=message.group_key,
                recipients=message.people,
                now=now,
            )
            queued += 1
    return queued


def run_paging(
    engine: Engine,
    config: Config,
    now: float,
    *,
    http: httpx.Client | None = None,
    metrics: Metrics | None = None,
) -> PagingReport:
    """Page, repeat, escalate, acknowledge and resolve for `now`, send due deliveries,
    then delete the delivery log past its retention."""
    with engine.begin() as conn:
        plan = _Planner(conn, config, now).run()
        for message in plan.messages:
            _queue(conn, config, message, now)
    if metrics is not None:
        for name in config.paging.notifiers:
            metrics.record_notification_failure(name, 0)
    if http is not None:
        report = send_due(engine, config.paging, now, http, metrics=metrics)
    elif has_due(engine, now):
        with httpx.Client(timeout=config.paging.http_timeout_s) as client:
            report = send_due(engine, config.paging, now, client, metrics=metrics)
    else:
        report = DeliveryReport()
    pruned = prune_deliveries(engine, config.paging, now)
    return PagingReport(**plan.counts, deliveries=report, pruned_deliveries=pruned)


def paging_details(engine: Engine, alert_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What paging did for some alerts: paged at, silenced by, escalation, for listings."""
    if not alert_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(alert_paging).where(alert_paging.c.alert_id.in_(list(alert_ids)))
        ).mappings()
        return {
            int(row["alert_id"]): {
                "route": row["route"],
                "notified_at": row["notified_at"],
                "last_notified_at": row["last_notified_at"],
                "silenced_by": row["silenced_by"] if row["notified_at"] is None else None,
                "notifiers": json.loads(row["notifiers"] or "[]"),
                "escalation_policy": row["escalation_policy"],
                "escalation_level": row["escalation_level"],
                "escalation_cycle": row["escalation_cycle"],
                "next_escalation_at": row["next_escalation_at"],
                "escalation_stopped": row["escalation_stopped"],
            }
            for row in rows
        }
