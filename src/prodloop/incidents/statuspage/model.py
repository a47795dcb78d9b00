"""The public status page as data: component states, daily uptime, incidents, maintenance.

Everything here is built from the store at a given `now` and holds only what may be
shown in public: component names, descriptions and states, uptime shares, the messages
of published status updates, and scheduled maintenance. Incident titles, severities,
assignees, timelines, alert summaries and SLI values stay internal.

A component's state, most decisive rule first:

1. a manual override (``component_overrides``) that has not expired;
2. ``under_maintenance`` while a maintenance window covering it is in progress;
3. from live alerts of its service: ``major_outage`` when a page fires and at least
   ``statuspage.major_outage_share`` of its requests failed over
   ``statuspage.major_outage_window``, or an unresolved SEV1 incident is open on it;
   ``partial_outage`` when a page fires; ``degraded_performance`` when a ticket fires;
4. ``operational`` otherwise.

Daily uptime is the good-request share of each UTC day, read from the hourly rollups:
requests that did not fail server-side over all requests. A day without traffic has no
bar value (shown grey), rather than a made-up 100 %.

Drill incidents, and the alerts that joined them, are left out unless the page is built
with ``include_drills`` (the ``?drill=1`` view, marked as a drill).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from prodloop.config import Config
from prodloop.durations import parse_duration
from prodloop.slo.counts import read_windows
from prodloop.store.schema import (
    alerts,
    component_overrides,
    incident_alerts,
    incidents,
    maintenances,
    rollups_hour,
    service_versions,
    status_updates,
)
from prodloop.telemetry.rollups import DAY_S

ComponentState = Literal[
    "operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"
]
COMPONENT_STATES: tuple[ComponentState, ...] = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
Indicator = Literal["none", "minor", "major", "critical"]
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
MaintenanceStatus = Literal["scheduled", "in_progress", "completed"]

_STATE_INDICATOR: dict[str, Indicator] = {
    "operational": "none",
    "under_maintenance": "none",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
_INDICATOR_RANK: dict[str, int] = {"none": 0, "minor": 1, "major": 2, "critical": 3}
_DESCRIPTIONS: dict[Indicator, str] = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major Service Outage",
}
_IMPACT_NAMES = {
    "none": "Issue affecting {}",
    "minor": "Degraded performance of {}",
    "major": "Partial outage of {}",
    "critical": "Major outage of {}",
}
# Uptime shares at or above each bound get that bar colour (the guide's 99.5 % success).
UPTIME_BANDS: tuple[tuple[float, ComponentState], ...] = (
    (0.995, "operational"),
    (0.95, "degraded_performance"),
    (0.80, "partial_outage"),
    (0.0, "major_outage"),
)


@dataclass(frozen=True, slots=True)
class Signals:
    """What decides one component's state at one moment."""

    override: str | None = None
    is_in_maintenance: bool = False
    firing_severities: frozenset[str] = frozenset()
    failing_share: float | None = None  # of requests over the major-outage window
    has_sev1_incident: bool = False


def component_state(signals: Signals, major_outage_share: float) -> ComponentState:
    """The public state of a component from its signals (the rule in the module docstring)."""
    for state in COMPONENT_STATES:
        if signals.override == state:
            return state
    if signals.is_in_maintenance:
        return "under_maintenance"
    is_paging = "page" in signals.firing_severities
    share = signals.failing_share
    if signals.has_sev1_incident or (
        is_paging and share is not None and share >= major_outage_share
    ):
        return "major_outage"
    if is_paging:
        return "partial_outage"
    if "ticket" in signals.firing_severities:
        return "degraded_performance"
    return "operational"


@dataclass(frozen=True, slots=True)
class DayUptime:
    day: float  # UTC midnight, Unix seconds
    requests: int
    good: int

    @property
    def share(self) -> float | None:
        return self.good / self.requests if self.requests else None

    @property
    def band(self) -> ComponentState | None:
        share = self.share
        if share is None:
            return None
        return next(state for bound, state in UPTIME_BANDS if share >= bound)


@dataclass(frozen=True, slots=True)
class PublicComponent:
    id: str
    name: str
    description: str
    position: int
    status: ComponentState
    created_at: float
    updated_at: float
    uptime: tuple[DayUptime, ...]

    @property
    def uptime_share(self) -> float | None:
        requests = sum(day.requests for day in self.uptime)
        return sum(day.good for day in self.uptime) / requests if requests else None


@dataclass(frozen=True, slots=True)
class PublicUpdate:
    id: str
    status: str
    body: str
    at: float


@dataclass(frozen=True, slots=True)
class PublicIncident:
    id: str
    name: str
    status: str
    impact: str
    component_ids: tuple[str, ...]
    started_at: float
    created_at: float
    updated_at: float
    monitoring_at: float | None
    resolved_at: float | None
    updates: tuple[PublicUpdate, ...]  # newest first
    is_drill: bool

    @property
    def is_resolved(self) -> bool:
        return self.status == "resolved"

    @property
    def duration_s(self) -> float | None:
        """From start to resolution; None while it is open."""
        if self.resolved_at is None or not self.is_resolved:
            return None
        return max(0.0, self.resolved_at - self.started_at)


@dataclass(frozen=True, slots=True)
class PublicMaintenance:
    id: str
    name: str
    body: str
    component_ids: tuple[str, ...]
    starts_at: float
    ends_at: float
    created_at: float
    status: MaintenanceStatus


@dataclass(frozen=True, slots=True)
class PublicPage:
    """The whole public page: nothing here is internal."""

    id: str
    name: str
    url: str
    time_zone: str
    updated_at: float
    indicator: Indicator
    description: str
    components: tuple[PublicComponent, ...]
    incidents: tuple[PublicIncident, ...]  # unresolved first, then newest first
    maintenances: tuple[PublicMaintenance, ...]  # by start
    is_drill_view: bool

    @property
    def unresolved_incidents(self) -> tuple[PublicIncident, ...]:
        return tuple(incident for incident in self.incidents if not incident.is_resolved)

    def component(self, component_id: str) -> PublicComponent | None:
        return next((c for c in self.components if c.id == component_id), None)

    def incident(self, incident_id: str) -> PublicIncident | None:
        return next((i for i in self.incidents if i.id == incident_id), None)

    def incident_url(self, incident: PublicIncident) -> str:
        """The incident's own page; in the drill view, the drill view of it."""
        return f"{self.url}/incidents/{incident.id}" + ("?drill=1" if self.is_drill_view else "")


def page_url(config: Config) -> str:
    """The page's public URL: statuspage.url, or the control plane's address + /status."""
    if config.statuspage.url:
        return config.statuspage.url.rstrip("/")
    return f"http://{config.control.host}:{config.control.port}/status"


def component_names(config: Config) -> dict[str, tuple[str, str]]:
    """{service: (display name, description)} in page order."""
    configured = config.statuspage.components
    if configured:
        return {key: (c.name or key, c.description) for key, c in configured.items()}
    return {key: (key, "") for key in config.services}


def maintenance_status(starts_at: float, ends_at: float, now: float) -> MaintenanceStatus:
    if now < starts_at:
        return "scheduled"
    return "in_progress" if now < ends_at else "completed"


def _drill_alert_ids(conn: Connection) -> set[int]:
    query = (
        select(incident_alerts.c.alert_id)
        .join(incidents, incidents.c.id == incident_alerts.c.incident_id)
        .where(incidents.c.is_drill.is_(True))
    )
    return {int(row[0]) for row in conn.execute(query)}


def _firing(
    conn: Connection, services: Iterable[str], include_drills: bool
) -> dict[str, list[tuple[str, float]]]:
    """{service: [(severity, fired_at)]} of firing alerts."""
    excluded = set() if include_drills else _drill_alert_ids(conn)
    c = alerts.c
    query = select(c.id, c.service, c.severity, c.fired_at, c.active_at).where(
        c.state == "firing", c.service.in_(list(services))
    )
    found: dict[str, list[tuple[str, float]]] = {}
    for alert_id, service, severity, fired_at, active_at in conn.execute(query):
        if int(alert_id) not in excluded:
            found.setdefault(service, []).append((severity, float(fired_at or active_at)))
    return found


def daily_uptime(
    engine: Engine, services: Sequence[str], now: float, days: int
) -> dict[str, tuple[DayUptime, ...]]:
    """Each service's good-request share per UTC day, the last `days` days ending today."""
    today = now - now % DAY_S
    first = today - (days - 1) * DAY_S
    c = rollups_hour.c
    day = c.bucket - c.bucket % DAY_S
    query = (
        select(c.service, day, func.sum(c.count), func.sum(c.errors))
        .where(c.bucket >= int(first), c.bucket < int(today + DAY_S), c.service.in_(services))
        .group_by(c.service, day)
    )
    totals: dict[tuple[str, float], tuple[int, int]] = {}
    with engine.connect() as conn:
        for service, start, count, errors in conn.execute(query):
            totals[(service, float(start))] = (int(count or 0), int(errors or 0))
    result: dict[str, tuple[DayUptime, ...]] = {}
    for service in services:
        bars = []
        for i in range(days):
            start = first + i * DAY_S
            count, errors = totals.get((service, start), (0, 0))
            bars.append(DayUptime(day=start, requests=count, good=count - errors))
        result[service] = tuple(bars)
    return result


def _failing_shares(
    engine: Engine, services: Iterable[str], now: float, window_s: float
) -> dict[str, float]:
    start = now - window_s
    window = read_windows(engine, [start], now, with_latency=False)[start]
    return {
        name: window[name].errors / window[name].count
        for name in services
        if name in window and window[name].count
    }


def _incidents(
    conn: Connection,
    services: Sequence[str],
    include_drills: bool,
    limit: int,
    only_id: int | None = None,
) -> list[PublicIncident]:
    """Incidents with at least one published update: every unresolved one, then the newest
    (or just incident `only_id`, whatever its age)."""
    t = incidents.c
    published = select(status_updates.c.incident_id).distinct()
    base = select(
        t.id, t.service, t.status, t.impact, t.is_drill, t.detected_at, t.resolved_at
    ).where(t.service.in_(services), t.id.in_(published))
    if not include_drills:
        base = base.where(t.is_drill.is_(False))
    if only_id is not None:
        rows = list(conn.execute(base.where(t.id == only_id)))
    else:
        rows = list(conn.execute(base.where(t.status != "resolved")))
        rows += list(
            conn.execute(
                base.where(t.status == "resolved").order_by(t.detected_at.desc()).limit(limit)
            )
        )
    if not rows:
        return []
    u = status_updates.c
    updates: dict[int, list[PublicUpdate]] = {}
    query = (
        select(u.id, u.incident_id, u.status, u.message, u.at)
        .where(u.incident_id.in_([row.id for row in rows]))
        .order_by(u.at.desc(), u.id.desc())
    )
    for update_id, incident_id, status, message, at in conn.execute(query):
        updates.setdefault(int(incident_id), []).append(
            PublicUpdate(id=f"u{update_id}", status=status, body=message, at=float(at))
        )
    found = []
    for row in rows:
        published_updates = updates.get(int(row.id), [])
        if not published_updates:
            continue
        # The public status is the last published one; resolving closes it regardless.
        status = "resolved" if row.status == "resolved" else published_updates[0].status
        if status not in INCIDENT_STATUSES:
            status = "investigating"
        monitoring = [x.at for x in published_updates if x.status == "monitoring"]
        resolved_at = row.resolved_at
        if status == "resolved" and resolved_at is None:
            resolved_at = published_updates[0].at
        last = max(published_updates[0].at, resolved_at or 0.0)
        found.append(
            PublicIncident(
                id=str(row.id),
                name="",  # filled in with the component's display name by the caller
                status=status,
                impact=row.impact,
                component_ids=(row.service,),
                started_at=float(row.detected_at),
                created_at=published_updates[-1].at,
                updated_at=last,
                monitoring_at=min(monitoring) if monitoring else None,
                resolved_at=None if resolved_at is None else float(resolved_at),
                updates=tuple(published_updates),
                is_drill=bool(row.is_drill),
            )
        )
    found.sort(key=lambda i: (i.is_resolved, -i.started_at))
    return found


def _maintenances(
    conn: Connection, services: Sequence[str], now: float, days: int
) -> list[PublicMaintenance]:
    m = maintenances.c
    query = (
        select(m.id, m.components, m.title, m.message, m.starts_at, m.ends_at, m.created_at)
        .where(m.ends_at >= now - days * DAY_S)
        .order_by(m.starts_at)
    )
    shown = set(services)
    found = []
    for row in conn.execute(query):
        components = tuple(c for c in json.loads(row.components) if c in shown)
        if not components:
            continue
        found.append(
            PublicMaintenance(
                id=f"m{row.id}",
                name=row.title,
                body=row.message,
                component_ids=components,
                starts_at=float(row.starts_at),
                ends_at=float(row.ends_at),
                created_at=float(row.created_at),
                status=maintenance_status(row.starts_at, row.ends_at, now),
            )
        )
    return found


def _overrides(conn: Connection, now: float) -> dict[str, tuple[str, float]]:
    o = component_overrides.c
    query = select(o.component, o.status, o.set_at).where(
        (o.expires_at.is_(None)) | (o.expires_at > now)
    )
    return {row[0]: (row[1], float(row[2])) for row in conn.execute(query)}


def _created_at(conn: Connection, services: Sequence[str]) -> dict[str, float]:
    v = service_versions.c
    query = select(v.service, func.min(v.created_at)).where(v.service.in_(services))
    return {row[0]: float(row[1]) for row in conn.execute(query.group_by(v.service))}


def build_page(
    engine: Engine,
    config: Config,
    now: float,
    *,
    include_drills: bool = False,
    uptime: Mapping[str, tuple[DayUptime, ...]] | None = None,
) -> PublicPage:
    """The public page at `now`; pass `uptime` to reuse bars computed earlier."""
    settings = config.statuspage
    names = component_names(config)
    services = list(names)
    if uptime is None:
        uptime = daily_uptime(engine, services, now, settings.uptime_days)
    with engine.connect() as conn:
        overrides = _overrides(conn, now)
        firing = _firing(conn, services, include_drills)
        found_incidents = _incidents(conn, services, include_drills, settings.history_limit)
        found_maintenances = _maintenances(conn, services, now, settings.uptime_days)
        created = _created_at(conn, services)
        sev1 = _sev1_services(conn, services, include_drills)
    paging = [name for name, fired in firing.items() if any(s == "page" for s, _ in fired)]
    shares = (
        _failing_shares(engine, paging, now, parse_duration(settings.major_outage_window))
        if paging
        else {}
    )
    components = []
    for position, (key, (display, description)) in enumerate(names.items(), start=1):
        bars = uptime.get(key, ())
        first_day = next((bar.day for bar in bars if bar.requests), bars[0].day if bars else now)
        created_at = created.get(key, first_day)
        active = [
            m for m in found_maintenances if m.status == "in_progress" and key in m.component_ids
        ]
        override = overrides.get(key)
        fired = firing.get(key, [])
        signals = Signals(
            override=override[0] if override else None,
            is_in_maintenance=bool(active),
            firing_severities=frozenset(severity for severity, _ in fired),
            failing_share=shares.get(key),
            has_sev1_incident=key in sev1,
        )
        state = component_state(signals, settings.major_outage_share)
        since = [created_at]
        if override:
            since.append(override[1])
        elif active:
            since.append(max(m.starts_at for m in active))
        elif fired:
            since.append(min(at for _, at in fired))
        components.append(
            PublicComponent(
                id=key,
                name=display,
                description=description,
                position=position,
                status=state,
                created_at=created_at,
                updated_at=max(since),
                uptime=bars,
            )
        )
    named = [_named(incident, names) for incident in found_incidents]
    indicator = _indicator(components, named)
    description = _DESCRIPTIONS[indicator]
    if indicator == "none" and any(c.status == "under_maintenance" for c in components):
        description = "Service Under Maintenance"
    stamps = [c.updated_at for c in components] + [i.updated_at for i in named]
    stamps += [m.created_at for m in found_maintenances]
    return PublicPage(
        id=settings.page_id,
        name=settings.name,
        url=page_url(config),
        time_zone=settings.time_zone,
        updated_at=max(stamps, default=now - now % DAY_S),
        indicator=indicator,
        description=description,
        components=tuple(components),
        incidents=tuple(named),
        maintenances=tuple(found_maintenances),
        is_drill_view=include_drills,
    )


def find_incident(
    engine: Engine, config: Config, incident_id: int, *, include_drills: bool = False
) -> PublicIncident | None:
    """One incident as the public sees it, however old; None when it is not public
    (unknown, not yet published, not a shown component, or a drill outside the drill view)."""
    names = component_names(config)
    with engine.connect() as conn:
        found = _incidents(conn, list(names), include_drills, 1, only_id=incident_id)
    return _named(found[0], names) if found else None


def _named(incident: PublicIncident, names: Mapping[str, tuple[str, str]]) -> PublicIncident:
    pattern = _IMPACT_NAMES.get(incident.impact, _IMPACT_NAMES["none"])
    display = ", ".join(names[key][0] for key in incident.component_ids if key in names)
    name = pattern.format(display)
    if incident.is_drill:
        name = f"[drill] {name}"
    return replace(incident, name=name)


def _sev1_services(conn: Connection, services: Sequence[str], include_drills: bool) -> set[str]:
    t = incidents.c
    query = select(t.service).where(
        t.severity == "SEV1", t.status != "resolved", t.service.in_(services)
    )
    if not include_drills:
        query = query.where(t.is_drill.is_(False))
    return {row[0] for row in conn.execute(query)}


def _indicator(
    components: Sequence[PublicComponent], unresolved: Sequence[PublicIncident]
) -> Indicator:
    levels: list[Indicator] = [_STATE_INDICATOR[c.status] for c in components]
    levels += [
        incident.impact  # type: ignore[misc]
        for incident in unresolved
        if not incident.is_resolved and incident.impact in _INDICATOR_RANK
    ]
    return max(levels, key=lambda level: _INDICATOR_RANK[level], default="none")
