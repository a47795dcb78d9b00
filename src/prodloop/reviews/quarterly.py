"""The quarterly retrospective: the exit criteria and the guide's three questions.

The guide asks, every quarter, to re-evaluate the value proposition, the success metric
and the stack choices. The review writes each as a section with the figures that inform
it and a blank for the team's answer, after the exit criteria. A quarter without data
says so in every section.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import case, func, insert, select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.reviews.checklist import format_time
from prodloop.reviews.exit_criteria import ExitReport, Quarter, exit_criteria
from prodloop.store.schema import analytics_events, feedback, incidents, reviews

ANSWER = "> Team's answer: _…_"


@dataclass(frozen=True, slots=True)
class ProductFigures:
    """What users did in the quarter."""

    active_users: int
    success_users: int
    feedback: int
    negative_feedback: int
    success_by_month: tuple[tuple[str, int], ...]
    incidents_by_severity: tuple[tuple[str, int], ...]

    @property
    def conversion(self) -> float | None:
        """Share of active users who reached the success metric."""
        return self.success_users / self.active_users if self.active_users else None


def product_figures(
    engine: Engine, config: Config, report: ExitReport, quarter: Quarter
) -> ProductFigures:
    """Users, the success metric, feedback and incidents of the quarter."""
    start, end = report.start, report.end
    event = config.launch.success_metric.event
    a = analytics_events.c
    in_quarter = (a.ts >= start, a.ts < end)
    with engine.connect() as conn:
        active = conn.execute(
            select(func.count(func.distinct(a.distinct_id))).where(*in_quarter)
        ).scalar_one()
        reached = conn.execute(
            select(func.count(func.distinct(a.distinct_id))).where(*in_quarter, a.event == event)
        ).scalar_one()
        moments = [
            float(row[0]) for row in conn.execute(select(a.ts).where(*in_quarter, a.event == event))
        ]
        f = feedback.c
        counts = conn.execute(
            select(func.count(), func.sum(case((f.is_negative.is_(True), 1), else_=0))).where(
                f.created_at >= start, f.created_at < end
            )
        ).one()
        i = incidents.c
        severities = Counter(
            row[0]
            for row in conn.execute(
                select(i.severity).where(
                    i.detected_at >= start, i.detected_at < end, i.is_drill.is_(False)
                )
            )
        )
    zone = config.reviews.time_zone
    by_month = Counter(format_time(at, zone)[:7] for at in moments)
    months = [day.strftime("%Y-%m") for day in quarter.months]
    return ProductFigures(
        active_users=int(active),
        success_users=int(reached),
        feedback=int(counts[0] or 0),
        negative_feedback=int(counts[1] or 0),
        success_by_month=tuple((month, by_month.get(month, 0)) for month in months),
        incidents_by_severity=tuple(sorted(severities.items())),
    )


def render_quarterly(
    config: Config, report: ExitReport, figures: ProductFigures, written_at: float
) -> str:
    """The Markdown of the quarterly retrospective."""
    zone = config.reviews.time_zone
    verdict = "ready for maintenance mode" if report.ok else "not ready for maintenance mode"
    lines = [
        f"# Quarterly retrospective — {report.quarter}",
        "",
        f"Service **{report.service}**, {format_time(report.start, zone)} → "
        f"{format_time(report.end, zone)}; written {format_time(written_at, zone)}.",
        "",
    ]
    if not report.has_data:
        lines += [f"**No data for {report.quarter}**: no requests and no deploys.", ""]
    lines += [f"## Exit criteria → maintenance mode: {verdict}", ""]
    for criterion in report.criteria:
        mark = "x" if criterion.ok else " "
        lines.append(f"- [{mark}] **{criterion.title}** — {criterion.evidence}")
    lines += ["", "| week | all SLOs met | deploys |", "|---|---|---|"]
    for week in report.weeks:
        met = {True: "yes", False: "no", None: "no traffic"}[week.all_met]
        lines.append(f"| {format_time(week.start, zone)[:10]} | {met} | {week.deploys} |")
    if not report.weeks:
        lines.append("| no complete week | | |")
    lines += ["", "| month | requests | cost per request | change |", "|---|---|---|---|"]
    for month in report.months:
        per = "—" if month.cost_per_request is None else f"${month.cost_per_request:.5f}"
        change = "—" if month.change is None else f"{month.change * 100:+.1f} %"
        lines.append(f"| {month.month} | {month.requests} | {per} | {change} |")
    if not report.months:
        lines.append("| no month yet | | | |")
    conversion = figures.conversion
    shown = "no active users" if conversion is None else f"{conversion * 100:.1f} %"
    event = config.launch.success_metric.event
    incidents_text = (
        ", ".join(f"{severity}: {count}" for severity, count in figures.incidents_by_severity)
        or "none"
    )
    costs = [m for m in report.months if m.cost_per_request is not None]
    cost_trend = (
        " → ".join(f"${m.cost_per_request:.5f}" for m in costs if m.cost_per_request is not None)
        or "no costed requests"
    )
    lines += [
        "",
        "## Value proposition",
        "",
        "Is the product still worth what it costs its users and us?",
        "",
        f"- Active users (any analytics event): {figures.active_users}",
        f"- Conversion to the success metric ({event}): {shown}",
        f"- Feedback: {figures.feedback} submissions, {figures.negative_feedback} negative",
        "",
        ANSWER,
        "",
        "## Success metric",
        "",
        f"Is '{event}' still the event that means a user got the value?",
        "",
        f"- Users who reached it: {figures.success_users}",
        "- By month: " + ", ".join(f"{month} {count}" for month, count in figures.success_by_month),
        "",
        ANSWER,
        "",
        "## Stack choices",
        "",
        "Do the model, the providers and the infrastructure still fit the cost, latency and "
        "reliability we need?",
        "",
        f"- Token cost per request by month: {cost_trend}",
        f"- Incidents (drills aside): {incidents_text}",
        f"- Deploys: {sum(w.deploys for w in report.weeks)}"
        + (
            f" (coefficient of variation per week {report.deploys_cv:.2f})"
            if report.deploys_cv is not None
            else ""
        ),
        "",
        ANSWER,
        "",
    ]
    return "\n".join(lines)


def write_quarterly(
    engine: Engine,
    config: Config,
    quarter: Quarter,
    now: float,
    output_dir: Path | str | None = None,
) -> Path:
    """Write `<output_dir>/<quarter>.md` (default `reviews.output_dir`) and a `reviews` row."""
    report = exit_criteria(engine, config, quarter, now)
    figures = product_figures(engine, config, report, quarter)
    folder = Path(output_dir if output_dir is not None else config.reviews.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{quarter.label}.md"
    path.write_text(render_quarterly(config, report, figures, now), encoding="utf-8")
    summary = {"ok": report.ok, "has_data": report.has_data,
               "criteria": [c.to_dict() for c in report.criteria]}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            insert(reviews).values(
                kind="quarterly",
                period=quarter.label,
                written_at=now,
                path_md=str(path),
                path_html=None,
                summary=json.dumps(summary),
            )
        )
    return path
