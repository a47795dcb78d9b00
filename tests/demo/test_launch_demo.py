"""`prodloop demo --quick`: the whole launch on the embedded store, told from the data.

One run (through the CLI, as `make demo` runs it, with fewer requests) is shared by the
tests below, which read the story back from the demo's store and files.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from prodloop.config import load_config
from prodloop.releases.flags.store import get_flag
from prodloop.store import connect
from prodloop.store.schema import (
    analytics_events,
    experiments,
    feedback,
    incident_events,
    incidents,
    request_events,
    rollouts,
    service_versions,
    status_updates,
    users,
)
from tests.cli.conftest import PRODLOOP, run_cli
from tests.conftest import wait_for_port
from tests.support import free_port


@dataclass(frozen=True)
class Run:
    cwd: Path
    out: str
    engine: Engine

    @property
    def folder(self) -> Path:
        return self.cwd / ".prodloop" / "demo"

    def artifact(self, label: str) -> Path:
        """A path from the closing 'where everything is' list, relative to the run's cwd."""
        match = re.search(rf"^  {re.escape(label)}:\s+(\S+)$", self.out, re.MULTILINE)
        assert match, f"no '{label}' in the demo's summary"
        return self.cwd / match.group(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    cwd = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--quick", cwd=cwd, unset=("PRODLOOP_DATABASE_URL",))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    engine = connect(f"sqlite:///{cwd / '.prodloop' / 'demo' / 'prodloop.db'}")
    yield Run(cwd, result.stdout, engine)
    engine.dispose()


def test_the_traffic_went_through_the_gateway_with_users(run: Run) -> None:
    with run.engine.connect() as conn:
        rows = conn.execute(
            select(
                request_events.c.service,
                request_events.c.version,
                func.count(),
                func.count(func.distinct(request_events.c.user_id)),
            ).group_by(request_events.c.service, request_events.c.version)
        ).all()
        anonymous = conn.execute(
            select(func.count()).where(request_events.c.user_id.is_(None))
        ).scalar_one()
    seen = {(service, version): (count, people) for service, version, count, people in rows}
    assert set(seen) == {("chat", "v1"), ("chat", "v2"), ("chat", "v3"), ("chat-staging", "v1")}
    assert anonymous == 0  # every request named its user in x-prodloop-user
    assert seen[("chat", "v1")][1] >= 20  # a few dozen distinct users
    # The closing table is the gateway's own measurement, per service and version.
    table = run.out[run.out.rindex("by service and version:") :]
    for (service, version), (count, _) in seen.items():
        row = next(r for r in table.splitlines() if r.split()[:2] == [service, version])
        assert int(row.split()[2]) == count
    v2_row = next(r for r in table.splitlines() if r.split()[:2] == ["chat", "v2"])
    assert float(v2_row.split()[3].rstrip("%")) > 30  # the regressed version's error rate


def test_v2_rolled_back_and_v3_promoted(run: Run) -> None:
    with run.engine.connect() as conn:
        states = dict(conn.execute(select(rollouts.c.canary_version, rollouts.c.state)).all())
        weights = dict(
            conn.execute(
                select(service_versions.c.version, service_versions.c.weight).where(
                    service_versions.c.service == "chat"
                )
            ).all()
        )
    assert states == {"v2": "rolled_back", "v3": "promoted"}
    assert weights["v3"] == 100.0 and weights["v2"] == 0.0 and weights["v1"] == 0.0


def test_the_incident_ran_its_course(run: Run) -> None:
    with run.engine.connect() as conn:
        rows = conn.execute(select(incidents)).mappings().all()
        assert len(rows) == 1
        incident = rows[0]
        kinds = [
            kind
            for (kind,) in conn.execute(
                select(incident_events.c.kind)
                .where(incident_events.c.incident_id == incident["id"])
                .order_by(incident_events.c.at, incident_events.c.id)
            )
        ]
        updates = [
            status
            for (status,) in conn.execute(
                select(status_updates.c.status).where(
                    status_updates.c.incident_id == incident["id"]
                )
            )
        ]
    assert incident["service"] == "chat" and incident["is_drill"] is False
    for kind in ("detected", "paged", "acknowledged", "status_update", "resolved"):
        assert kind in kinds
    assert kinds.index("detected") < kinds.index("acknowledged") < kinds.index("resolved")
    assert updates == ["identified", "monitoring", "resolved"]
    assert incident["acknowledged_at"] - incident["detected_at"] <= 15 * 60
    assert incident["first_update_at"] - incident["detected_at"] <= 15 * 60


def test_the_postmortem_was_drafted(run: Run) -> None:
    text = run.artifact("post-mortem").read_text(encoding="utf-8")
    for section in (
        "## Summary",
        "## Impact",
        "## Trigger",
        "## Resolution",
        "## Detection",
        "## Action items",
        "## Lessons learned",
        "## Timeline",
    ):
        assert section in text
    assert "rolled canary v2 back" in text
    assert "| GH-101 |" in text


def test_users_fed_back_and_were_measured(run: Run) -> None:
    with run.engine.connect() as conn:
        negative_on_v2 = conn.execute(
            select(feedback.c.comment).where(
                feedback.c.is_negative.is_(True), feedback.c.version == "v2"
            )
        ).all()
        total = conn.execute(select(func.count()).select_from(feedback)).scalar_one()
        by_event = dict(
            conn.execute(
                select(
                    analytics_events.c.event,
                    func.count(func.distinct(analytics_events.c.distinct_id)),
                ).group_by(analytics_events.c.event)
            ).all()
        )
    assert total >= 10
    assert len(negative_on_v2) >= 3 and all(comment for (comment,) in negative_on_v2)
    assert by_event["first_question"] >= 5  # the success metric
    for event in ("$pageview", "signup", "thumbs_up"):
        assert by_event[event] >= 20


def test_the_launch_flag_serves_everyone_and_the_experiment_concluded(run: Run) -> None:
    flag = get_flag(run.engine, "launch")
    assert flag.is_enabled and flag.rollout is not None
    assert dict(flag.rollout.weights) == {"on": 100.0}
    with run.engine.connect() as conn:
        row = conn.execute(select(experiments)).mappings().one()
    assert row["concluded_at"] is not None
    assert row["verdict"] == "ship"
    result = json.loads(row["result"])
    assert result["winner"] == "detailed"
    assert all(variant["units"] >= 100 for variant in result["variants"])


def test_the_weekly_review_was_written_by_the_loop(run: Run) -> None:
    path = run.artifact("weekly review")
    text = path.read_text(encoding="utf-8")
    assert path.parent == run.folder / "reviews"
    assert path.with_suffix(".html").exists()
    assert text.startswith("# Weekly review 20")
    for part in (
        "## SLO attainment",
        "## Incidents",
        "## Delivery (DORA)",
        "## Feedback",
        "answer-style-detailed",
        "| #1 | SEV",
    ):
        assert part in text
    assert re.search(r"\| chat v2 \| \d+ ", text)  # figures per version


def test_the_launch_checklist_passes_and_the_post_is_written(run: Run) -> None:
    config = run.folder / "prodloop.yaml"
    result = run_cli("launch", "check", "--json", "--config", str(config), cwd=run.cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    checklist = json.loads(result.stdout)
    assert checklist["ok"] is True
    assert [line["name"] for line in checklist["lines"]] == [
        "staging",
        "success_metric",
        "canary",
        "slo_green",
        "feedback",
        "lead_time",
        "runbooks",
        "signoffs",
    ]
    post = run.artifact("launch post").read_text(encoding="utf-8")
    settings = load_config(str(config)).launch
    for url in (settings.docs_url, settings.status_url, settings.feedback_url):
        assert url and f"<{url}>" in post


def test_the_end_says_how_to_explore_it(run: Run) -> None:
    assert "prodloop up --config .prodloop/demo/prodloop.yaml" in run.out
    match = re.search(r"log in as (\S+) with password (\S+)", run.out)
    assert match
    with run.engine.connect() as conn:
        role = conn.execute(select(users.c.role).where(users.c.name == match.group(1))).scalar()
    assert role == "admin"
    for label in ("config", "post-mortem", "weekly review", "launch post", "drill report"):
        assert run.artifact(label).exists()
    assert not (run.cwd / "docs").exists() and not (run.cwd / "ops").exists()  # repo kept clean


def test_the_printed_command_opens_the_dashboard_with_the_printed_password(run: Run) -> None:
    match = re.search(r"log in as (\S+) with password (\S+)", run.out)
    assert match
    name, password = match.groups()
    command = re.search(r"^  (prodloop up --config \S+)$", run.out, re.MULTILINE)
    assert command
    control, gateway = free_port(), free_port()
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PRODLOOP_")},
        "PRODLOOP_CONTROL__PORT": str(control),
        "PRODLOOP_GATEWAY__PORT": str(gateway),
    }
    argv = [*PRODLOOP, *command.group(1).split()[1:]]
    proc = subprocess.Popen(
        argv, cwd=run.cwd, env=environ, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for_port(control, timeout_s=30)
        with httpx.Client(base_url=f"http://127.0.0.1:{control}") as client:
            form = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token
            login = client.post(
                "/login",
                data={"name": name, "password": password, "csrf_token": token.group(1)},
            )
            assert login.status_code == 303
            page = client.get("/incidents/1")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert page.status_code == 200
    assert "v2" in page.text and "acknowledged" in page.text
