"""Drills end to end: the CLI runs a scenario through the loop on a demo store."""

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
    kinds = _kinds_in_order(text)
    assert kinds.index("detected") < kinds.index("deadline_template") < kinds.index("resolved")
    assert "the rollout controller rolled canary v2 back" in text
    assert "| detect | 165 s | 300 s | yes |" in text
    assert "| first update | 900 s | 900 s | yes |" in text
    assert "Recorded on runbook `ops/runbooks/rollback.md`." in text
    (rollback,) = [
        r for r in load_runbooks(tmp_path / "ops" / "runbooks")[0] if r.name == "rollback"
    ]
    assert rollback.last_drilled is not None


def test_upstream_outage_is_a_drill_only_on_the_drill_view(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'drill.db'}"
    report = run_drill(
        SCENARIOS["upstream-outage"], store_url=store_url, output=tmp_path / "outage.md"
    )
    assert report.is_passed
    figures = {m.name: m.seconds for m in report.measures}
    assert figures == {
        "detect": 75.0,
        "page": 75.0,
        "acknowledge": 75.0,
        "mitigate": 420.0,  # the fault goes off at once; the 5-minute window then clears
        "first update": 900.0,
    }
    kinds = [kind for _, kind, _ in report.timeline]
    assert kinds[0] == "detected" and kinds[-1] == "resolved"
    assert kinds.index("mitigation_started") < kinds.index("mitigation_done")
    assert report.report_path == tmp_path / "outage.md"
    assert "| mitigate | 420 s | 1800 s | yes |" in report.report_path.read_text(encoding="utf-8")

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


def test_bad_input_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for argv, message in (
        (["drill", "meteor-strike"], "known: error-spike"),
        (["drill", "error-spike", "--target", "https://staging.example"], "not supported yet"),
    ):
        monkeypatch.setattr(sys, "argv", ["prodloop", *argv])
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / ".prodloop").exists()  # refused before anything ran
