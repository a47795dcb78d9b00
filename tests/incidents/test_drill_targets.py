"""Drill targets in runbook front matter: parsed as durations, checked with file and line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from prodloop.cli.main import cli
from prodloop.incidents.drills import drill_targets
from prodloop.incidents.runbooks import load_runbooks, parse_runbook

SHIPPED = Path(__file__).resolve().parents[2] / "ops" / "runbooks"
HEAD = "---\ntitle: Triage\nowner: on-call\nalerts: [LatencyP95AboveThreshold]\n"


def test_targets_are_durations_and_the_rest_come_from_the_guide() -> None:
    runbook = parse_runbook(HEAD + "targets:\n  detect: 2m\n  first_update: 1h30m\n---\n", "t.md")
    assert runbook.targets == {"detect": 120.0, "first_update": 5400.0}
    targets = drill_targets(runbook)
    assert (targets["detect"].seconds, targets["detect"].source) == (120.0, "t.md")
    assert (targets["page"].seconds, targets["page"].source) == (300.0, "the guide")
    assert (targets["mitigate"].seconds, targets["mitigate"].source) == (1800.0, "the guide")
    assert targets["acknowledge"].seconds is None  # the guide sets none
    assert runbook.to_dict()["targets"] == {"detect": 120.0, "first_update": 5400.0}


def test_every_shipped_runbook_sets_the_guides_targets() -> None:
    runbooks, problems = load_runbooks(SHIPPED)
    assert problems == [] and len(runbooks) == 3
    for runbook in runbooks:
        assert runbook.targets == {
            "detect": 300.0,
            "page": 300.0,
            "acknowledge": 900.0,
            "mitigate": 1800.0,
            "first_update": 900.0,
        }, runbook.path


def test_runbook_check_names_the_file_and_line_of_a_bad_target(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    cases = {
        "duration.md": ("targets:\n  detect: 5m\n  page: soon\n", 7, "target 'page' must be a "
                        "duration like 5m or 90s, not 'soon'"),
        "name.md": ("targets:\n  resolve: 1h\n", 6, "unknown target 'resolve' (use detect, page, "
                    "acknowledge, mitigate, first_update)"),
        "bare.md": ("targets:\n  detect: 5\n", 6, "target 'detect' must be a duration like 5m or "
                    "90s, not 5"),
        "list.md": ("targets: [5m]\n", 5, "'targets' must be a mapping of durations"),
    }  # fmt: skip
    for name, (front, _, _) in cases.items():
        (folder / name).write_text(HEAD + front + "---\nBody.\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["runbook", "check", "--dir", str(folder)])
    assert result.exit_code == 1
    for name, (_, line, message) in cases.items():
        assert f"{folder / name}:{line}: {message}" in result.output, result.output
