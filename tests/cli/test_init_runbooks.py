"""`prodloop init` gives a project prodloop's own runbooks, which pass `runbook check`."""

from __future__ import annotations

from pathlib import Path

from prodloop.incidents.runbooks import load_runbooks, shipped_runbooks
from tests.cli.conftest import run_cli

REPO_RUNBOOKS = Path(__file__).resolve().parents[2] / "ops" / "runbooks"


def test_init_writes_the_shipped_runbooks_and_they_check(tmp_path: Path) -> None:
    done = run_cli("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "ops" / "runbooks").glob("*.md"))
    assert written == ["restart.md", "rollback.md", "triage.md"]
    runbooks, problems = load_runbooks(tmp_path / "ops" / "runbooks")
    assert problems == [] and sorted(r.name for r in runbooks) == ["restart", "rollback", "triage"]
    checked = run_cli("runbook", "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_init_keeps_a_projects_own_runbooks(tmp_path: Path) -> None:
    own = tmp_path / "ops" / "runbooks" / "mine.md"
    own.parent.mkdir(parents=True)
    own.write_text("---\ntitle: Mine\n---\n", encoding="utf-8")
    done = run_cli("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "kept ops/runbooks" in done.stdout
    assert [p.name for p in own.parent.iterdir()] == ["mine.md"]


def test_the_repository_runbooks_are_the_shipped_ones() -> None:
    shipped = {p.name: p.read_text("utf-8") for p in shipped_runbooks().iterdir()}
    assert {p.name: p.read_text("utf-8") for p in REPO_RUNBOOKS.glob("*.md")} == shipped
