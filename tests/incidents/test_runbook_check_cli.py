"""`prodloop runbook check` names the config file, not just "config", when an SLO's
runbook link is stale or disagrees with the runbooks' front matter."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import run_cli

SHIPPED = Path(__file__).resolve().parents[2] / "ops" / "runbooks"
CONFIG = """
services:
  chat:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
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
      runbook: ops/runbooks/gone.md
"""


def test_stale_runbook_links_name_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "prodloop.yaml"
    config.write_text(CONFIG)
    done = run_cli("runbook", "check", "--dir", str(SHIPPED), "--config", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    *problems, summary = done.stdout.splitlines()
    assert problems == [
        f"{config}: SLO error-rate links runbook ops/runbooks/triage.md, but "
        "ErrorRateAboveThreshold is covered by rollback.md: alerts and incidents would disagree",
        f"{config}: SLO latency-p95 links runbook ops/runbooks/gone.md, which is not in the folder",
    ]
    assert summary.endswith(": 2 problems")
