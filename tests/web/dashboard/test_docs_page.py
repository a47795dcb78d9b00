"""Runbooks and weekly reviews over HTTP: front matter facts, steps and body rendered, raw
HTML in Markdown shown as text, empty states, and names that try to leave the folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from prodloop.incidents.runbooks import covered_alerts, load_runbooks
from tests.api.support import ControlPlane
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import HOSTILE, login, seeded_plane
from tests.web.dashboard.test_browser import WIDTHS, Session

RUNBOOK = f"""---
title: Latency <b>up</b>
owner: on-call
alerts:
  - LatencyP95AboveThreshold
  - 'alertname=~".+BudgetBurn"'
steps:
  - title: See what fires
    run: prodloop alerts
  - Roll back the canary
last_drilled: 2026-01-20
targets:
  detect: 5m
  first_update: 90s
---

# Runbook: latency up

Check **p95** first.

{HOSTILE}

[a trap](javascript:alert(1)) and [the docs](https://example.org/docs)

```
prodloop stats --since 15m
```
"""
REVIEW = f"""# Week 2026-W05

Conversion went **up**.

{HOSTILE}
<img src=x onerror="alert(1)">
"""


@pytest.fixture
def http(dashboard: Dashboard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """A viewer, in a working directory of our own (runbooks and reviews are read from it)."""
    monkeypatch.chdir(tmp_path)
    client = dashboard.new_client()
    assert login(client, "vera").status_code == 303
    return client


def write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")


def test_empty_states(http: TestClient) -> None:
    runbooks = http.get("/runbooks")
    assert runbooks.status_code == 200
    assert "No runbooks in ops/runbooks yet" in runbooks.text
    reviews = http.get("/reviews")
    assert reviews.status_code == 200
    assert "No weekly review yet" in reviews.text
    assert '<a href="/reviews" aria-current="page">Reviews</a>' in reviews.text


def test_a_runbook_is_rendered_with_its_facts(http: TestClient, dashboard: Dashboard) -> None:
    write("ops/runbooks/latency.md", RUNBOOK)
    write("ops/runbooks/broken.md", "no front matter here\n")
    listing = http.get("/runbooks")
    assert listing.status_code == 200
    assert '<a href="/runbooks/latency">Latency &lt;b&gt;up&lt;/b&gt;</a>' in listing.text
    assert "broken runbook: ops/runbooks/broken.md:1: no front matter" in listing.text
    page = http.get("/runbooks/latency")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Latency &lt;b&gt;up&lt;/b&gt;</h1>" in text
    assert "<dt>owner</dt><dd>on-call</dd>" in text
    assert "<code>LatencyP95AboveThreshold</code>" in text
    assert '<dd class="drilled">2026-01-20</dd>' in text
    assert "detect 5m · first_update 90s" in text
    assert "See what fires<br><code>prodloop alerts</code>" in text
    assert "<li>Roll back the canary</li>" in text
    assert "<strong>p95</strong>" in text
    assert "<pre><code>prodloop stats --since 15m" in text
    assert "Runbook: latency up" not in text  # the front matter's title replaces it
    runbooks, _ = load_runbooks("ops/runbooks")
    app_config = dashboard.client.app.state.control.config  # type: ignore[attr-defined]
    covers = covered_alerts(runbooks[0], runbooks, app_config)
    assert covers, "the runbook covers the config's latency alerts"
    assert f'<dd class="covers">{", ".join(covers)}</dd>' in text
    # Markup written in the file is text; a javascript: link loses its target.
    assert "<script>" not in text
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in text
    assert "javascript:" not in text
    assert '<a href="https://example.org/docs">the docs</a>' in text
    assert http.get("/runbooks/latency.md").status_code == 200


def test_unknown_and_escaping_names_are_not_found(http: TestClient) -> None:
    write("ops/runbooks/latency.md", RUNBOOK)
    write("ops/secret.md", RUNBOOK)
    write("docs/secret.md", REVIEW)
    for path in (
        "/runbooks/nope",
        "/runbooks/%2E%2E",
        "/runbooks/..%2Fsecret",
        "/runbooks/.hidden",
        "/reviews/nope",
        "/reviews/%2E%2E",
        "/reviews/..%2Fsecret",
        "/reviews/%2E%2E%2Fsecret",
    ):
        answer = http.get(path)
        assert answer.status_code == 404, path
        assert "Conversion went" not in answer.text and "on-call" not in answer.text
    assert "no runbook &#39;nope&#39;" in http.get("/runbooks/nope").text


def test_reviews_are_listed_newest_first_and_rendered_safely(http: TestClient) -> None:
    write("docs/reviews/2026-W04.md", "# Week 2026-W04\n\nQuiet week.\n")
    write("docs/reviews/2026-W05.md", REVIEW)
    listing = http.get("/reviews")
    assert listing.status_code == 200
    assert listing.text.index('data-name="2026-W05"') < listing.text.index('data-name="2026-W04"')
    page = http.get("/reviews/2026-W05")
    assert page.status_code == 200
    assert "<h1>Week 2026-W05</h1>" in page.text
    assert "<strong>up</strong>" in page.text
    assert "<script>" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;" in page.text and "&lt;img src=x" in page.text


def test_logged_out_is_sent_to_login(dashboard: Dashboard) -> None:
    for path in ("/runbooks", "/reviews", "/runbooks/x", "/reviews/x"):
        answer = dashboard.new_client().get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")


# --- in a real browser -------------------------------------------------------------------


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, seeded_store: Path) -> Iterator[ControlPlane]:
    folder = tmp_path_factory.mktemp("docs-browser")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        write("ops/runbooks/latency.md", RUNBOOK)
        write("docs/reviews/2026-W05.md", REVIEW)
        with seeded_plane(folder, seeded_store) as running:
            yield running


def test_runbooks_and_reviews_in_the_browser(browser: Browser, plane: ControlPlane) -> None:
    viewer = Session(browser, plane, "vera")
    dialogs: list[str] = []
    try:
        page = viewer.page
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(plane.url + "/runbooks")
        page.click("text=Latency <b>up</b>")
        page.wait_for_url(plane.url + "/runbooks/latency")
        assert page.locator(".doc-steps li").count() == 2
        assert page.locator(".doc-body script").count() == 0
        shots = [("runbook", "/runbooks/latency"), ("review", "/reviews/2026-W05")]
        for name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            for shot, path in shots:
                page.goto(plane.url + path)
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{path} is {overflow} px too wide at {width} px"
                viewer.screenshot(f"docs-{shot}" + ("" if name == "desktop" else "-390"))
        assert page.locator("article.doc img").count() == 0
        assert '<script>alert("x")</script>' in page.locator("article.doc").inner_text()
        assert dialogs == [] and viewer.errors == []
    finally:
        viewer.close()
