"""The weekly review as Markdown, for the repository's docs/reviews folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prodloop.reviews import formatting as f

if TYPE_CHECKING:
    from prodloop.reviews.dora import Dora
    from prodloop.reviews.weekly import WeeklyReview


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table; pipes in cells are escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(headers), line(["---"] * len(headers)), *(line(row) for row in rows)]


def _figures_table(title: str, lines: Sequence[Any]) -> list[str]:
    headers = [title, *(heading for _, heading, _ in f.COLUMNS)]
    return table(headers, [f.cells(line) for line in lines])


def sections(review: WeeklyReview) -> list[tuple[str, list[str]]]:
    """The review's sections as (title, Markdown lines): the HTML reuses the tables' text."""
    tz = review.time_zone
    out: list[tuple[str, list[str]]] = []
    req = review.requests
    out.append(
        (
            "Requests, latency, errors, cost and guardrails",
            [
                "Each figure is followed by its change from last week.",
                "",
                *_figures_table("week", [req.total]),
                "",
                "Per day (against the same day last week):",
                "",
                *_figures_table("day", req.days),
                "",
                "Per version:",
                "",
                *(_figures_table("version", req.versions) if req.versions else ["No requests."]),
            ],
        )
    )
    slo_rows = [
        [
            s.service,
            s.slo,
            f"{s.comparator} {f.sli(s.indicator, s.target)}",
            f.sli(s.indicator, s.sli),
            f.verdict(s.is_met),
            f.pct(s.budget_remaining, 1),
            f.verdict(s.was_met),
        ]
        for s in review.slos
    ]
    out.append(
        (
            "SLO attainment",
            table(
                [
                    "service",
                    "SLO",
                    "target",
                    "this week",
                    "verdict",
                    "error budget left",
                    "last week",
                ],
                slo_rows,
            )
            if slo_rows
            else ["No SLOs configured."],
        )
    )
    incident_rows = [
        [
            f"#{i.id}",
            i.severity,
            i.service,
            i.title,
            f.when(i.detected_at, tz),
            f.duration(i.detect_s),
            f.duration(i.mitigate_s),
            f.duration(i.resolve_s),
            i.status,
        ]
        for i in review.incidents
    ]
    out.append(
        (
            "Incidents",
            table(
                [
                    "incident",
                    "severity",
                    "service",
                    "title",
                    "detected",
                    "time to detect",
                    "time to mitigate",
                    "time to resolve",
                    "status",
                ],
                incident_rows,
            )
            if incident_rows
            else ["No incidents this week."],
        )
    )
    d, last = review.dora, review.last_dora
    out.append(
        (
            "Delivery (DORA)",
            table(
                ["figure", "this week", "last week"],
                [
                    ["deployments (live)", f.count(d.deployments), f.count(last.deployments)],
                    [
                        "deployment frequency",
                        f"{d.deploys_per_day:.2f} / day",
                        f"{last.deploys_per_day:.2f} / day",
                    ],
                    [
                        "lead time merge → live (median)",
                        f.duration(d.lead_time_median_s),
                        f.duration(last.lead_time_median_s),
                    ],
                    [
                        "lead time merge → live (longest)",
                        f.duration(d.lead_time_max_s),
                        f.duration(last.lead_time_max_s),
                    ],
                    ["change failure rate", _failures(d), _failures(last)],
                    [
                        "time to restore (median)",
                        f.duration(d.time_to_restore_median_s),
                        f.duration(last.time_to_restore_median_s),
                    ],
                ],
            ),
        )
    )
    p = review.product
    product = [
        f"{f.plural(p.events, 'analytics event')} from {f.plural(p.users, 'user')}.",
        "",
    ]
    if p.funnel:
        product += [
            f"Funnel: {p.funnel_note}.",
            "",
            *table(
                ["step", "users", "from first", "from previous", "drop-off"],
                [
                    [
                        s["name"],
                        f.count(s["count"]),
                        f.pct(s["conversion_from_first"], 1),
                        f.pct(s["conversion_from_previous"], 1),
                        f.count(s["drop_off"]),
                    ]
                    for s in p.funnel
                ],
            ),
        ]
    else:
        product.append(f"Funnel: {p.funnel_note}.")
    if p.retention:
        # One column per week a cohort can be followed for, whatever the number of cohorts;
        # a cohort too young for the later weeks gets dashes there.
        weeks = max(len(c["percentages"]) for c in p.retention)
        product += [
            "",
            "Retention (share of each weekly cohort active in the weeks after):",
            "",
            *table(
                ["cohort", "users", *(f"week {n}" for n in range(weeks))],
                [
                    [
                        f.when(c["week_start"], tz)[:10],
                        f.count(c["size"]),
                        *(
                            f.pct(None if v is None else v / 100, 0)
                            for v in [*c["percentages"], *[None] * (weeks - len(c["percentages"]))]
                        ),
                    ]
                    for c in p.retention
                ],
            ),
        ]
    out.append(("Funnels and retention", product))
    fb = review.feedback
    feedback = [
        f"{f.plural(fb.count, 'item')} ({f.count(fb.last_count)} last week), "
        f"{f.pct(fb.negative_share, 1)} negative ({f.pct(fb.last_negative_share, 1)} "
        "last week).",
        "",
    ]
    feedback += (
        table(
            ["cluster", "items", "negative"],
            [[label, f.count(n), f.count(neg)] for label, n, neg in fb.clusters],
        )
        if fb.clusters
        else ["No clusters yet."]
    )
    out.append(("Feedback", feedback))
    out.append(("Experiments concluded", _experiments(review)))
    out.append(("Backlog (groomed)", _backlog(review)))
    return out


def _failures(figures: Dora) -> str:
    rate = f.pct(figures.change_failure_rate, 1)
    return f"{rate} ({figures.failed_changes} of {figures.changes})"


def _text(value: Any) -> str:
    return "–" if value is None or value == "" else str(value)


def _experiments(review: WeeklyReview) -> list[str]:
    if not review.experiments:
        return ["None this week."]
    rows = [
        [_text(e.get("name")), _text(e.get("flag_key")), _text(e.get("metric")),
         _text(e.get("verdict")), _text(e.get("winner")), _text(e.get("reason"))]
        for e in review.experiments
    ]  # fmt: skip
    return table(["experiment", "flag", "metric", "verdict", "winner", "why"], rows)


def _number(value: Any) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, int | float) else "–"


def _backlog(review: WeeklyReview) -> list[str]:
    if review.backlog_note:
        return [review.backlog_note]
    if not review.backlog:
        return ["Nothing to groom."]
    rows = [
        [_text(item.get("rank", n)), _text(item.get("title")), _text(item.get("source")),
         _text(item.get("backlog_id")), _number(item.get("reach")), _number(item.get("impact")),
         _number(item.get("confidence")), _number(item.get("effort")),
         _number(item.get("score"))]
        for n, item in enumerate(review.backlog, 1)
    ]  # fmt: skip
    return [
        "Ranked by RICE: reach × impact × confidence / effort.",
        "",
        *table(["rank", "item", "source", "backlog", "reach", "impact", "confidence", "effort",
                "RICE"], rows),
    ]  # fmt: skip


def callouts(review: WeeklyReview) -> list[str]:
    """The lines at the top: no data, or what got worse by more than the margin."""
    if not review.has_data:
        return [
            "**No data this week**: no requests, deploys, incidents, feedback or "
            "analytics events were recorded."
        ]
    if not review.regressions:
        return [f"Nothing got worse than last week by more than {review.margin * 100:g} %."]
    return [
        f"**Worse than last week by more than {review.margin * 100:g} %:**",
        "",
        *(f"- {line}" for line in review.regressions),
    ]


def render_markdown(review: WeeklyReview) -> str:
    """The whole review as one Markdown document."""
    tz = review.time_zone
    lines = [
        f"# Weekly review {review.week.label}",
        "",
        f"{f.when(review.week.start, tz)} to {f.when(review.week.end, tz)} ({tz}), "
        f"against {review.last_week.label}. Written {f.when(review.generated_at, tz)}.",
        "",
        *callouts(review),
    ]
    for title, body in sections(review):
        lines += ["", f"## {title}", "", *body]
    return "\n".join(lines) + "\n"
