"""`prodloop slo export` and `prodloop export grafana`, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from prodloop.cli.main import cli
from tests.support import require_binary

CONFIG = """
services:
  chat:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "prodloop.yaml"
    path.write_text(CONFIG)
    return path


def prodloop(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "PRODLOOP_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "prodloop.cli", *args],
        capture_output=True, text=True, cwd=cwd, env=environ, timeout=120,
    )  # fmt: skip


def test_prometheus_rules_on_stdout_pass_promtool(config_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["slo", "export", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    rules = yaml.safe_load(result.output)
    alerts = {rule["alert"] for g in rules["groups"] for rule in g["rules"] if "alert" in rule}
    assert "ErrorRateAboveThreshold" in alerts and "SuccessRateBudgetBurn" in alerts
    promtool = require_binary("promtool")
    path = tmp_path / "rules.yml"
    path.write_text(result.output)
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_openslo_to_a_file(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "slos.yaml"
    result = CliRunner().invoke(
        cli,
        ["slo", "export", "--format", "openslo", "--output", str(out), "--config",
         str(config_file)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote OpenSLO documents to {out}\n"
    kinds = [doc["kind"] for doc in yaml.safe_load_all(out.read_text())]
    assert kinds.count("SLO") == 5  # four SLOs and the alert-only latency one
    assert kinds[0] == "Service"


def test_grafana_dashboard(config_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "grafana", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    dashboard = json.loads(result.output)
    assert dashboard["schemaVersion"] == 39
    out = tmp_path / "dashboard.json"
    written = CliRunner().invoke(cli, ["export", "grafana", "-o", str(out)])
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text())["uid"] == "prodloop-slos"


def test_bad_input_exits_2_with_a_message(config_file: Path, tmp_path: Path) -> None:
    unknown = prodloop("slo", "export", "--format", "nagios", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "'nagios' is not one of 'prometheus', 'openslo'" in unknown.stderr
    empty = tmp_path / "empty"
    empty.mkdir()  # no prodloop.yaml here: the built-in defaults, which name no service
    no_services = prodloop("slo", "export", "--format", "openslo", cwd=empty)
    assert no_services.returncode == 2
    assert "services" in no_services.stderr and "Traceback" not in no_services.stderr
    unwritable = prodloop(
        "export",
        "grafana",
        "--config",
        str(config_file),
        "-o",
        str(tmp_path / "no" / "x.json"),
        cwd=tmp_path,
    )
    assert unwritable.returncode == 2
    assert "--output: cannot write" in unwritable.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("slos:\n  objectives:\n    - {name: x, kind: ratio, objective: 1.5}\n")
    invalid = prodloop("slo", "export", "--config", str(broken), cwd=tmp_path)
    assert invalid.returncode == 2
    assert "slos.objectives.0.objective" in invalid.stderr
