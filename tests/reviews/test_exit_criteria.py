"""Exit criteria on generated quarters, and the quarterly retrospective."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from prodloop.cli.main import cli
from prodloop.errors import ValidationError
from prodloop.reviews.exit_criteria import exit_criteria, parse_quarter
from prodloop.store.schema import (
    analytics_events,
    deployments,
    feedback,
    incidents,
    reviews,
    rollups_hour,
)
from prodloop.telemetry.rollups import Aggregate
from tests.cli.conftest import run_cli
from tests.reviews.launch_data import SERVICE, LaunchStore, launch_store

Q3_START = date(2026, 7, 1)
Q3_WEEKS = [date(2026, 7, 6) + timedelta(weeks=n) for n in range(13)]  # Mondays in Q3


def _ts(day: date, hour: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp()


def write_day(engine: Engine, day: date, *, errors: int = 0, cost: float = 0.001) -> None:
    """One hour of traffic at noon: 1000 requests, `errors` of them server errors."""
    aggregate = Aggregate()
    aggregate.count = 1000
    aggregate.errors = errors
    aggregate.successes = 1000 - errors
    aggregate.latency_hist.add(400.0, 1000)
    aggregate.latency_sum_ms = 400.0 * 1000
    aggregate.cost_usd = cost * 1000
    aggregate.cost_known = 1000
    key = {"service": SERVICE, "version": "v1", "route": "/v1/chat/completions",
           "model": "gpt-4o-mini"}  # fmt: skip
    row = {"bucket": int(_ts(day, 12)), **key, **aggregate.to_row()}
    with engine.begin() as conn:
        conn.execute(insert(rollups_hour).values(**row))


def write_deploys(engine: Engine, per_week: list[int]) -> None:
    """`per_week[i]` deploys that went live in the i-th week of Q3."""
    rows = []
    for monday, count in zip(Q3_WEEKS, per_week, strict=True):
        for n in range(count):
            at = _ts(monday + timedelta(days=1 + n % 4), 10)
            rows.append({"service": SERVICE, "version": f"v{len(rows) + 2}",
                         "upstream": "http://127.0.0.1:9/v1", "deployed_by": "ci",
                         "is_signature_verified": False, "created_at": at - 300.0,
                         "live_at": at, "status": "superseded"})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(deployments), rows)


def generated_quarter(
    tmp_path: Path,
    *,
    september_cost: float = 0.001,
    per_week: list[int] | None = None,
) -> LaunchStore:
    """Q3 2026 of `chat`: daily traffic (one week missing its SLOs), two deploys a week."""
    store = launch_store(tmp_path)
    day = Q3_START
    bad_week = Q3_WEEKS[5]
    while day < date(2026, 10, 5):
        is_bad = bad_week <= day < bad_week + timedelta(weeks=1)
        cost = september_cost if day.month == 9 else 0.001
        write_day(store.engine, day, errors=50 if is_bad else 0, cost=cost)
        day += timedelta(days=1)
    write_deploys(store.engine, per_week or [2] * 13)
    return store


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout


def test_a_steady_quarter_meets_every_exit_criterion(tmp_path: Path) -> None:
    store = generated_quarter(tmp_path)
    done = run_cli("launch", "exit-criteria", "--quarter", "2026-Q3",
                   "--config", str(store.config_file))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all SLOs met in 12 of 13 weeks with traffic (92 %)" in done.stdout
    assert "2026-07 $0.00100, 2026-08 $0.00100, 2026-09 $0.00100" in done.stdout
    assert "largest change +0.0 %" in done.stdout
    assert "26 deploys over 13 weeks (2.0/week" in done.stdout
    assert "coefficient of variation 0.00" in done.stdout
    assert "2026-Q3: ready for maintenance mode" in done.stdout


def test_cost_per_request_moving_more_than_ten_percent_fails_the_cost_line(
    tmp_path: Path,
) -> None:
    store = generated_quarter(tmp_path, september_cost=0.0012)
    code, out = invoke("launch", "exit-criteria", "--quarter", "2026-Q3", "--json",
                       "--config", str(store.config_file))  # fmt: skip
    assert code == 1
    report = json.loads(out)
    verdicts = {c["name"]: c["ok"] for c in report["criteria"]}
    assert verdicts == {"slo_weeks": True, "cost": False, "velocity": True}
    cost = next(c for c in report["criteria"] if c["name"] == "cost")
    assert "largest change +20.0 % in 2026-09" in cost["evidence"]
    assert [m["change"] for m in report["months"]] == [None, 0.0, pytest.approx(0.2)]


def test_uneven_deploys_fail_the_velocity_line(tmp_path: Path) -> None:
    store = generated_quarter(tmp_path, per_week=[0, 4] * 6 + [2])
    code, out = invoke("launch", "exit-criteria", "--quarter", "2026-Q3",
                       "--config", str(store.config_file))  # fmt: skip
    assert code == 1
    fails = [line.split()[1] for line in out.splitlines() if line.startswith("FAIL")]
    assert fails == ["velocity"]
    assert "per week: 0 4 0 4 0 4 0 4 0 4 0 4 2); coefficient of variation 0.96" in out


def test_a_quarter_without_data_says_so(tmp_path: Path) -> None:
    store = launch_store(tmp_path)
    code, out = invoke("launch", "exit-criteria", "--quarter", "2026-Q1",
                       "--config", str(store.config_file))  # fmt: skip
    assert code == 1
    assert "no data for 2026-Q1: no requests and no deploys" in out
    assert "no data: no traffic in its 13 weeks" in out
    assert "no data: 0 month(s) with costed requests, two are needed" in out
    assert "no data: no deploy in 13 weeks" in out
    future = exit_criteria(store.engine, store.config, parse_quarter("2030-Q2"), _ts(Q3_START))
    assert future.has_data is False and future.weeks == () and future.months == ()
    assert [c.ok for c in future.criteria] == [False, False, False]


def test_a_malformed_quarter_is_refused() -> None:
    with pytest.raises(ValidationError, match="expected a quarter like 2026-Q4, got '2026Q4'"):
        parse_quarter("2026Q4")
    with pytest.raises(ValidationError, match="got '2026-Q5'"):
        parse_quarter("2026-Q5")


def _product_data(engine: Engine) -> None:
    at = _ts(date(2026, 8, 10), 9)
    events = [
        {"uuid": f"e{i}", "event": "first_question" if i < 4 else "$pageview",
         "distinct_id": f"user-{i}", "ts": at + i * 86400.0, "received_at": at,
         "source": "prodloop", "properties": "{}"}
        for i in range(10)
    ]  # fmt: skip
    notes = [
        {"created_at": at, "updated_at": at, "source": "widget", "comment": f"note {i}",
         "is_negative": i < 2}
        for i in range(5)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(analytics_events), events)
        conn.execute(insert(feedback), notes)
        conn.execute(
            insert(incidents).values(
                service=SERVICE, title="slow answers", severity="SEV2", status="resolved",
                impact="major", detected_at=at, resolved_at=at + 1800.0, created_at=at,
                updated_at=at + 1800.0,
            )
        )  # fmt: skip


def test_quarterly_review_writes_the_figures_and_the_three_questions(tmp_path: Path) -> None:
    store = generated_quarter(tmp_path)
    _product_data(store.engine)
    code, out = invoke("review", "quarterly", "--quarter", "2026-Q3",
                       "--config", str(store.config_file))  # fmt: skip
    path = tmp_path / "docs" / "reviews" / "2026-Q3.md"
    assert code == 0 and out.strip() == f"quarterly review 2026-Q3 written to {path}"
    text = path.read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Exit criteria → maintenance mode: ready for maintenance mode",
        "## Value proposition",
        "## Success metric",
        "## Stack choices",
    ]
    assert text.count("> Team's answer: _…_") == 3
    assert "- Active users (any analytics event): 10" in text
    assert "- Conversion to the success metric (first_question): 40.0 %" in text
    assert "- Feedback: 5 submissions, 2 negative" in text
    assert "- By month: 2026-07 0, 2026-08 4, 2026-09 0" in text
    assert "- Token cost per request by month: $0.00100 → $0.00100 → $0.00100" in text
    assert "- Incidents (drills aside): SEV2: 1" in text
    assert "| 2026-08-10 | no | 2 |" in text
    with store.engine.connect() as conn:
        row = conn.execute(select(reviews.c.kind, reviews.c.period, reviews.c.path_md)).one()
    assert tuple(row) == ("quarterly", "2026-Q3", str(path))


def test_quarterly_review_of_an_empty_quarter_says_so(tmp_path: Path) -> None:
    store = launch_store(tmp_path)
    code, _ = invoke("review", "quarterly", "--quarter", "2026-Q1",
                     "--config", str(store.config_file))  # fmt: skip
    assert code == 0
    text = (tmp_path / "docs" / "reviews" / "2026-Q1.md").read_text()
    assert "**No data for 2026-Q1**: no requests and no deploys." in text
    assert "- Conversion to the success metric (first_question): no active users" in text
    assert "- Token cost per request by month: no costed requests" in text
    assert "not ready for maintenance mode" in text
