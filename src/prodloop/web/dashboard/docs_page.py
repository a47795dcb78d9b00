"""Runbooks and weekly reviews, rendered: /runbooks (the folder alerts link to, its front
matter facts and steps) and /reviews (the Markdown files of reviews.output_dir, newest first).

Markdown is rendered with raw HTML switched off: a `<script>` written in a file is shown as
text, and links may only use http, https or mailto (or stay on this site). A name in the URL
is looked up among the files listed, never joined to a path, so `../` reaches nothing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass
from pathlib import Path

import markdown
from fastapi import APIRouter, Request
from fastapi.responses import Response
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from prodloop.incidents.runbook_html import leading_heading_dropped
from prodloop.incidents.runbooks import Runbook, covered_alerts, load_runbooks
from prodloop.web.dashboard.auth import Control, CurrentUser
from prodloop.web.dashboard.templating import NavItem, register_nav, render

router = APIRouter(include_in_schema=False)
register_nav(NavItem("Runbooks", "/runbooks", order=70))
register_nav(NavItem("Reviews", "/reviews", order=75))

DEFAULT_RUNBOOKS_DIR = "ops/runbooks"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")  # browsers ignore these inside a URL's scheme


def is_safe_url(url: str) -> bool:
    """A link that stays on this site or uses http, https or mailto (no javascript:, data:)."""
    cleaned = _INVISIBLE.sub("", url).lower()
    scheme, colon, _ = cleaned.partition(":")
    if not colon or any(mark in scheme for mark in "/?#"):
        return True  # no scheme: a relative link or a fragment
    return scheme in _SAFE_SCHEMES


class _SafeLinks(Treeprocessor):
    def run(self, root: etree.Element) -> None:
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not is_safe_url(value):
                    del element.attrib[attribute]


def safe_markdown(text: str) -> Markup:
    """Markdown as HTML with any raw HTML in it escaped and unsafe links dropped."""
    md = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
    # Without these, HTML in the text is not passed through: it is escaped like any text.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.treeprocessors.register(_SafeLinks(md), "safe_links", 0)
    # Safe to mark: every piece of the text was escaped by the serializer.
    return Markup(md.convert(text))


def _is_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None and ".." not in name


def _not_found(request: Request, title: str, message: str) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status_code=404)


def runbooks_dir(control: Control) -> Path:
    """The folder alert notifications link runbooks from (ops/runbooks unless configured)."""
    return Path(control.config.alerts.runbooks_dir or DEFAULT_RUNBOOKS_DIR)


def duration_text(seconds: float) -> str:
    """A drill target as it is written in the front matter: 90s, 5m, 2h."""
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


@router.get("/runbooks")
def runbooks_page(request: Request, _user: CurrentUser, control: Control) -> Response:
    """Every runbook: owner, steps, last drill, the alert rules it covers; broken files."""
    folder = runbooks_dir(control)
    runbooks, problems = load_runbooks(folder) if folder.is_dir() else ([], [])
    covers = {rb.name: covered_alerts(rb, runbooks, control.config) for rb in runbooks}
    return render(
        request,
        "docs_runbooks.html",
        {"runbooks": runbooks, "problems": problems, "covers": covers, "folder": str(folder)},
    )


@router.get("/runbooks/{name}")
def runbook_page(request: Request, _user: CurrentUser, control: Control, name: str) -> Response:
    """One runbook: its front matter facts, its steps and its body."""
    stem = name.removesuffix(".md")
    if not _is_name(stem):
        return _not_found(request, "No such runbook", f"'{name}' is not a runbook name")
    folder = runbooks_dir(control)
    runbooks, problems = load_runbooks(folder) if folder.is_dir() else ([], [])
    found: Runbook | None = next((rb for rb in runbooks if rb.name == stem), None)
    if found is None:
        broken = next((p for p in problems if Path(p.path).stem == stem), None)
        message = f"broken runbook: {broken}" if broken else f"no runbook '{stem}' in {folder}"
        return _not_found(request, "No such runbook", message)
    return render(
        request,
        "runbook.html",
        {
            "runbook": found,
            "covers": covered_alerts(found, runbooks, control.config),
            "targets": [(key, duration_text(value)) for key, value in found.targets.items()],
            "body": safe_markdown(leading_heading_dropped(found.body)),
            "file": Path(found.path).name,
        },
    )


@dataclass(frozen=True, slots=True)
class Review:
    name: str  # the file's stem, e.g. 2026-W05
    title: str
    path: Path


def _title(text: str, default: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip() or default
    return default


def list_reviews(folder: Path) -> list[Review]:
    """The weekly reviews in `folder`, the newest week first; none when it does not exist."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.md"):
        if not path.is_file() or not _is_name(path.stem):
            continue
        try:
            head = path.read_text(encoding="utf-8")[:4000]
        except (OSError, UnicodeDecodeError):
            head = ""
        found.append(Review(path.stem, _title(head, path.stem), path))
    return sorted(found, key=lambda review: review.name, reverse=True)


def reviews_dir(control: Control) -> Path:
    """Where the reviews are written (reviews.output_dir)."""
    return Path(control.config.reviews.output_dir)


@router.get("/reviews")
def reviews_page(request: Request, _user: CurrentUser, control: Control) -> Response:
    """The reviews written so far."""
    folder = reviews_dir(control)
    return render(request, "reviews.html", {"reviews": list_reviews(folder), "folder": str(folder)})


@router.get("/reviews/{name}")
def review_page(request: Request, _user: CurrentUser, control: Control, name: str) -> Response:
    """One weekly review, its Markdown rendered safely."""
    stem = name.removesuffix(".md")
    if not _is_name(stem):
        return _not_found(request, "No such review", f"'{name}' is not a review name")
    folder = reviews_dir(control)
    found = next((r for r in list_reviews(folder) if r.name == stem), None)
    if found is None:
        return _not_found(request, "No such review", f"no review '{stem}' in {folder}")
    try:
        text = found.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _not_found(request, "Unreadable review", f"cannot read {found.path.name}: {exc}")
    return render(request, "review.html", {"review": found, "body": safe_markdown(text)})
