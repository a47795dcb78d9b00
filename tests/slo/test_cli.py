"""`prodloop slo status` as a user runs it: a real config file, a real store, a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prodloop.store import connect
from prodloop.telemetry.rollups import DAY_S, HOUR_S
from tests.slo.traffic import config_text, minute_aggregate, write_history


def run_slo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodloop.cli", "slo", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("PRODLOOP_")},
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """prodloop.yaml for `chat` and a store with two days of 2.5 % errors up to this hour."""
    url = f"sqlite:///{tmp_path / 'prodloop.db'}"
    (tmp_path / "prodloop.yaml").write_text(config_text(url))
    engine = connect(url)
    hour = time.time() // HOUR_S * HOUR_S
    write_history(engine, hour - 2 * DAY_S, hour, minute=minute_aggregate(120, errors=3))
    engine.dispose()
    return tmp_path


def test_status_table(project: Path) -> None:
    done = run_slo("status", cwd=project)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "SLOs over the last 30 days; burn rate 1 spends the budget exactly"
    assert lines[1].split() == [
        "service", "SLO", "SLI", "target", "budget", "left", "burn", "1h", "burn", "6h",
        "burn", "1d", "this", "week",
    ]  # fmt: skip
    rows = {line.split()[1]: line.split() for line in lines[3:]}
    assert set(rows) == {"latency-p95", "error-rate", "cost-per-request", "success-rate"}
    assert rows["error-rate"][:7] == [
        "chat",
        "error-rate",
        "2.500%",
        "<=",
        "1.000%",
        "-150.0%",
        "2.50x",
    ]
    assert rows["success-rate"][2:5] == ["97.500%", ">=", "99.500%"]
    assert rows["latency-p95"][2:6] == ["302ms", "<=", "2.00s", "100.0%"]
    assert rows["cost-per-request"][2:6] == ["$0.001000", "<=", "$0.002000", "50.0%"]


def test_status_json_for_one_service(project: Path) -> None:
    done = run_slo("status", "--service", "chat", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    by_slo = {row["slo"]: row for row in body["slos"]}
    errors = by_slo["error-rate"]
    assert errors["service"] == "chat"
    assert errors["requests"] == 2 * 1440 * 120
    assert errors["sli"] == pytest.approx(0.025)
    assert errors["budget_remaining_pct"] == pytest.approx(-150)
    assert set(errors["burn_rates"]) == {"1h", "6h", "1d"}
    assert errors["is_met_this_week"] in (False, None)  # None early on a Monday


def test_unknown_service_is_a_red_line_and_exit_code_2(project: Path) -> None:
    done = run_slo("status", "--service", "nope", cwd=project)
    assert done.returncode == 2
    assert "unknown service 'nope' (known: chat)" in done.stderr
