"""The launch checklist: every line from data, through `prodloop launch check`."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update

from prodloop.cli.main import cli
from prodloop.releases.control import split_traffic
from prodloop.reviews.checklist import check_launch
from prodloop.store.schema import (
    analytics_events,
    deployments,
    feedback,
    incidents,
    launch_signoffs,
)
from prodloop.telemetry.rollups import write_events
from tests.cli.conftest import run_cli
from tests.reviews.launch_data import (
    ROOT,
    STAGING,
    LaunchStore,
    launch_store,
    make_launch_ready,
    request,
)

LINES = [
    "staging",
    "success_metric",
    "canary",
    "slo_green",
    "feedback",
    "lead_time",
    "runbooks",
    "signoffs",
]


@pytest.fixture
def ready(tmp_path: Path) -> tuple[LaunchStore, float]:
    store = launch_store(tmp_path)
    now = time.time()
    make_launch_ready(store, now)
    return store, now


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_every_line_passes_on_launch_ready_data(store_url: str, tmp_path: Path) -> None:
    store = launch_store(tmp_path, store_url)
    now = time.time()
    make_launch_ready(store, now)
    checklist = check_launch(store.engine, store.config, now)
    assert [line.name for line in checklist.lines] == LINES
    assert checklist.ok and checklist.failing == []
    evidence = {line.name: line.evidence for line in checklist.lines}
    # 50 h of staging traffic, measured from the hourly rollups: the first bucket starts
    # up to an hour before the first request, whatever the minute of `now`.
    ran = re.search(r"\((\d+\.\d) h\); no SEV1 incident in the last 48 h", evidence["staging"])
    assert ran is not None and 50.0 <= float(ran.group(1)) <= 51.0, evidence["staging"]
    assert evidence["success_metric"] == "6 distinct users sent 'first_question' (need ≥ 5)"
    assert "promoted by the rollout controller" in evidence["canary"]
    assert "serves 100 %" in evidence["canary"]
    assert "error-rate: error_rate 0.00 % ≤ 1.00 %" in evidence["slo_green"]
    assert evidence["feedback"] == "12 submissions (need ≥ 10)"
    assert "11 min (≤ 30m); 0 failed of 6 requests during the deploy" in evidence["lead_time"]
    assert "rollback drilled" in evidence["runbooks"] and "triage drilled" in evidence["runbooks"]
    assert "product: product-lead" in evidence["signoffs"]


def test_launch_check_exits_0_and_prints_each_line_with_its_evidence(
    ready: tuple[LaunchStore, float],
) -> None:
    store, _ = ready
    done = run_cli("launch", "check", "--config", str(store.config_file))
    assert done.returncode == 0, done.stdout + done.stderr
    for name in LINES:
        assert f"PASS  {name}" in done.stdout
    assert "FAIL" not in done.stdout
    assert "12 submissions (need ≥ 10)" in done.stdout
    assert "launch checklist: all 8 lines pass" in done.stdout


def _staging_sev1(store: LaunchStore, now: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            insert(incidents).values(
                service=STAGING, title="staging answers 500", severity="SEV1",
                status="resolved", impact="critical", detected_at=now - 5 * 3600.0,
                resolved_at=now - 4 * 3600.0, created_at=now - 5 * 3600.0,
                updated_at=now - 4 * 3600.0,
            )
        )  # fmt: skip


def _four_users(store: LaunchStore, now: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            delete(analytics_events).where(analytics_events.c.distinct_id.in_(["user-0", "user-1"]))
        )


def _manual_weights(store: LaunchStore, now: float) -> None:
    split_traffic(store.engine, store.config, "chat", {"v1": 50.0, "v2": 50.0}, now, by="bob")


def _errors_in_production(store: LaunchStore, now: float) -> None:
    write_events(store.engine, [request(now - 3600.0 + i, error=True) for i in range(60)])


def _nine_feedback(store: LaunchStore, now: float) -> None:
    with store.engine.begin() as conn:
        ids = [row[0] for row in conn.execute(select(feedback.c.id).limit(3))]
        conn.execute(delete(feedback).where(feedback.c.id.in_(ids)))


def _slow_merge(store: LaunchStore, now: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(deployments).values(merged_at=deployments.c.merged_at - 3600.0))


def _failed_request_during_deploy(store: LaunchStore, now: float) -> None:
    with store.engine.connect() as conn:
        created_at, live_at = conn.execute(
            select(deployments.c.created_at, deployments.c.live_at)
        ).one()
    write_events(store.engine, [request((created_at + live_at) / 2, version="v2", error=True)])


def _undrilled_runbook(store: LaunchStore, now: float) -> None:
    shutil.copy(ROOT / "ops" / "runbooks" / "rollback.md", store.folder / "runbooks")


def _no_product_signoff(store: LaunchStore, now: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(launch_signoffs).where(launch_signoffs.c.role == "product"))


BREAKS: list[tuple[str, Callable[[LaunchStore, float], None], str]] = [
    ("staging", _staging_sev1, "SEV1 incident in the last 48 h: #1 staging answers 500"),
    ("success_metric", _four_users, "4 distinct users sent 'first_question' (need ≥ 5)"),
    ("canary", _manual_weights, "now serves 50 % (weights were changed by hand)"),
    ("slo_green", _errors_in_production, "SLOs missed over"),
    ("feedback", _nine_feedback, "9 submissions (need ≥ 10)"),
    ("lead_time", _slow_merge, "1.2 h (> 30m)"),
    ("lead_time", _failed_request_during_deploy, "1 failed of 7 requests during the deploy"),
    ("runbooks", _undrilled_runbook, "runbook rollback (covers"),
    ("signoffs", _no_product_signoff, "missing: product"),
]


@pytest.mark.parametrize(
    ("name", "breaks", "evidence"), BREAKS, ids=[f.__name__.strip("_") for _, f, _ in BREAKS]
)
def test_one_broken_criterion_fails_exactly_its_line(
    ready: tuple[LaunchStore, float],
    name: str,
    breaks: Callable[[LaunchStore, float], None],
    evidence: str,
) -> None:
    store, now = ready
    breaks(store, now)
    code, out, _ = invoke("launch", "check", "--config", str(store.config_file))
    assert code == 1, out
    failing = [line.split()[1] for line in out.splitlines() if line.startswith("FAIL")]
    assert failing == [name]
    assert evidence in out
    assert f"launch checklist: 1 of 8 failing: {name}" in out


def test_staging_line_fails_without_a_staging_service(tmp_path: Path) -> None:
    store = launch_store(tmp_path)
    text = store.config_file.read_text().replace("  staging_service: chat-staging\n", "")
    store.config_file.write_text(text)
    code, out, _ = invoke("launch", "check", "--config", str(store.config_file), "--json")
    assert code == 1
    lines = {line["name"]: line for line in json.loads(out)["lines"]}
    assert lines["staging"]["ok"] is False
    assert lines["staging"]["evidence"] == "no launch.staging_service configured"
    assert lines["canary"]["evidence"] == "no deployment of 'chat' recorded"
    assert lines["signoffs"]["evidence"] == "missing: engineering, product, operations"


def test_signoff_records_a_role_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    store = launch_store(tmp_path)
    config = str(store.config_file)
    code, out, _ = invoke(
        "launch", "signoff", "--by", "Ada", "--role", "product", "--note", "ok", "--config", config
    )
    assert code == 0
    assert out.startswith("Ada signed off as product at ")
    refused = run_cli("launch", "signoff", "--by", "Ada", "--role", "legal", "--config", config)
    assert refused.returncode == 2
    assert "unknown role 'legal' (roles: engineering, product, operations)" in refused.stderr
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(launch_signoffs.c.by, launch_signoffs.c.role, launch_signoffs.c.note)
        ).all()
    assert [tuple(row) for row in rows] == [("Ada", "product", "ok")]
