from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from prodloop.alerting.rules import alert_rules
from prodloop.cli.main import cli
from prodloop.config import Config, parse_config
from prodloop.incidents.runbook_html import render_html
from prodloop.incidents.runbooks import (
    RunbookError,
    check_runbooks,
    command_problem,
    load_runbooks,
    parse_matchers,
    parse_runbook,
    record_drill,
    runbook_for,
    runbook_link,
)
from tests.cli.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "ops" / "runbooks"

CONFIG = """
services:
  chat:
    stable: v1
    versions:
      v1:
        upstream: http://127.0.0.1:9/v1
"""

GOOD = """---
title: Error spikes
owner: team-chat
alerts:
  - ErrorRateAboveThreshold
  - 'service="chat", alertname=~".+BudgetBurn"'
steps:
  - title: Look at the alerts
    run: prodloop alerts
  - Think about it
last_drilled: 2026-11-20
---

# Error spikes

Run `prodloop stats --since 5m` first.

```
$ prodloop rollback SERVICE
```
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _config(text: str = CONFIG) -> Config:
    return parse_config(text, path="prodloop.yaml")


def test_front_matter_is_parsed_with_the_lines_of_its_commands() -> None:
    runbook = parse_runbook(GOOD, "ops/runbooks/errors.md")
    assert runbook.name == "errors"
    assert runbook.title == "Error spikes"
    assert runbook.owner == "team-chat"
    assert runbook.last_drilled == dt.date(2026, 11, 20)
    assert [selector.text for selector in runbook.alerts] == [
        "ErrorRateAboveThreshold",
        'service="chat", alertname=~".+BudgetBurn"',
    ]
    assert [(step.title, step.run) for step in runbook.steps] == [
        ("Look at the alerts", "prodloop alerts"),
        ("Think about it", None),
    ]
    assert [(c.text, c.line) for c in runbook.commands()] == [
        ("prodloop alerts", 9),
        ("prodloop stats --since 5m", 16),
        ("prodloop rollback SERVICE", 19),
    ]
    assert runbook.body.startswith("\n# Error spikes")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("# no front matter\n", 1, "no front matter"),
        ("---\ntitle: x\n", 1, "never closed"),
        ("---\ntitle: x\nowner: [unclosed\nalerts: []\n---\n", 4, "invalid YAML"),
        ("---\ntitle: x\nalerts: []\n---\n", 2, "missing field 'owner'"),
        ("---\ntitle: x\nowner: y\nalerts: []\nalert: Foo\n---\n", 5, "unknown field 'alert'"),
        ("---\ntitle: x\nowner: y\nalerts:\n  - ok\n  - 'a=~\"(\"'\n---\n", 6, "regular"),
        ("---\ntitle: x\nowner: y\nalerts:\n  - 'not a matcher!'\n---\n", 5, "not an alertname"),
        ("---\ntitle: ''\nowner: y\nalerts: []\n---\n", 2, "'title' must be"),
        ("---\ntitle: x\nowner: y\nalerts: []\nlast_drilled: soon\n---\n", 5, "last_drilled"),
        (
            "---\ntitle: x\nowner: y\nalerts: []\nsteps:\n  - title: a\n    run: ls -l\n---\n",
            6,
            "not a prodloop command",
        ),
        ("---\n- a\n- b\n---\n", 2, "must be a mapping"),
        (
            "---\ntitle: x\nowner: y\nalerts: []\nlast_drilled: 2026-13-45\n---\n",
            2,
            "invalid value",
        ),
    ],
)
def test_broken_front_matter_names_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(text, "ops/runbooks/bad.md")
    assert caught.value.line == line
    assert words in caught.value.message
    assert str(caught.value).startswith(f"ops/runbooks/bad.md:{line}: ")


def test_loading_a_folder_reports_broken_files_and_keeps_the_good_ones(tmp_path: Path) -> None:
    _write(tmp_path, "good.md", GOOD)
    _write(tmp_path, "bad.md", "---\ntitle: x\nowner: [\n---\n")
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00")
    runbooks, problems = load_runbooks(tmp_path)
    assert [runbook.name for runbook in runbooks] == ["good"]
    assert sorted((Path(p.path).name, p.line) for p in problems) == [
        ("bad.md", 3),
        ("binary.md", None),
    ]


def test_matchers_accept_alertnames_and_prometheus_style_matchers() -> None:
    (only,) = parse_matchers("ErrorRateAboveThreshold")
    assert (only.label, only.op, only.value) == ("alertname", "=", "ErrorRateAboveThreshold")
    matchers = parse_matchers('{slo="error-rate", severity!=ticket, alertname!~"Canary.*"}')
    assert [(m.label, m.op, m.value) for m in matchers] == [
        ("slo", "=", "error-rate"),
        ("severity", "!=", "ticket"),
        ("alertname", "!~", "Canary.*"),
    ]
    labels = {"alertname": "ErrorRateBudgetBurn", "slo": "error-rate", "severity": "page"}
    assert all(m.matches(labels) for m in matchers)
    assert not matchers[1].matches({**labels, "severity": "ticket"})


def test_runbook_for_picks_the_most_specific_runbook() -> None:
    catch_all = parse_runbook(
        "---\ntitle: All\nowner: o\nalerts:\n  - 'alertname=~\".+\"'\n---\n", "all.md"
    )
    errors = parse_runbook(
        "---\ntitle: Errors\nowner: o\nalerts:\n  - 'slo=\"error-rate\"'\n---\n", "errors.md"
    )
    chat = parse_runbook(
        "---\ntitle: Chat\nowner: o\nalerts:\n"
        "  - {service: chat, alertname: ErrorRateAboveThreshold}\n---\n",
        "chat.md",
    )
    books = [catch_all, errors, chat]
    error_labels = {"alertname": "ErrorRateAboveThreshold", "service": "chat", "slo": "error-rate"}
    assert runbook_for(error_labels, books) is chat
    assert runbook_for({**error_labels, "service": "search"}, books) is errors
    assert runbook_for({"alertname": "LatencyP95AboveThreshold"}, books) is catch_all
    assert runbook_for({"alertname": "LatencyP95AboveThreshold"}, [errors, chat]) is None


def test_runbook_link_is_the_covering_runbooks_path_under_the_base_url() -> None:
    runbooks, _ = load_runbooks(SHIPPED)
    labels = {"alertname": "ErrorRateBudgetBurn", "slo": "error-rate", "service": "chat"}
    assert runbook_link(labels, runbooks) == str(SHIPPED / "rollback.md")
    relative = [parse_runbook(GOOD, "ops/runbooks/errors.md")]
    labels = {"alertname": "ErrorRateAboveThreshold"}
    assert (
        runbook_link(labels, relative, "https://git.example.com/app/blob/main/")
        == "https://git.example.com/app/blob/main/ops/runbooks/errors.md"
    )
    assert runbook_link({"alertname": "Other"}, relative, "https://x") is None


def test_record_drill_sets_last_drilled_and_keeps_the_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "errors.md", GOOD)
    updated = record_drill(path, dt.date(2026, 12, 1))
    assert updated.last_drilled == dt.date(2026, 12, 1)
    assert path.read_text() == GOOD.replace("2026-11-20", "2026-12-01")
    never = _write(tmp_path, "never.md", "---\ntitle: x\nowner: y\nalerts: []\n---\nbody\n")
    assert record_drill(never, dt.date(2026, 12, 2)).last_drilled == dt.date(2026, 12, 2)
    assert never.read_text().endswith("last_drilled: 2026-12-02\n---\nbody\n")
    broken = _write(tmp_path, "broken.md", "no front matter\n")
    with pytest.raises(RunbookError):
        record_drill(broken, dt.date(2026, 12, 2))
    assert broken.read_text() == "no front matter\n"


def test_shipped_runbooks_cover_every_rule_of_the_default_slos() -> None:
    runbooks, problems = load_runbooks(SHIPPED)
    assert problems == []
    assert sorted(runbook.name for runbook in runbooks) == ["restart", "rollback", "triage"]
    config = _config()
    covering = {
        rule.alertname: runbook_for(rule.labels, runbooks).name  # type: ignore[union-attr]
        for rule in alert_rules(config)
    }
    assert covering == {
        "LatencyP95AboveThreshold": "triage",
        "LatencyP95BudgetBurn": "triage",
        "ErrorRateAboveThreshold": "rollback",
        "ErrorRateBudgetBurn": "rollback",
        "CostPerRequestAboveThreshold": "triage",
        "SuccessRateBudgetBurn": "triage",
    }
    assert check_runbooks(runbooks, config, cli) == []


def test_check_finds_an_uncovered_alert_and_commands_the_cli_lacks(tmp_path: Path) -> None:
    text = (
        "---\ntitle: Latency\nowner: o\nalerts:\n  - LatencyP95AboveThreshold\n"
        "steps:\n  - title: Fly\n    run: prodloop teleport SERVICE\n---\n"
        "Then `prodloop stats --colour red` and `prodloop alerts ack 7 --by me`.\n"
    )
    runbook = parse_runbook(text, "latency.md")
    problems = check_runbooks([runbook], _config(), cli)
    messages = [str(problem) for problem in problems]
    assert "config: alert ErrorRateAboveThreshold (services: chat) has no runbook" in "\n".join(
        messages
    )
    assert not any("LatencyP95AboveThreshold" in message for message in messages)
    # One line per alertname, however many burn-rate windows share it.
    assert (
        "config: alert ErrorRateBudgetBurn (services: chat) has no runbook: list it under "
        "`alerts:`" in messages
    )
    assert "latency.md:8: `prodloop teleport SERVICE`: `prodloop` has no command 'teleport'" in (
        messages
    )
    assert any(m.startswith("latency.md:10:") and "no option --colour" in m for m in messages)
    assert not any("alerts ack" in message for message in messages)
    # The default SLOs link triage.md and rollback.md, which are not in this set.
    assert "config: SLO error-rate links runbook ops/runbooks/rollback.md, which is not in" in (
        "\n".join(messages)
    )


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("prodloop alerts", None),
        ("prodloop alerts --state all", None),
        ("prodloop alerts --config x.yaml ack 3 --by me", None),
        ("prodloop stats --json | jq .", None),
        ("prodloop slo", "needs a subcommand"),
        ("prodloop slo stauts", "has no command 'stauts'"),
        ("prodloop rollback chat --force", "has no option --force"),
        ("prodloop alerts 'unclosed", "cannot split"),
    ],
)
def test_commands_are_resolved_through_the_click_tree(command: str, problem: str | None) -> None:
    found = command_problem(command, cli)
    assert found is None if problem is None else (found is not None and problem in found)


def test_render_html_has_titles_steps_and_escapes_front_matter() -> None:
    runbook = parse_runbook(GOOD.replace("Error spikes", "Errors <b>&</b> spikes"), "e.md")
    document = render_html([runbook])
    assert "<h1>Errors &lt;b&gt;&amp;&lt;/b&gt; spikes</h1>" in document
    assert "<code>prodloop alerts</code>" in document
    assert "<pre><code>$ prodloop rollback SERVICE" in document
    assert "Content-Security-Policy" in document


def test_cli_check_passes_on_the_shipped_runbooks(tmp_path: Path) -> None:
    config = _write(tmp_path, "prodloop.yaml", CONFIG)
    done = run_cli("runbook", "check", "--config", str(config), cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 runbooks" in done.stdout and "every alert rule has a runbook" in done.stdout
    # The default config (no services, no file) is checked too.
    bare = run_cli(
        "runbook", "check", "--dir", str(SHIPPED), cwd=tmp_path, unset=("PRODLOOP_CONFIG",)
    )
    assert bare.returncode == 0, bare.stdout + bare.stderr


def test_cli_check_exits_1_on_problems_and_2_on_bad_input(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    _write(folder, "only.md", "---\ntitle: x\nowner: y\nalerts: [\n---\n")
    failed = run_cli("runbook", "check", "--dir", str(folder), cwd=tmp_path)
    assert failed.returncode == 1
    assert f"{folder / 'only.md'}:4: invalid YAML" in failed.stdout
    assert "has no runbook" in failed.stdout
    assert "Traceback" not in failed.stderr
    missing = run_cli("runbook", "check", "--dir", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "is not a folder of runbooks" in missing.stderr
    bad_config = _write(tmp_path, "broken.yaml", "services: [\n")
    broken = run_cli("runbook", "check", "--dir", str(SHIPPED), "--config", str(bad_config))
    assert broken.returncode == 2 and "Traceback" not in broken.stderr


def test_cli_list_and_show(tmp_path: Path) -> None:
    config = _write(tmp_path, "prodloop.yaml", CONFIG)
    listed = run_cli("runbook", "list", "--json", "--config", str(config), cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    items = {item["name"]: item for item in json.loads(listed.stdout)["runbooks"]}
    assert items["rollback"]["covers"] == ["ErrorRateAboveThreshold", "ErrorRateBudgetBurn"]
    assert items["triage"]["steps"][0]["run"] == "prodloop alerts ack ID --by YOUR_NAME"
    table = run_cli("runbook", "list", "--config", str(config), cwd=ROOT)
    assert "Roll back a bad version" in table.stdout
    shown = run_cli("runbook", "show", "rollback.md", cwd=ROOT)
    assert shown.returncode == 0
    assert shown.stdout.startswith("Roll back a bad version\nowner: on-call\n")
    assert "$ prodloop rollback SERVICE --by YOUR_NAME" in shown.stdout
    unknown = run_cli("runbook", "show", "nope", cwd=ROOT)
    assert unknown.returncode == 2 and "no runbook 'nope'" in unknown.stderr


def test_cli_export_html(tmp_path: Path) -> None:
    out = tmp_path / "runbooks.html"
    done = run_cli("runbook", "export", "--html", "--output", str(out), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    document = out.read_text(encoding="utf-8")
    for title in ("Triage an alert", "Roll back a bad version", "Restart prodloop"):
        assert title in document
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = run_cli("runbook", "export", "--dir", str(empty), cwd=tmp_path)
    assert refused.returncode == 2 and "no runbooks" in refused.stderr


def test_check_finds_slo_runbook_links_that_disagree_with_the_front_matter() -> None:
    runbooks, _ = load_runbooks(SHIPPED)
    config = _config(
        CONFIG
        + """
slos:
  objectives:
    - name: error-rate
      kind: ratio
      objective: 0.99
      alert: {above: 0.03}
      runbook: ops/runbooks/triage.md
    - name: latency-p95
      kind: latency
      threshold_ms: 2000
      runbook: https://wiki.example.com/latency
"""
    )
    messages = [str(problem) for problem in check_runbooks(runbooks, config, cli)]
    assert messages == [
        "config: SLO error-rate links runbook ops/runbooks/triage.md, but "
        "ErrorRateAboveThreshold is covered by rollback.md: alerts and incidents would disagree"
    ]
