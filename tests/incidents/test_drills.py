"""Demo drills end to end: a real burst through the gateway, then the incident through
prodloop's loop in compressed time, measured against the covering runbook's targets."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from prodloop.cli.main import cli, main
from prodloop.incidents.drills import SCENARIOS, drill_config, run_drill
from prodloop.incidents.lifecycle import list_incidents
from prodloop.incidents.runbooks import load_runbooks
from prodloop.incidents.statuspage.model import build_page
from prodloop.incidents.statuspage.statuspage_json import incidents as incidents_json
from prodloop.store import connect

REPO_RUNBOOKS = Path(__file__).resolve().parents[2] / "ops" / "runbooks"
START = 1_767_258_000.0
URL_TARGET = [
    "drill",
    "upstream-outage",
    "--target",
    "http://127.0.0.1:9",
    "--gateway",
    "http://x",
]  # a whole minute, so the tick grid is the same on every run


def _project(tmp_path: Path) -> Path:
    """A project folder with a copy of prodloop's runbooks."""
    shutil.copytree(REPO_RUNBOOKS, tmp_path / "ops" / "runbooks")
    return tmp_path


def _kinds_in_order(report_text: str) -> list[str]:
    timeline = report_text.split("## Timeline", 1)[1]
    rows = [line.split("|") for line in timeline.splitlines() if line.startswith("| +")]
    return [row[2].strip() for row in rows]


def test_error_spike_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(_project(tmp_path))
    db = tmp_path / "drill.db"
    result = CliRunner().invoke(
        cli, ["drill", "error-spike", "--store", f"sqlite:///{db}", "--output", "drill.md"]
    )
    assert result.exit_code == 0, result.output
    assert "rollback done" in result.output
    text = (tmp_path / "drill.md").read_text(encoding="utf-8")
    assert text.startswith("# Drill: error-spike\n")
    assert "Result: **passed**" in text
    # The live half: the canary's requests through the real gateway all failed once the
    # fault was on, and none before.
    assert "| error rate | 0 % | 100 % |" in text
    assert "80 requests through the demo gateway on 127.0.0.1:" in text
    kinds = _kinds_in_order(text)
    assert kinds.index("detected") < kinds.index("deadline_template") < kinds.index("resolved")
    assert "the rollout controller rolled canary v2 back" in text
    # Targets come from the runbook covering the error-rate alert, and it says so.
    assert "| detect | 165 s | 300 s | ops/runbooks/rollback.md | yes |" in text
    assert "| first update | 900 s | 900 s | ops/runbooks/rollback.md | yes |" in text
    assert "Recorded on runbook `ops/runbooks/rollback.md`." in text
    (rollback,) = [
        r for r in load_runbooks(tmp_path / "ops" / "runbooks")[0] if r.name == "rollback"
    ]
    assert rollback.last_drilled is not None
    config_file = tmp_path / ".prodloop" / "drills" / "error-spike.yaml"
    assert f"sqlite:///{db}" in config_file.read_text(encoding="utf-8")


def test_upstream_outage_is_a_drill_only_on_the_drill_view(tmp_path: Path) -> None:
    # The covering runbook asks for detection within a minute: the drill misses it.
    runbooks = _project(tmp_path) / "ops" / "runbooks"
    rollback = runbooks / "rollback.md"
    rollback.write_text(
        rollback.read_text(encoding="utf-8").replace("  detect: 5m\n", "  detect: 1m\n"),
        encoding="utf-8",
    )
    store_url = f"sqlite:///{tmp_path / 'drill.db'}"
    report = run_drill(
        SCENARIOS["upstream-outage"],
        store_url=store_url,
        output=tmp_path / "outage.md",
        runbooks_dir=runbooks,
        now_start=START,
    )
    figures = {m.name: (m.seconds, m.target_s, m.is_met) for m in report.measures}
    assert figures == {
        "detect": (75.0, 60.0, False),
        "page": (75.0, 300.0, True),
        "acknowledge": (75.0, 900.0, True),
        "mitigate": (420.0, 1800.0, True),  # the fault goes off at once; the window clears
        "first update": (900.0, 900.0, True),
    }
    assert {m.source for m in report.measures} == {str(rollback)}
    assert not report.is_passed
    assert report.live is not None
    assert report.live.baseline_error_rate == 0.0 and report.live.fault_error_rate == 1.0
    kinds = [kind for _, kind, _ in report.timeline]
    assert kinds[0] == "detected" and kinds[-1] == "resolved"
    assert kinds.index("mitigation_started") < kinds.index("mitigation_done")
    assert report.report_path == tmp_path / "outage.md"
    text = report.report_path.read_text(encoding="utf-8")
    assert "Result: **FAILED**" in text
    assert f"| detect | 75 s | 60 s | {rollback} | no |" in text

    config = drill_config(store_url)
    engine = connect(store_url)
    try:
        (incident,) = list_incidents(engine)
        assert incident.is_drill and incident.status == "resolved"
        now = report.fault_at + 3600
        production = incidents_json(build_page(engine, config, now))
        drill_view = incidents_json(build_page(engine, config, now, include_drills=True))
    finally:
        engine.dispose()
    assert production["incidents"] == []
    assert len(drill_view["incidents"]) == 1


def test_latency_and_tokens_are_measured_through_the_gateway(tmp_path: Path) -> None:
    latency = run_drill(
        SCENARIOS["latency-regression"],
        store_url=f"sqlite:///{tmp_path / 'latency.db'}",
        output=tmp_path / "latency.md",
        now_start=START,
    )
    assert latency.live is not None
    assert latency.live.fault_p95_ms >= 3000 > latency.live.baseline_p95_ms
    assert latency.live.wall_s < 10  # the slow half is sent all at once
    assert latency.is_passed
    assert "LatencyP95AboveThreshold" in " ".join(m for _, _, m in latency.timeline)

    tokens = run_drill(
        SCENARIOS["token-cost-spike"],
        store_url=f"sqlite:///{tmp_path / 'tokens.db'}",
        output=tmp_path / "tokens.md",
        now_start=START,
    )
    assert tokens.live is not None
    assert tokens.live.token_multiplier == pytest.approx(3.0, rel=0.05)
    assert tokens.is_passed
    assert "CostPerRequestAboveThreshold" in " ".join(m for _, _, m in tokens.timeline)


def test_bad_input_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for argv, message in (
        (["drill", "meteor-strike"], "known: error-spike"),
        (["drill", "error-spike", "--target", "https://staging.example"], "needs --gateway"),
        (["drill", "error-spike", "--target", "staging"], "demo or an http(s) URL"),
        (["drill", "error-spike", "--speed", "-1"], "--speed must be 0 or more"),
        (
            [
                "drill",
                "upstream-outage",
                "--target",
                "http://127.0.0.1:9",
                "--gateway",
                "http://127.0.0.1:9",
                "--speed",
                "10",
            ],
            "runs in real time",
        ),
    ):
        monkeypatch.setattr(sys, "argv", ["prodloop", *argv])
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code == 2, argv
        assert message in capsys.readouterr().err
    assert not (tmp_path / ".prodloop").exists()  # refused before anything ran


def test_a_url_target_without_tokens_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRODLOOP_API_TOKEN", raising=False)
    monkeypatch.setattr(sys, "argv", ["prodloop", *URL_TARGET])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "set PRODLOOP_API_TOKEN" in capsys.readouterr().err
