"""Notifications link the runbook whose front matter covers the alert, not only the SLO's."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from prodloop.alerting import runbook_links
from prodloop.alerting.acks import get_alert
from prodloop.alerting.paging import alert_runbook_url, alert_view, run_paging
from prodloop.alerting.runbook_links import cached_runbooks, covering_runbook_link
from prodloop.config import Config, parse_config
from prodloop.incidents import runbooks as incident_runbooks
from prodloop.store import connect
from tests.alerting.recorder import (
    T0,
    WEBHOOK_PATH,
    Recorder,
    environ,
    insert_alert,
    paging_yaml,
    recording_server,
)

LABELS = {"alertname": "ErrorRateAboveThreshold", "service": "chat", "slo": "error-rate"}
SERVER_ERRORS = """---
title: Server errors
owner: on-call
alerts:
  - 'slo="error-rate"'
---
Roll back first.
"""
LATENCY = """---
title: Slow answers
owner: on-call
alerts:
  - LatencyP95AboveThreshold
---
"""


def write_runbooks(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "server-errors.md").write_text(SERVER_ERRORS, encoding="utf-8")
    (folder / "latency.md").write_text(LATENCY, encoding="utf-8")
    return folder


def with_runbooks(config: Config, folder: Path | None, base_url: str | None = None) -> Config:
    alerts = config.alerts.model_copy(
        update={
            "runbooks_dir": None if folder is None else str(folder),
            "runbook_base_url": base_url,
        }
    )
    return config.model_copy(update={"alerts": alerts})


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'prodloop.db'}")
    yield engine
    engine.dispose()


def test_the_covering_runbook_wins_over_the_slo_link(tmp_path: Path) -> None:
    folder = write_runbooks(tmp_path / "runbooks")
    link = covering_runbook_link(LABELS, folder, None, "ops/runbooks/triage.md")
    assert link == str(folder / "server-errors.md")
    with_base = covering_runbook_link(LABELS, folder, "https://git.example/", "triage.md")
    assert with_base == f"https://git.example/{str(folder / 'server-errors.md').lstrip('/')}"


def test_the_slo_link_stays_when_nothing_covers_the_alert(tmp_path: Path) -> None:
    folder = write_runbooks(tmp_path / "runbooks")
    labels = {"alertname": "CostPerRequestAboveThreshold", "slo": "cost-per-request"}
    assert covering_runbook_link(labels, folder, None, "ops/runbooks/triage.md") == (
        "ops/runbooks/triage.md"
    )
    assert covering_runbook_link(labels, folder, None, None) is None
    assert covering_runbook_link(LABELS, None, None, "ops/x.md") == "ops/x.md"
    assert covering_runbook_link(LABELS, tmp_path / "missing", None, "ops/x.md") == "ops/x.md"


def test_an_slo_link_naming_the_covering_runbook_is_kept_as_it_is(tmp_path: Path) -> None:
    folder = write_runbooks(tmp_path / "runbooks")
    link = "https://runbooks.example/server-errors.md"
    assert covering_runbook_link(LABELS, folder, None, link) == link


def test_runbooks_are_read_once_and_again_when_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_runbooks(tmp_path / "runbooks")
    reads: list[Path] = []
    real = runbook_links.load_runbooks

    def counting(root: Path | str) -> tuple[list[runbook_links.Runbook], list[object]]:
        reads.append(Path(root))
        runbooks, problems = real(root)
        return runbooks, list(problems)

    monkeypatch.setattr(runbook_links, "load_runbooks", counting)
    first = cached_runbooks(folder)
    for _ in range(5):
        assert cached_runbooks(folder) is first
    assert len(reads) == 1
    assert sorted(runbook.name for runbook in first) == ["latency", "server-errors"]

    edited = folder / "server-errors.md"
    edited.write_text(SERVER_ERRORS.replace("Server errors", "Errors"), encoding="utf-8")
    stat = edited.stat()
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = cached_runbooks(folder)
    assert len(reads) == 2
    assert {runbook.title for runbook in again} == {"Errors", "Slow answers"}

    (folder / "latency.md").unlink()
    assert [runbook.name for runbook in cached_runbooks(folder)] == ["server-errors"]
    assert len(reads) == 3


def test_a_broken_runbook_is_left_out_without_failing(tmp_path: Path) -> None:
    folder = write_runbooks(tmp_path / "runbooks")
    (folder / "broken.md").write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    assert sorted(runbook.name for runbook in cached_runbooks(folder)) == [
        "latency",
        "server-errors",
    ]
    assert covering_runbook_link(LABELS, folder, None, None) == str(folder / "server-errors.md")


def test_notifications_carry_the_covering_runbook_link(
    tmp_path: Path, engine: Engine, recorder: Recorder
) -> None:
    folder = write_runbooks(tmp_path / "runbooks")
    config = parse_config(paging_yaml(recorder.url), environ=environ(recorder.url))
    config = with_runbooks(config, folder, "https://git.example/ops")
    alert_id = insert_alert(engine, at=T0, runbook_url="https://git.example/ops/rollback.md")
    with engine.connect() as conn:
        alert = get_alert(conn, alert_id)
    expected = f"https://git.example/ops/{str(folder / 'server-errors.md').lstrip('/')}"
    assert alert_runbook_url(config, alert) == expected
    assert alert_view(config, alert, T0, with_ack_link=False).runbook_url == expected

    with httpx.Client() as http:
        run_paging(engine, config, T0 + 15, http=http)
    [webhook] = recorder.bodies(WEBHOOK_PATH)
    assert webhook["alerts"][0]["annotations"]["runbook_url"] == expected


def test_without_a_runbooks_folder_notifications_keep_the_slo_link(
    tmp_path: Path, engine: Engine
) -> None:
    config = with_runbooks(parse_config("", environ={}), None)
    alert_id = insert_alert(engine, at=T0, runbook_url="ops/runbooks/rollback.md")
    with engine.connect() as conn:
        alert = get_alert(conn, alert_id)
    assert alert_view(config, alert, T0, with_ack_link=False).runbook_url == (
        "ops/runbooks/rollback.md"
    )
    missing = with_runbooks(config, tmp_path / "nowhere")
    assert alert_runbook_url(missing, alert) == "ops/runbooks/rollback.md"


def test_incidents_keep_exporting_the_matching_names() -> None:
    for name in ("Runbook", "RunbookError", "Problem", "load_runbooks", "parse_runbook"):
        assert getattr(incident_runbooks, name) is getattr(runbook_links, name)
    assert incident_runbooks.runbook_for is runbook_links.runbook_for
    assert incident_runbooks.runbook_link is runbook_links.runbook_link


def test_alerting_does_not_import_incidents() -> None:
    root = Path(runbook_links.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.startswith("prodloop.incidents") for name in names):
                offenders.append(path.name)
    assert offenders == []
