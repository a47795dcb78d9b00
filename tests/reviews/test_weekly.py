"""The weekly review of a generated week: its figures in the Markdown and the HTML, the
regression call-out, an empty week, and the CLI."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from prodloop.reviews.weekly import write_weekly
from prodloop.store import connect
from prodloop.store.schema import analytics_events, reviews
from tests.cli.conftest import run_cli
from tests.reviews.support_review import (
    W47_MONDAY,
    W48_MONDAY,
    ZONE,
    at,
    config_for,
    write_analytics,
    write_delivery,
    write_feedback,
    write_traffic,
)

NOW = W48_MONDAY + 8 * 86400.0


class Figures(HTMLParser):
    """The text of every element carrying data-figure, and the call-out's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.attrs: dict[str, str] = {}
        self.tags: set[str] = set()
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = {k: v or "" for k, v in attrs}
        for name in ("data-regressions", "data-has-data"):
            if name in found:
                self.attrs[name] = found[name]
        for name in ("src", "href"):
            assert name not in found, f"the review links out: {tag} {found}"
        if "data-figure" in found:
            self._open = found["data-figure"]
            self.figures[self._open] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.figures[self._open] += data


def parse(html: str) -> Figures:
    parser = Figures()
    parser.feed(html)
    return parser


def row(markdown: str, first_cell: str) -> str:
    found = [line for line in markdown.splitlines() if line.startswith(f"| {first_cell} |")]
    assert len(found) == 1, (first_cell, found)
    return found[0]


def test_the_review_of_a_generated_week_states_its_figures(store_url: str, tmp_path: Path) -> None:
    config = config_for(store_url)
    engine = connect(store_url)
    series = write_traffic(engine)
    write_delivery(engine)
    write_feedback(engine, config)
    write_analytics(engine)

    md_path, html_path = write_weekly(engine, config, "2026-W48", NOW, output_dir=tmp_path)
    assert (md_path.name, html_path.name) == ("2026-W48.md", "2026-W48.html")
    markdown = md_path.read_text()

    week = series["v1"].histogram()
    week.merge(series["v2"].histogram())
    last = series["last"].histogram()
    p50, p95 = week.quantile(0.5), week.quantile(0.95)
    assert p50 is not None and p95 is not None
    p95_change = p95 / (last.quantile(0.95) or 1) - 1
    # 900 requests (700 of v1, 200 of the canary), 34 errors, $1.10, 7 guardrail triggers;
    # last week 700 requests, 7 errors, $0.70.
    assert row(markdown, "2026-W48") == (
        f"| 2026-W48 | 900 (+28.6 %) | {p50:,.0f} ms (+0.0 %) | {p95:,.0f} ms "
        f"({p95_change * 100:+.1f} %) | 3.78 % (+277.8 %) | $0.00122 (+22.2 %) | $1.10 (+57.1 %) "
        "| 7 (–) |"
    )
    thursday = series["v2"].histogram()
    v2_p95 = thursday.quantile(0.95)
    assert row(markdown, "chat v2").startswith(f"| chat v2 | 200 (–) | {v2_p95:,.0f} ms (–)")
    assert "| 10.00 % (–) | $0.00200 (–) | $0.40 (–) | 0 (–) |" in row(markdown, "chat v2")
    assert row(markdown, "Mon 2026-11-23").startswith("| Mon 2026-11-23 | 100 (+0.0 %) |")
    assert "| 4.67 % (+366.7 %) |" in row(markdown, "Thu 2026-11-26")

    # What got worse is called out at the top, before the first section.
    top = markdown.split("\n## ")[0]
    assert "**Worse than last week by more than 10 %:**" in top
    assert "- error rate of the week rose +277.8 % over last week" in top
    assert "- token cost per request of the week rose +22.2 % over last week" in top
    assert "- SLO error-rate of chat missed (met last week)" in top
    assert "- negative feedback share rose +50.0 %" in top

    assert "| chat | error-rate | <= 1.000 % | 3.778 % | MISSED | -277.8 % | met |" in markdown
    assert "| chat | latency-p95 | <= 2,000 ms |" in markdown
    assert row(markdown, "#1") == (
        "| #1 | SEV2 | chat | Errors from the upstream | 2026-11-25 14:04 | 4 min | 26 min "
        "| 116 min | resolved |"
    )
    assert row(markdown, "deployments (live)") == "| deployments (live) | 2 | 1 |"
    assert row(markdown, "lead time merge → live (median)").endswith("| 30 min | 60 min |")
    assert row(markdown, "change failure rate").endswith("| 33.3 % (1 of 3) | 0.0 % (0 of 1) |")
    assert row(markdown, "time to restore (median)").endswith("| 26 min | – |")
    assert (
        "Funnel: the events most users did before the success metric 'first_question', in the "
        "order users first did them (median time of first occurrence)." in markdown
    )
    assert row(markdown, "$pageview") == "| $pageview | 10 | 100.0 % | 100.0 % | 0 |"
    assert row(markdown, "first_question") == "| first_question | 4 | 40.0 % | 66.7 % | 2 |"
    assert "8 items (4 last week), 37.5 % negative (25.0 % last week)." in markdown
    assert "20 analytics events from 10 users." in markdown
    assert row(markdown, "slow answers") == "| slow answers | 3 | 3 |"

    html = html_path.read_text()
    parsed = parse(html)
    assert parsed.figures["total.requests"] == "900"
    assert parsed.figures["total.p95_ms"] == f"{p95:,.0f} ms"
    assert parsed.figures["total.error_rate"] == "3.78 %"
    assert parsed.figures["total.cost_total_usd"] == "$1.10"
    assert parsed.figures["version.chat v2.error_rate"] == "10.00 %"
    assert parsed.figures["day.3.requests"] == "150"
    assert parsed.attrs == {"data-regressions": "8", "data-has-data": "true"}
    # Self-contained: inline CSS and SVG charts, no script, nothing fetched.
    assert {"svg", "rect", "style"} <= parsed.tags and "script" not in parsed.tags
    bars = re.findall(r'data-chart="requests".*?</svg>', html)[0]
    assert re.findall(r'data-value="([^"]*)"', bars) == ["100", "100", "100", "150", "150",
                                                         "150", "150"]  # fmt: skip
    assert "<td>#1</td><td>SEV2</td>" in html

    with engine.connect() as conn:
        written = conn.execute(select(reviews)).mappings().one()
    assert (written["kind"], written["period"], written["path_md"]) == (
        "weekly",
        "2026-W48",
        str(md_path),
    )
    # Counts agree with their nouns: one incident, two deploys.
    assert json.loads(written["summary"])["headline"] == (
        "Weekly review 2026-W48: 900 requests, 1 incident, 2 deploys, 2 SLOs missed, 8 regressions"
    )
    engine.dispose()


def test_a_rise_within_the_margin_is_not_called_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = connect(url)
    # 420 ms instead of 400 ms: 5 % slower, the same errors, no guardrails, no canary.
    series = write_traffic(engine, this_latency_ms=420.0, this_errors=1, this_guardrails=0,
                           with_canary=False)  # fmt: skip
    now_p50, last_p50 = (
        series["v1"].histogram().quantile(0.5),
        series["last"].histogram().quantile(0.5),
    )
    assert now_p50 is not None and last_p50 is not None
    rise = (now_p50 / last_p50 - 1) * 100
    assert 4 < rise < 10  # the sketch's buckets make 5 % a little more
    md_path, html_path = write_weekly(engine, config_for(url), "2026-W48", NOW, tmp_path / "a")
    markdown = md_path.read_text()
    assert "Nothing got worse than last week by more than 10 %." in markdown
    assert parse(html_path.read_text()).attrs["data-regressions"] == "0"

    strict = config_for(url, "  regression_margin: 0.01\n")
    md_path, _ = write_weekly(engine, strict, "2026-W48", NOW, tmp_path / "b")
    top = md_path.read_text().split("\n## ")[0]
    assert f"- p50 latency of the week rose +{rise:.1f} % over last week" in top
    assert "error rate" not in top
    engine.dispose()


def test_an_empty_week_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = connect(url)
    md_path, html_path = write_weekly(engine, config_for(url), "2026-W48", NOW, tmp_path)
    markdown = md_path.read_text()
    assert "**No data this week**" in markdown
    assert row(markdown, "2026-W48") == (
        "| 2026-W48 | 0 (–) | – (–) | – (–) | – (–) | – (–) | $0.00 (–) | 0 (–) |"
    )
    assert "No incidents this week." in markdown and "Funnel: no analytics events" in markdown
    assert parse(html_path.read_text()).attrs["data-has-data"] == "false"
    engine.dispose()


def test_the_cli_writes_the_review_and_refuses_a_bad_week(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = connect(url)
    write_traffic(engine)
    engine.dispose()
    config = tmp_path / "prodloop.yaml"
    config.write_text(f"store:\n  url: {url}\nreviews:\n  time_zone: {ZONE}\n")
    out = tmp_path / "out"
    done = run_cli("review", "weekly", "--config", str(config), "--week", "2026-W48",
                   "--output-dir", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Weekly review 2026-W48: 900 requests" in done.stdout
    assert "worse: error rate of the week rose +277.8 % over last week" in done.stdout
    assert row((out / "2026-W48.md").read_text(), "2026-W48").startswith("| 2026-W48 | 900 ")
    assert (out / "2026-W48.html").read_text().startswith("<!doctype html>")

    bad = run_cli("review", "weekly", "--config", str(config), "--week", "2026-W60",
                  "--output-dir", str(tmp_path / "bad"))  # fmt: skip
    assert bad.returncode == 2
    assert "'2026-W60' is not an ISO week like 2026-W48" in bad.stderr
    assert not (tmp_path / "bad").exists()

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    refused = run_cli("review", "weekly", "--config", str(config), "--week", "2026-W48",
                      "--output-dir", str(blocked / "reviews"))  # fmt: skip
    assert refused.returncode == 2
    assert f"cannot write reviews to '{blocked / 'reviews'}'" in refused.stderr


def test_a_malformed_roadmap_leaves_a_note_in_the_review(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = connect(url)
    roadmap = tmp_path / "roadmap.yaml"
    roadmap.write_text("items: [unclosed\n")
    config = config_for(url, f"grooming:\n  roadmap_file: {roadmap}\n")
    md_path, _ = write_weekly(engine, config, "2026-W48", NOW, tmp_path)
    backlog = md_path.read_text().split("## Backlog (groomed)")[1]
    assert backlog.strip().startswith("The backlog could not be groomed:")
    assert "roadmap" in backlog
    engine.dispose()


def write_journey(engine: Engine) -> None:
    """Ten users on Tuesday of W48 whose most popular events come last in their journey:
    users 0-5 sign up at 10:00, 0-8 search at 10:10, 0-3 ask a first question at 10:20 and
    all ten give a thumbs up at 10:30. Two more users came the week before and return."""
    journey = [
        ("signup", 6, 0),
        ("search", 9, 10),
        ("first_question", 4, 20),
        ("thumbs_up", 10, 30),
    ]
    rows = [
        {"uuid": f"j-{event}-{u}", "event": event, "distinct_id": f"user-{u}",
         "ts": at(W48_MONDAY, 1, 10) + 60 * minute, "received_at": W48_MONDAY,
         "source": "prodloop", "properties": "{}"}
        for event, users, minute in journey
        for u in range(users)
    ] + [
        {"uuid": f"r-{u}-{monday}", "event": "$pageview", "distinct_id": f"returning-{u}",
         "ts": at(monday, 2, 9), "received_at": monday, "source": "prodloop",
         "properties": "{}"}
        for u in range(2)
        for monday in (W47_MONDAY, W48_MONDAY)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(analytics_events), rows)


def test_the_funnel_follows_the_journey_not_popularity(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = connect(url)
    write_journey(engine)
    # By popularity: thumbs_up (10 users), search (9), signup (6), first_question (4), which
    # would read thumbs_up → search → first_question with nobody at the last step.
    md_path, _ = write_weekly(engine, config_for(url), "2026-W48", NOW, tmp_path / "a")
    markdown = md_path.read_text()
    assert (
        "Funnel: the events most users did before the success metric 'first_question', in the "
        "order users first did them (median time of first occurrence)." in markdown
    )
    assert row(markdown, "signup") == "| signup | 6 | 100.0 % | 100.0 % | 0 |"
    assert row(markdown, "search") == "| search | 6 | 100.0 % | 100.0 % | 0 |"
    assert row(markdown, "first_question") == "| first_question | 4 | 66.7 % | 66.7 % | 2 |"
    assert "| thumbs_up |" not in markdown

    # Without the success metric in the week: the three most used events, in journey order.
    other = config_for(url, "launch:\n  success_metric:\n    event: purchase\n")
    md_path, _ = write_weekly(engine, other, "2026-W48", NOW, tmp_path / "b")
    markdown = md_path.read_text()
    assert "nobody sent the success metric 'purchase'" in markdown
    assert row(markdown, "signup") == "| signup | 6 | 100.0 % | 100.0 % | 0 |"
    assert row(markdown, "search") == "| search | 6 | 100.0 % | 100.0 % | 0 |"
    assert row(markdown, "thumbs_up") == "| thumbs_up | 6 | 100.0 % | 100.0 % | 0 |"
    engine.dispose()


def test_the_retention_header_has_a_column_per_week_of_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = connect(url)
    write_journey(engine)
    md_path, html_path = write_weekly(engine, config_for(url), "2026-W48", NOW, tmp_path)
    markdown = md_path.read_text()
    header = "| cohort | users | week 0 | week 1 | week 2 | week 3 |"
    assert header in markdown
    rows = markdown.split(header)[1].split("\n\n")[0].strip().splitlines()[1:]
    # Two cohorts (W47's returning users, W48's newcomers), each with four week cells.
    assert rows == [
        "| 2026-11-16 | 2 | 100 % | 100 % | – | – |",
        "| 2026-11-23 | 10 | 100 % | – | – | – |",
    ]
    html = html_path.read_text()
    found = re.search(r"<table><thead><tr><th>cohort</th>(.*?)</table>", html)
    assert found is not None
    head, body = found[1].split("</thead>")
    assert head.count("<th>") == 5  # users and weeks 0-3 after the cohort column
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    assert [re.findall(r"<td>(.*?)</td>", r)[1:] for r in rows] == [
        ["2", "100 %", "100 %", "–", "–"],
        ["10", "100 %", "–", "–", "–"],
    ]
    engine.dispose()
