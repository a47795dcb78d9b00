from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from prodloop.incidents import pdf
from prodloop.incidents.pdf import PdfError, print_pdf
from prodloop.incidents.runbooks import load_runbooks
from tests.cli.conftest import run_cli
from tests.support import require_binary

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "ops" / "runbooks"


def _words(text: str) -> str:
    return " ".join(text.split())


def test_export_prints_every_runbook_into_one_pdf(tmp_path: Path) -> None:
    require_binary("chromium")
    out = tmp_path / "on-call.pdf"
    done = run_cli("runbook", "export", "--pdf", "--output", str(out), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    reader = PdfReader(str(out))
    runbooks, problems = load_runbooks(SHIPPED)
    assert problems == []
    assert len(reader.pages) >= len(runbooks)  # a page (at least) per runbook
    text = _words("\n".join(page.extract_text() for page in reader.pages))
    for runbook in runbooks:
        assert runbook.title in text
        shortest = min((step.run for step in runbook.steps if step.run), key=len)
        assert shortest in text, f"{runbook.name}: {shortest!r} is not in the PDF"
    assert "prodloop rollback SERVICE" in text


def test_export_without_chromium_is_a_clear_error(tmp_path: Path) -> None:
    done = run_cli(
        "runbook",
        "export",
        "--output",
        str(tmp_path / "x.pdf"),
        cwd=ROOT,
        env={"PATH": str(tmp_path)},  # nothing to run on this PATH
    )
    assert done.returncode == 2
    assert "Chromium is not installed" in done.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_print_pdf_reports_a_failing_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pdf.find_chromium() == str(fake)
    with pytest.raises(PdfError, match=r"exit 3\): cannot open display"):
        print_pdf("<p>hi</p>", tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()
