"""A drill against a staging prodloop (`prodloop up` in a subprocess) over its API and
gateway, in real time; short windows keep it to a few seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from prodloop.cli.main import cli
from prodloop.incidents.drills import SCENARIOS
from prodloop.incidents.drills.remote import RemoteTarget, run_remote_drill
from prodloop.incidents.runbooks import load_runbooks
from tests.cli.conftest import PRODLOOP
from tests.conftest import wait_for_port
from tests.support import free_port

REPO_RUNBOOKS = Path(__file__).resolve().parents[2] / "ops" / "runbooks"
API_TOKEN = "staging-api-token"
GATEWAY_KEY = "staging-gateway-key"
# An alert over 5 s that fires after 1 s: detection within seconds. The threshold is
# high because a window starts at the minute its first second falls in (see
# slo.windows.trailing_window); at 50 % the errors of a short fault stop counting as
# soon as twice as many good requests went through.
STAGING = """
store: {{url: "sqlite:///{db}"}}
control: {{host: 127.0.0.1, port: {control_port}, api_tokens: ["${{T_API}}"],
          tick_interval_s: 0.25}}
gateway: {{host: 127.0.0.1, port: {gateway_port}}}
telemetry: {{flush_interval_s: 0.05}}
faults: {{enabled: true}}
services:
  chat:
    stable: v1
    keys: ["${{T_GW}}"]
    versions:
      v1: {{upstream: "{upstream}"}}
slos:
  objectives:
    - {{name: error-rate, kind: ratio, objective: 0.99, bad: errors, burn_rate_alerts: false,
       alert: {{above: 0.5, window: 5s, for: 1s}}}}
incidents: {{reminder_after: 1s, update_deadline: 2s}}
paging:
  notifiers: {{console: {{kind: console}}}}
  people: {{oncall: {{notify: [console]}}}}
  schedules:
    primary: {{rotation: daily, people: [oncall], start: 2026-01-01, handoff: "00:00"}}
  escalation_policies: {{chat: {{levels: [{{targets: ["schedule:primary"], after: 30m}}]}}}}
  routes:
    - {{match: {{severity: page}}, notifiers: [console], escalation_policy: chat}}
"""


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A staging prodloop (control plane + gateway + loop) over the fake upstream."""
    upstream_port, control_port, gateway_port = free_port(), free_port(), free_port()
    config = tmp_path / "staging.yaml"
    config.write_text(
        STAGING.format(
            db=tmp_path / "staging.db",
            control_port=control_port,
            gateway_port=gateway_port,
            upstream=f"http://127.0.0.1:{upstream_port}/v1",
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "T_API": API_TOKEN, "T_GW": GATEWAY_KEY}
    commands = (
        ["demo-upstream", "--profile", "fast", "--port", str(upstream_port)],
        ["up", "--config", str(config)],
    )
    started = [
        subprocess.Popen([*PRODLOOP, *args], env=env, stdout=subprocess.DEVNULL)
        for args in commands
    ]
    try:
        for port in (upstream_port, control_port, gateway_port):
            wait_for_port(port, timeout_s=30)
        yield f"http://127.0.0.1:{control_port}", f"http://127.0.0.1:{gateway_port}"
    finally:
        for process in started:
            process.terminate()
            process.wait(15)


def _api(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {API_TOKEN}"})


def test_an_outage_drill_against_staging(
    tmp_path: Path, staging: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api_url, gateway_url = staging
    # First a drill that cannot work (nothing listens at its gateway URL): it gives up,
    # and still removes its fault.
    dead = RemoteTarget(api_url, f"http://127.0.0.1:{free_port()}", API_TOKEN, GATEWAY_KEY)
    lines: list[str] = []
    failed = run_remote_drill(
        SCENARIOS["latency-regression"], dead, echo=lines.append, output=tmp_path / "failed.md",
        limit_s=1.0,
    )  # fmt: skip
    assert not failed.is_passed and failed.incident_id is None
    assert failed.notes == ("No incident opened within 1s.",)
    with _api(api_url) as http:
        assert http.get("/api/v1/faults").json()["rules"] == []
    assert any(line.startswith("fault removed") for line in lines)

    shutil.copytree(REPO_RUNBOOKS, tmp_path / "ops" / "runbooks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRODLOOP_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("PRODLOOP_GATEWAY_KEY", GATEWAY_KEY)
    argv = ["drill", "upstream-outage", "--target", api_url, "--gateway", gateway_url]
    result = CliRunner().invoke(cli, [*argv, "--output", "staging.md"])
    assert result.exit_code == 0, result.output
    assert "acknowledged as drill-oncall" in result.output
    text = (tmp_path / "staging.md").read_text(encoding="utf-8")
    assert "Result: **passed**" in text
    assert f"real time against {api_url}" in text
    timeline = text.split("## Timeline", 1)[1]
    kinds = [row.split("|")[2].strip() for row in timeline.splitlines() if row.startswith("| +")]
    order = ["detected", "acknowledged", "drill_fault_off", "mitigation_done", "resolved"]
    assert [kind for kind in kinds if kind in order] == order
    assert "| detect |" in text and "ops/runbooks/rollback.md" in text
    with _api(api_url) as http:
        assert http.get("/api/v1/faults").json()["rules"] == []  # the drill removed it
        (incident,) = http.get("/api/v1/incidents").json()["incidents"]
    assert incident["status"] == "resolved" and incident["acknowledged_at"] is not None
    assert incident["is_drill"] is True  # never on the staging status page
    # What the gateway answered while the fault was on was what the alert saw.
    assert "ErrorRateAboveThreshold fired on chat" in text
    (rollback,) = [
        r for r in load_runbooks(tmp_path / "ops" / "runbooks")[0] if r.name == "rollback"
    ]
    assert rollback.last_drilled is not None
