"""The weekly metrics review (the guide's 30 minutes every week): what the week's figures
were, what got worse, what to build next; written as Markdown and self-contained HTML."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.reviews import experiments, grooming
from prodloop.reviews import formatting as f
from prodloop.reviews.data import (
    WATCHED,
    Compared,
    FeedbackFigures,
    IncidentLine,
    Period,
    ProductFigures,
    RequestFigures,
    SloWeek,
    feedback_figures,
    incident_lines,
    parse_week,
    product_figures,
    request_figures,
    slo_attainment,
    week_of,
)
from prodloop.reviews.dora import Dora, dora
from prodloop.reviews.render_html import render_html
from prodloop.reviews.render_markdown import render_markdown
from prodloop.store.schema import reviews


@dataclass(frozen=True, slots=True)
class WeeklyReview:
    """Everything the weekly review says, computed; the renderers only lay it out."""

    week: Period
    last_week: Period
    time_zone: str
    generated_at: float
    margin: float
    requests: RequestFigures
    slos: list[SloWeek]
    incidents: list[IncidentLine]
    dora: Dora
    last_dora: Dora
    feedback: FeedbackFigures
    product: ProductFigures
    experiments: list[dict[str, Any]]
    backlog: list[dict[str, Any]]
    backlog_note: str = ""
    regressions: list[str] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        """Whether anything at all happened in the week."""
        return bool(
            self.requests.total.this.requests
            or self.incidents
            or self.dora.deployments
            or self.dora.changes
            or self.feedback.count
            or self.product.events
        )

    def headline(self) -> str:
        """One line for a chat message."""
        if not self.has_data:
            return f"Weekly review {self.week.label}: no data this week"
        total = self.requests.total.this
        missed = sum(1 for line in self.slos if line.is_met is False)
        worse = f", {f.plural(len(self.regressions), 'regression')}" if self.regressions else ""
        return (
            f"Weekly review {self.week.label}: {f.plural(total.requests, 'request')}, "
            f"{f.plural(len(self.incidents), 'incident')}, "
            f"{f.plural(self.dora.deployments, 'deploy')}, "
            f"{f.plural(missed, 'SLO')} missed{worse}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the `reviews` row keeps the headline and regressions)."""
        return {
            "week": self.week.label,
            "start": self.week.start,
            "end": self.week.end,
            "has_data": self.has_data,
            "regressions": list(self.regressions),
            "total": self.requests.total.to_dict(),
            "days": [line.to_dict() for line in self.requests.days],
            "versions": [line.to_dict() for line in self.requests.versions],
            "slos": [line.to_dict() for line in self.slos],
            "incidents": [line.to_dict() for line in self.incidents],
            "dora": self.dora.to_dict(),
            "feedback": self.feedback.to_dict(),
            "product": self.product.to_dict(),
            "experiments": self.experiments,
            "backlog": self.backlog,
        }


def _worse(line: Compared, margin: float) -> list[str]:
    """The watched figures of a line that rose by more than `margin` over last week."""
    found = []
    for name, label in WATCHED:
        now, before = getattr(line.this, name), getattr(line.last, name)
        if now is None or before is None or not line.last.requests:
            continue
        change = line.change(name)
        if (change is not None and change > margin) or (before == 0 and now > 0):
            rise = "from none" if change is None else f"+{change * 100:.1f} %"
            found.append(f"{label} of {line.label} rose {rise} over last week")
    return found


def regressions(
    requests: RequestFigures, slos: list[SloWeek], feedback: FeedbackFigures, margin: float
) -> list[str]:
    """What got worse than last week by more than `margin`, the whole week first."""
    found = _worse(Compared("the week", requests.total.this, requests.total.last), margin)
    for line in requests.versions:
        found += _worse(line, margin)
    for slo in slos:
        if slo.is_met is False and slo.was_met is True:
            found.append(f"SLO {slo.slo} of {slo.service} missed (met last week)")
    share, before = feedback.negative_share, feedback.last_negative_share
    if share is not None and before and share / before - 1.0 > margin:
        found.append(f"negative feedback share rose +{(share / before - 1.0) * 100:.1f} %")
    return found


def _groomed(engine: Engine, config: Config, now: float) -> tuple[list[dict[str, Any]], str]:
    """The top of the groomed backlog, or why there is none (a malformed roadmap file must
    not stop the rest of the review from being written)."""
    try:
        items = grooming.groom(engine, config, now)[: config.grooming.top]
    except ValidationError as exc:
        return [], f"The backlog could not be groomed: {exc}"
    return [item.to_dict() for item in items], ""


def build_weekly(engine: Engine, config: Config, week: str, now: float) -> WeeklyReview:
    """The review of ISO week `week` (e.g. 2026-W48) in ``reviews.time_zone``."""
    zone = config.reviews.time_zone
    period = parse_week(week, zone)
    last = week_of(period.start - 1, zone)
    requests = request_figures(engine, period, last, zone)
    slos = slo_attainment(engine, config, period, last)
    feedback = feedback_figures(engine, period, last)
    margin = config.reviews.regression_margin
    backlog, backlog_note = _groomed(engine, config, now)
    return WeeklyReview(
        week=period,
        last_week=last,
        time_zone=zone,
        generated_at=now,
        margin=margin,
        requests=requests,
        slos=slos,
        incidents=incident_lines(engine, period.start, period.end),
        dora=dora(engine, config, period.start, period.end),
        last_dora=dora(engine, config, last.start, last.end),
        feedback=feedback,
        product=product_figures(engine, config, period),
        experiments=[
            e.to_dict()
            for e in experiments.concluded_between(engine, config, period.start, period.end)
        ],
        backlog=backlog,
        backlog_note=backlog_note,
        regressions=regressions(requests, slos, feedback, margin),
    )


def review_dir(config: Config, output_dir: str | Path | None) -> Path:
    """Where reviews are written: the given folder or ``reviews.output_dir``."""
    return Path(output_dir if output_dir is not None else config.reviews.output_dir)


def record_review(
    engine: Engine,
    kind: str,
    period: str,
    now: float,
    summary: dict[str, Any],
    paths: tuple[Path, Path] | None = None,
) -> None:
    """Note a written review in the `reviews` table (the schedule writes each period once)."""
    with engine.begin() as conn:
        conn.execute(
            insert(reviews).values(
                kind=kind,
                period=period,
                written_at=now,
                path_md=str(paths[0]) if paths else None,
                path_html=str(paths[1]) if paths else None,
                summary=json.dumps(summary, ensure_ascii=False),
            )
        )


def write_review(
    engine: Engine, config: Config, review: WeeklyReview, output_dir: str | Path | None = None
) -> tuple[Path, Path]:
    """Write a built review as `<output_dir>/<week>.md` and `.html` and record it."""
    folder = review_dir(config, output_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(
            f"cannot write reviews to '{folder}': {exc.strerror}", field="output_dir"
        ) from None
    md_path = folder / f"{review.week.label}.md"
    html_path = folder / f"{review.week.label}.html"
    # Rendered fully before either file is touched, so a failure leaves nothing half-written.
    markdown, html = render_markdown(review), render_html(review)
    for path, text in ((md_path, markdown), (html_path, html)):
        partial = path.with_suffix(path.suffix + ".tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    summary = {"headline": review.headline(), "regressions": review.regressions}
    record_review(
        engine, "weekly", review.week.label, review.generated_at, summary, (md_path, html_path)
    )
    return md_path, html_path


def write_weekly(
    engine: Engine,
    config: Config,
    week: str,
    now: float,
    output_dir: str | Path | None = None,
) -> tuple[Path, Path]:
    """Write `<output_dir>/<week>.md` and `.html` and record them; the two paths."""
    return write_review(engine, config, build_weekly(engine, config, week, now), output_dir)
