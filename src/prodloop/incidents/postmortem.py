"""Post-mortem drafts with the Google SRE sections, filled in from the incident's data.

`draft_postmortem` gathers the figures (duration, requests affected, error budget
consumed, time to detect / acknowledge / mitigate / resolve / first public update) and
`render_postmortem` writes the Markdown: Summary, Impact, Root causes, Trigger,
Resolution, Detection, Action items (owner and backlog ID), Lessons learned (went well,
went wrong, got lucky) and Timeline. What only people know is left as a prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from prodloop.alerting.acks import AlertRecord
from prodloop.config import Config, duration_s
from prodloop.errors import ValidationError
from prodloop.incidents.comms import StatusUpdate, list_updates
from prodloop.incidents.lifecycle import Incident, get_incident, member_alerts
from prodloop.incidents.timeline import TimelineEntry, read_timeline
from prodloop.slo.budget import allowed_share, tally
from prodloop.slo.counts import read_segments

DAY_S = 86_400.0
TO_FILL = "_To be filled in._"


@dataclass(frozen=True, slots=True)
class ActionItem:
    """A follow-up: what, who owns it, and its backlog ID (e.g. GH-123)."""

    description: str
    owner: str = ""
    backlog_id: str = ""


def parse_action_item(text: str) -> ActionItem:
    """An action item from ``description;owner;backlog-id`` (owner and ID optional)."""
    parts = [part.strip() for part in text.split(";")]
    if not parts[0] or len(parts) > 3:
        raise ValidationError(
            f"not an action item: {text!r} (use 'description;owner;backlog-id')", field="action"
        )
    parts += [""] * (3 - len(parts))
    return ActionItem(parts[0], parts[1], parts[2])


@dataclass(frozen=True, slots=True)
class Figures:
    """The numbers of an incident, in seconds, requests and budget shares."""

    impact_started_at: float
    ended_at: float  # resolved, or `now` for an open incident
    duration_s: float
    requests: int
    requests_affected: int
    budget_consumed: dict[str, float | None]  # SLO name → share of its window's budget
    time_to_detect_s: float
    time_to_acknowledge_s: float | None
    time_to_mitigate_s: float | None
    time_to_resolve_s: float | None
    time_to_first_update_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "impact_started_at": self.impact_started_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "requests": self.requests,
            "requests_affected": self.requests_affected,
            "budget_consumed": self.budget_consumed,
            "time_to_detect_s": self.time_to_detect_s,
            "time_to_acknowledge_s": self.time_to_acknowledge_s,
            "time_to_mitigate_s": self.time_to_mitigate_s,
            "time_to_resolve_s": self.time_to_resolve_s,
            "time_to_first_update_s": self.time_to_first_update_s,
        }


@dataclass(frozen=True, slots=True)
class PostmortemData:
    """Everything a post-mortem draft is written from."""

    incident: Incident
    alerts: list[AlertRecord]
    timeline: list[TimelineEntry]
    updates: list[StatusUpdate]
    figures: Figures
    action_items: list[ActionItem] = field(default_factory=list)


def _since(start: float, end: float | None) -> float | None:
    return None if end is None else max(0.0, end - start)


def incident_figures(
    engine: Engine, config: Config, incident: Incident, alerts: Sequence[AlertRecord], now: float
) -> Figures:
    """Duration, requests affected, error budget consumed and the times to each step."""
    started = min([incident.detected_at, *(a.active_at for a in alerts)])
    ended = incident.resolved_at if incident.resolved_at is not None else now
    # Requests are counted from the alert window before detection: that is when it began.
    window_start = started - duration_s(config.incidents.impact_window)
    impact_end = incident.mitigated_at if incident.mitigated_at is not None else ended
    slo_start = impact_end - config.slos.window_days * DAY_S
    whole, during = read_segments(engine, [slo_start, window_start, impact_end + 1e-6],
                                  service=incident.service)  # fmt: skip
    aggregate = during.get(incident.service)
    budget: dict[str, float | None] = {}
    for slo in config.slos.objectives:
        if not slo.applies_to(incident.service) or slo.kind == "average":
            continue
        before = whole.get(incident.service)
        in_window = tally(slo, aggregate) if aggregate is not None else None
        eligible = (in_window.eligible if in_window else 0) + (
            tally(slo, before).eligible if before is not None else 0
        )
        allowed = allowed_share(slo) * eligible
        budget[slo.name] = (in_window.bad / allowed) if in_window and allowed > 0 else None
    return Figures(
        impact_started_at=started,
        ended_at=ended,
        duration_s=max(0.0, ended - started),
        requests=aggregate.count if aggregate else 0,
        requests_affected=(aggregate.count - aggregate.successes) if aggregate else 0,
        budget_consumed=budget,
        time_to_detect_s=max(0.0, incident.detected_at - started),
        time_to_acknowledge_s=_since(incident.detected_at, incident.acknowledged_at),
        time_to_mitigate_s=_since(incident.detected_at, incident.mitigated_at),
        time_to_resolve_s=_since(incident.detected_at, incident.resolved_at),
        time_to_first_update_s=_since(incident.detected_at, incident.first_update_at),
    )


def gather(
    engine: Engine,
    config: Config,
    incident_id: int,
    now: float,
    action_items: Sequence[ActionItem] = (),
) -> PostmortemData:
    """Read what a post-mortem of one incident needs from the store."""
    with engine.connect() as conn:
        incident = get_incident(conn, incident_id)
        alerts = member_alerts(conn, incident_id)
        timeline = read_timeline(conn, incident_id)
        updates = list_updates(conn, incident_id)
    figures = incident_figures(engine, config, incident, alerts, now)
    return PostmortemData(incident, alerts, timeline, updates, figures, list(action_items))


def slug(text: str) -> str:
    """A file-name slug: lower case words joined by dashes, at most 60 characters."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:60].rstrip("-") or "incident"


def postmortem_filename(incident: Incident) -> str:
    """``YYYY-MM-DD-<slug>.md`` from the detection date and the title."""
    day = datetime.fromtimestamp(incident.detected_at, UTC).strftime("%Y-%m-%d")
    return f"{day}-{slug(incident.title)}.md"


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def minutes(seconds: float | None) -> str:
    """A duration as people read it in a report: 42s, 7.5 min, 2.1 h; — when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "—"


def _lessons(data: PostmortemData, config: Config) -> tuple[list[str], list[str], list[str]]:
    f, incident = data.figures, data.incident
    well: list[str] = []
    wrong: list[str] = []
    lucky: list[str] = []
    deadline = duration_s(config.incidents.update_deadline)
    first = f.time_to_first_update_s
    if (
        first is not None
        and first <= deadline
        and not (data.updates and data.updates[0].is_templated)
    ):
        well.append(f"The first public update went out {minutes(first)} after detection.")
    elif data.updates and data.updates[0].is_templated:
        wrong.append("Nobody posted a status update in time: the template went out instead.")
    else:
        wrong.append("No public status update was posted.")
    if f.time_to_mitigate_s is not None:
        well.append(f"Impact was mitigated {minutes(f.time_to_mitigate_s)} after detection.")
    if incident.acknowledged_at is None:
        wrong.append("Nobody acknowledged the page.")
    if any(e.kind == "mitigation_proposed" for e in data.timeline) and f.time_to_mitigate_s is None:
        wrong.append("A rollback was proposed but not carried out.")
    lucky.append(TO_FILL)
    return well or [TO_FILL], wrong or [TO_FILL], lucky


def render_postmortem(data: PostmortemData, config: Config) -> str:
    """The draft as Markdown, Google SRE sections in order."""
    incident, f = data.incident, data.figures
    share = f.requests_affected / f.requests if f.requests else None
    share_text = f" ({share * 100:.1f}% of {f.requests})" if share is not None else ""
    budget_lines = [
        f"- Error budget consumed, SLO `{name}`: "
        + (
            "no data"
            if value is None
            else f"{value * 100:.1f}% of its {config.slos.window_days}-day budget"
        )
        for name, value in f.budget_consumed.items()
    ] or ["- Error budget consumed: no SLO applies to this service."]
    mitigations = [e for e in data.timeline if e.kind in ("mitigation_started", "mitigation_done")]
    proposals = [e for e in data.timeline if e.kind == "mitigation_proposed"]
    rollback = next((e for e in mitigations if e.data.get("to_version")), None)
    first_alert = data.alerts[0] if data.alerts else None
    lines = [
        f"# Post-mortem: {incident.title}",
        "",
        f"Incident {incident.id} · {incident.severity} · {incident.service} · status "
        f"{incident.status} · owner {incident.assignee or 'unassigned'}",
        "",
        "## Summary",
        "",
        f"{incident.title}. Detected {_when(incident.detected_at)}, "
        + (
            f"resolved {_when(incident.resolved_at)}"
            if incident.resolved_at
            else "not yet resolved"
        )
        + f"; impact lasted {minutes(f.duration_s)}.",
        "",
        "## Impact",
        "",
        f"- Duration: {minutes(f.duration_s)} (from {_when(f.impact_started_at)} to "
        f"{_when(f.ended_at)})",
        f"- Requests affected: {f.requests_affected}{share_text}",
        *budget_lines,
        "",
        "## Root causes",
        "",
        TO_FILL,
        "",
        "## Trigger",
        "",
        (
            f"Likely the change rolled back: {rollback.message}."
            if rollback is not None
            else (proposals[0].message if proposals else TO_FILL)
        ),
        "",
        "## Resolution",
        "",
        *([f"- {_when(e.at)}: {e.message}" for e in mitigations] or [TO_FILL]),
        "",
        "## Detection",
        "",
        (
            f"Alert `{first_alert.alertname}` ({first_alert.severity}) fired at "
            f"{_when(incident.detected_at)}: {incident.title}."
            if first_alert is not None
            else "No alert is linked to this incident."
        ),
        "",
        f"- Time to detect: {minutes(f.time_to_detect_s)}",
        f"- Time to acknowledge: {minutes(f.time_to_acknowledge_s)}",
        f"- Time to mitigate: {minutes(f.time_to_mitigate_s)}",
        f"- Time to resolve: {minutes(f.time_to_resolve_s)}",
        f"- Time to first public update: {minutes(f.time_to_first_update_s)}",
        "",
        "## Action items",
        "",
        "| Action item | Owner | Backlog ID |",
        "|---|---|---|",
        *(
            f"| {_cell(item.description)} | {_cell(item.owner)} | {_cell(item.backlog_id)} |"
            for item in data.action_items
        ),
        *([] if data.action_items else [f"| {TO_FILL} | {incident.assignee or '—'} | — |"]),
        "",
        "## Lessons learned",
        "",
    ]
    well, wrong, lucky = _lessons(data, config)
    for heading, items in (("What went well", well), ("What went wrong", wrong),
                           ("Where we got lucky", lucky)):  # fmt: skip
        lines += [f"### {heading}", "", *(f"- {item}" for item in items), ""]
    lines += ["## Timeline", "", "All times UTC.", ""]
    lines += [
        f"- {_when(e.at)} — **{e.kind}**" + (f" ({e.actor})" if e.actor else "") + f": {e.message}"
        for e in data.timeline
    ]
    return "\n".join(lines) + "\n"


def write_postmortem(
    engine: Engine,
    config: Config,
    incident_id: int,
    now: float,
    *,
    output_dir: Path | None = None,
    action_items: Sequence[ActionItem] = (),
    overwrite: bool = False,
) -> Path:
    """Write the draft to ``<postmortem_dir>/YYYY-MM-DD-<slug>.md``; the path written.

    An existing draft is kept (ValidationError naming `output`) unless `overwrite`.
    """
    data = gather(engine, config, incident_id, now, action_items)
    folder = output_dir if output_dir is not None else Path(config.incidents.postmortem_dir)
    path = folder / postmortem_filename(data.incident)
    if path.exists() and not overwrite:
        raise ValidationError(f"{path} exists (pass --force to replace it)", field="output")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(render_postmortem(data, config), encoding="utf-8")
    return path
