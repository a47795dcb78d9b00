"""The weekly review as one self-contained HTML file: inline CSS, charts drawn as inline
SVG, no script and nothing fetched, so it reads the same offline or as an attachment.

Every figure cell carries ``data-figure`` (e.g. ``total.p95_ms``, ``day.2.requests``,
``version.chat v2.error_rate``) so that tools can read the numbers back without parsing
prose.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from prodloop.reviews import formatting as f
from prodloop.reviews.data import Compared
from prodloop.reviews.render_markdown import callouts, sections

if TYPE_CHECKING:
    from prodloop.reviews.weekly import WeeklyReview

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;
max-width:1100px;color:#1d2330;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dde}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid #dde;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f4f8}
.chg{color:#667;font-size:.85em;margin-left:.3em}.worse{color:#b42318}
.callout{border-left:4px solid #b42318;background:#fef3f2;padding:.5rem 1rem}
.ok{border-left:4px solid #027a48;background:#ecfdf3;padding:.5rem 1rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}
figcaption{font-size:.85rem;color:#445}svg text{font-size:10px;fill:#445}
"""

CHARTS: tuple[tuple[str, str, str], ...] = (
    ("requests", "Requests per day", "count"),
    ("p95_ms", "p95 latency per day", "ms"),
    ("error_rate", "Error rate per day", "pct"),
    ("cost_total_usd", "Token cost per day", "usd"),
)


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float | None], how: str, *, key: str
) -> str:
    """A small bar chart as inline SVG, each bar titled with its value."""
    width, height, pad = 320, 150, 24
    known = [v for v in values if v is not None]
    top = max(known) if known and max(known) > 0 else 1.0
    slot = (width - 2 * pad) / max(len(values), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'data-chart="{escape(key)}">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#99a"/>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = pad + i * slot + slot * 0.15
        bar = 0.0 if value is None else (height - 2 * pad) * value / top
        text = escape(f"{label}: {f.figure(value, how)}")
        parts.append(
            f'<rect x="{x:.1f}" y="{height - pad - bar:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{bar:.1f}" fill="#3b5bdb" data-value="{value if value is not None else ""}">'
            f"<title>{text}</title></rect>"
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{height - pad + 12}" '
            f'text-anchor="middle">{escape(label[:3])}</text>'
        )
    parts.append(f'<text x="{pad}" y="12">{escape(f.figure(top if known else None, how))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _chart(days: Sequence[Compared], labels: list[str], name: str, title: str, how: str) -> str:
    return bar_chart(title, labels, [getattr(d.this, name) for d in days], how, key=name)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(rows_cells) + "</tr>"
        for rows_cells in ([f"<td>{escape(c)}</td>" for c in row] for row in rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figures_table(title: str, lines: Sequence[Compared], prefix: str, margin: float) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in [title, *(c[1] for c in f.COLUMNS)])
    rows = []
    for n, line in enumerate(lines):
        key = prefix if prefix == "total" else f"{prefix}.{n if prefix == 'day' else line.label}"
        cells = [f"<td>{escape(line.label)}</td>"]
        for name, _, how in f.COLUMNS:
            rise = line.change(name)
            worse = (
                " worse"
                if rise is not None
                and rise > margin
                and name not in ("requests", "cost_total_usd", "guardrail_requests")
                else ""
            )
            text = escape(f.figure(getattr(line.this, name), how))
            cells.append(
                f'<td><span data-figure="{escape(key)}.{name}">{text}</span>'
                f'<span class="chg{worse}">{escape(f.change(rise))}</span></td>'
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _markdown_table(lines: list[str]) -> str:
    """A section of Markdown tables and sentences (from render_markdown) as HTML."""
    out, rows = [], []
    for line in [*lines, ""]:
        if line.startswith("| "):
            rows.append([c.strip().replace("\\|", "|") for c in line.strip("| ").split(" | ")])
            continue
        if rows:
            body = [r for r in rows[1:] if not all(c == "---" for c in r)]
            out.append(_table(rows[0], body))
            rows = []
        if line:
            out.append(f"<p>{escape(line)}</p>")
    return "".join(out)


def render_html(review: WeeklyReview) -> str:
    """The whole review as one HTML document."""

    tz = review.time_zone
    req = review.requests
    labels = [line.label for line in req.days]
    charts = "".join(
        f"<figure>{_chart(req.days, labels, name, title, how)}"
        f"<figcaption>{escape(title)}</figcaption></figure>"
        for name, title, how in CHARTS
    )
    top = callouts(review)
    box = "ok" if review.has_data and not review.regressions else "callout"
    call = "".join(f"<li>{escape(line[2:])}</li>" for line in top if line.startswith("- "))
    heading = next(line for line in top if line and not line.startswith("- ")).replace("**", "")
    body = [
        f"<h1>Weekly review {escape(review.week.label)}</h1>",
        f"<p>{escape(f.when(review.week.start, tz))} to {escape(f.when(review.week.end, tz))} "
        f"({escape(tz)}), against {escape(review.last_week.label)}. Written "
        f"{escape(f.when(review.generated_at, tz))}.</p>",
        f'<div class="{box}" data-regressions="{len(review.regressions)}" '
        f'data-has-data="{str(review.has_data).lower()}"><p>{escape(heading)}</p>'
        + (f"<ul>{call}</ul>" if call else "")
        + "</div>",
        "<h2>Requests, latency, errors, cost and guardrails</h2>",
        f'<div class="charts">{charts}</div>',
        "<p>Each figure is followed by its change from last week.</p>",
        _figures_table("week", [req.total], "total", review.margin),
        "<p>Per day (against the same day last week):</p>",
        _figures_table("day", req.days, "day", review.margin),
        "<p>Per version:</p>",
        _figures_table("version", req.versions, "version", review.margin)
        if req.versions
        else "<p>No requests.</p>",
    ]
    for title, lines in sections(review)[1:]:
        body.append(f"<h2>{escape(title)}</h2>{_markdown_table(lines)}")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Weekly review {escape(review.week.label)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
