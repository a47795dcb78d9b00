"""Print an HTML document to PDF with headless Chromium, for sharing runbooks with on-call."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from prodloop.errors import ProdloopError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PdfError(ProdloopError):
    """The PDF could not be printed: no Chromium, or Chromium failed."""


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) binary on PATH, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


def chromium_command(chromium: str, page: Path, output: Path, profile: Path) -> list[str]:
    """The command line that prints `page` to `output` without touching the network."""
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-pdf-header-footer",
        f"--user-data-dir={profile}",
        f"--print-to-pdf={output}",
        page.resolve().as_uri(),
    ]


def print_pdf(
    document: str, output: Path | str, *, chromium: str | None = None, timeout_s: float = 120
) -> Path:
    """Write `document` (HTML) as a PDF at `output`; PdfError when Chromium is absent or fails."""
    binary = chromium or find_chromium()
    if binary is None:
        raise PdfError(
            "Chromium is not installed: install it (e.g. `apt-get install chromium`) "
            "to export runbooks as PDF, or use --html"
        )
    target = Path(output).resolve()
    if not target.parent.is_dir():
        raise PdfError(f"folder {target.parent} does not exist", field="output")
    with tempfile.TemporaryDirectory(prefix="prodloop-pdf-") as scratch:
        page = Path(scratch) / "runbooks.html"
        page.write_text(document, encoding="utf-8")
        printed = Path(scratch) / "out.pdf"
        command = chromium_command(binary, page, printed, Path(scratch) / "profile")
        # Its own process group, so a hung Chromium is stopped with all its helpers.
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise PdfError(f"Chromium did not print the PDF within {timeout_s:g}s") from None
        if proc.returncode != 0 or not printed.exists() or printed.stat().st_size == 0:
            tail = " ".join(err.strip().splitlines()[-3:])
            raise PdfError(f"Chromium failed (exit {proc.returncode}): {tail or 'no output'}")
        shutil.move(str(printed), target)
    return target
