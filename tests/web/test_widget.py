"""The feedback widget in headless Chromium, loaded by a customer's app on another origin
under a strict CSP, posting to a real control plane: the dialog driven by keyboard only,
the thumbs API tied to the LLM request, retries that store nothing twice, opt-in capture
of page views and clicks, and no CSP violation anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy import select

from prodloop.store.schema import analytics_events, feedback
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events
from prodloop.web.widget import MAX_AGE_S
from tests.api.support import INGEST_KEY, ControlPlane, running_control_plane
from tests.support import free_port, wait_for_js
from tests.web.widget_support import (
    AppSite,
    Watcher,
    app_page,
    running_app_site,
    shadow_focus,
    strict_csp,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MAX_COMMENT_CHARS = 300
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
DIALOG = "prodloop-widget dialog"
MESSAGE = "prodloop-widget .msg"


@pytest.fixture(scope="module")
def app_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, app_port: int) -> Iterator[ControlPlane]:
    yaml = f"""
feedback:
  max_comment_chars: {MAX_COMMENT_CHARS}
  public:
    allowed_origins: ["http://127.0.0.1:{app_port}"]
"""
    with running_control_plane(tmp_path_factory.mktemp("widget"), control_yaml=yaml) as running:
        yield running


@pytest.fixture(scope="module")
def site(plane: ControlPlane, app_port: int) -> Iterator[AppSite]:
    with running_app_site(app_port, strict_csp(plane.url)) as running:
        widget = f"{plane.url}/widget.js"
        running.pages["/plain"] = app_page(widget, key=INGEST_KEY)
        running.pages["/app"] = app_page(widget, key=INGEST_KEY, capture="pageviews clicks")
        running.pages["/signed-in"] = app_page(widget, key=INGEST_KEY, user="user-7")
        running.pages["/own-button"] = app_page(widget, key=INGEST_KEY, position="none")
        running.pages["/no-key"] = app_page(widget)
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 800, "height": 600})
    yield context.new_page()
    context.close()


def _open(page: Page, site: AppSite, path: str) -> Watcher:
    watcher = Watcher(page)
    page.goto(site.url + path)
    wait_for_js(page, "window.prodloop && document.querySelector('prodloop-widget')")
    return watcher


def _feedback_rows(plane: ControlPlane, **where: Any) -> list[dict[str, Any]]:
    query = select(feedback)
    for name, value in where.items():
        query = query.where(feedback.c[name] == value)
    with plane.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query.order_by(feedback.c.id))]


def _events(plane: ControlPlane, path_prefix: str) -> list[dict[str, Any]]:
    query = select(analytics_events).where(analytics_events.c.path.startswith(path_prefix))
    with plane.engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query.order_by(analytics_events.c.id))]
    for row in rows:
        row["properties"] = json.loads(row["properties"])
    return rows


def _is_dialog_open(page: Page) -> bool:
    is_open: bool = page.evaluate(
        "document.querySelector('prodloop-widget').shadowRoot.querySelector('dialog').open"
    )
    return is_open


def test_widget_js_is_small_cacheable_and_loadable_cross_origin(plane: ControlPlane) -> None:
    with httpx.Client(base_url=plane.url) as http:
        response = http.get("/widget.js")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.headers["cache-control"] == f"public, max-age={MAX_AGE_S}"
        assert response.headers["cross-origin-resource-policy"] == "cross-origin"
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert len(response.content) < 15 * 1024
        etag = response.headers["etag"]
        again = http.get("/widget.js", headers={"if-none-match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert http.get("/widget.js", headers={"if-none-match": '"old"'}).status_code == 200
    source = response.text
    # What a strict CSP (or Trusted Types) would block, and markup built from strings.
    for banned in ("eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML",
                   ".style.", '"style"', "document.write"):  # fmt: skip
        assert banned not in source, banned


def test_dialog_by_keyboard_only_stores_the_feedback(
    page: Page, site: AppSite, plane: ControlPlane
) -> None:
    watcher = _open(page, site, "/plain")
    comment = 'Cites the wrong doc <script>window.__pwned = 1</script><img src=x onerror="x()">'
    focused = []
    for _ in range(3):  # the page's link, its button, then the widget's button
        page.keyboard.press("Tab")
        focused.append(shadow_focus(page))
    assert focused[:2] == [None, None]
    assert focused[2] is not None and focused[2]["text"] == "Send feedback"
    page.keyboard.press("Enter")
    expect(page.locator(DIALOG)).to_be_visible()
    assert shadow_focus(page) == {  # focus moved into the dialog, on the first star
        "tag": "input", "name": "rating", "value": "1", "cls": "", "text": "",
    }  # fmt: skip
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # radio buttons: arrows choose the stars
    page.keyboard.press("Tab")
    page.keyboard.type("Answer")  # type-ahead in the select
    page.keyboard.press("Tab")
    page.keyboard.type(comment)
    page.keyboard.press("Tab")
    page.keyboard.type("ada@example.com")
    assert (shadow_focus(page) or {}).get("name") == "email"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-dialog.png"))
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / "widget-dialog-dark.png"))
    page.emulate_media(color_scheme="light")

    # Focus stays in the dialog: Tab past Send wraps to the stars, Shift+Tab goes back.
    visited = []
    for _ in range(2):
        page.keyboard.press("Tab")
        visited.append((shadow_focus(page) or {}).get("text"))
    assert visited == ["Close", "Send"]
    page.keyboard.press("Tab")
    assert shadow_focus(page) == {
        "tag": "input", "name": "rating", "value": "4", "cls": "", "text": "",
    }  # fmt: skip
    page.keyboard.press("Shift+Tab")
    assert (shadow_focus(page) or {})["text"] == "Send"
    page.keyboard.press("Enter")
    expect(page.locator(MESSAGE)).to_have_text("Thank you! Your feedback was sent.")

    [row] = _feedback_rows(plane, page="/plain")
    assert row["source"] == "widget"
    assert (row["rating"], row["rating_kind"], row["is_negative"]) == (4.0, "stars", False)
    assert row["category"] == "answer_quality"
    assert row["comment"] == comment  # stored as sent, never run
    assert row["email"] == "ada@example.com"
    assert len(row["client_id"]) == 36  # the idempotency key the widget made
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.querySelectorAll('script, img').length") == 1

    # The form is cleared for the next one; Escape closes and focus returns to the button.
    assert page.locator("prodloop-widget textarea").input_value() == ""
    page.keyboard.press("Escape")
    assert not _is_dialog_open(page)
    assert (shadow_focus(page) or {})["text"] == "Send feedback"
    assert _events(plane, "/plain") == []  # capture is opt-in
    assert watcher.violations() == [] and watcher.errors == []

    # The watcher does see what the CSP blocks: an inline style the page might add.
    page.evaluate("document.head.append(document.createElement('style'))")
    wait_for_js(page, "window.__violations.length > 0")
    assert watcher.violations()[0].startswith("style-src-elem blocked inline")


def test_dialog_says_what_is_missing_and_shows_the_servers_error(
    page: Page, site: AppSite, plane: ControlPlane
) -> None:
    watcher = _open(page, site, "/plain?errors")
    page.locator("prodloop-widget .open").click()
    page.locator("prodloop-widget .send").click()
    expect(page.locator(MESSAGE)).to_have_text("Choose a rating or write a comment.")
    textarea = page.locator("prodloop-widget textarea")
    textarea.fill("x" * (MAX_COMMENT_CHARS + 1))
    page.locator("prodloop-widget .send").click()
    expect(page.locator(MESSAGE)).to_have_text(f"is longer than {MAX_COMMENT_CHARS} characters")
    assert page.locator(MESSAGE).get_attribute("class") == "msg err"
    assert textarea.get_attribute("aria-invalid") == "true"
    assert (shadow_focus(page) or {})["name"] == "comment"
    assert _feedback_rows(plane, comment="x" * (MAX_COMMENT_CHARS + 1)) == []
    textarea.fill("Shorter now")
    page.locator("prodloop-widget .send").click()
    expect(page.locator(MESSAGE)).to_have_text("Thank you! Your feedback was sent.")
    assert textarea.get_attribute("aria-invalid") is None
    assert len(_feedback_rows(plane, comment="Shorter now")) == 1
    assert watcher.violations() == [] and watcher.errors == []


def test_thumbs_api_ties_feedback_to_the_llm_request(
    page: Page, site: AppSite, plane: ControlPlane
) -> None:
    write_events(
        plane.engine,
        [
            RequestEvent(
                ts=plane.clock.now(), service="chat", version="v7-canary",
                route="/v1/chat/completions", status=200, latency_ms=840.0,
                trace_id=TRACE_ID, request_id="req-1", model="gpt-4o-mini",
                flags="new_prompt=on",
            )
        ],
    )  # fmt: skip
    watcher = _open(page, site, "/signed-in")
    stored_id = page.evaluate(
        "([trace]) => prodloop.feedback({traceId: trace, rating: 'down', comment: 'Wrong doc'})",
        [TRACE_ID],
    )
    assert isinstance(stored_id, int)
    [row] = _feedback_rows(plane, id=stored_id)
    assert row["trace_id"] == TRACE_ID
    assert (row["rating"], row["rating_kind"], row["is_negative"]) == (0.0, "thumbs", True)
    assert (row["service"], row["version"], row["model"]) == ("chat", "v7-canary", "gpt-4o-mini")
    assert row["flags"] == "new_prompt=on"
    assert (row["source"], row["user_id"], row["page"]) == ("widget", "user-7", "/signed-in")
    assert row["comment"] == "Wrong doc"

    up_id = page.evaluate("prodloop.feedback({traceId: 'unknown-trace', rating: 'up'})")
    [up] = _feedback_rows(plane, id=up_id)
    assert (up["rating"], up["is_negative"], up["version"]) == (1.0, False, None)

    refused = page.evaluate(
        """() => prodloop.feedback({rating: 'sideways'}).then(
             () => null, (e) => ({message: e.message, status: e.status, field: e.field}))"""
    )
    assert refused == {
        "message": "must be 'up', 'down' or a whole number of stars 1..5",
        "status": 400,
        "field": "rating",
    }
    assert watcher.violations() == [] and watcher.errors == []


def test_a_retry_after_a_lost_answer_stores_nothing_new(
    page: Page, site: AppSite, plane: ControlPlane
) -> None:
    watcher = _open(page, site, "/plain?retry")
    sent: list[Any] = []
    first_answers: list[dict[str, Any]] = []

    def lose_the_first_answer(route: Route) -> None:
        sent.append(route.request.post_data_json)
        if len(sent) > 1:
            route.continue_()
            return
        # The server stores it, but the answer never reaches the page.
        first_answers.append(route.fetch().json())
        route.fulfill(
            status=503,
            headers={"access-control-allow-origin": site.url, "content-type": "application/json"},
            body='{"error": {"message": "upstream connection reset", "field": null}}',
        )

    page.route(f"{plane.url}/ingest/feedback", lose_the_first_answer)
    stored_id = page.evaluate("prodloop.feedback({rating: 5, comment: 'Retried once'})")
    assert len(sent) == 2
    assert sent[0]["id"] == sent[1]["id"]
    assert first_answers == [{"id": stored_id, "created": True}]
    assert len(_feedback_rows(plane, comment="Retried once")) == 1
    assert watcher.violations() == []


def test_capture_sends_pageviews_clicks_and_custom_events(
    page: Page, site: AppSite, plane: ControlPlane
) -> None:
    watcher = _open(page, site, "/app")
    page.mouse.click(200, 150)
    page.mouse.click(600, 450)
    page.focus("#ask")
    page.keyboard.press("Enter")  # a keyboard click has no position: not a heatmap click
    page.evaluate("history.pushState({}, '', '/app/settings')")
    page.evaluate("prodloop.capture('signup', {plan: 'pro'})")
    page.evaluate("prodloop.flush()")  # waits for every batch still in flight too
    rows = _events(plane, "/app")
    assert [(r["event"], r["path"]) for r in rows] == [
        ("$pageview", "/app"),
        ("$click", "/app"),
        ("$click", "/app"),
        ("$pageview", "/app/settings"),
        ("signup", "/app/settings"),
    ]
    clicks = [r for r in rows if r["event"] == "$click"]
    assert [(c["x"], c["y"]) for c in clicks] == [(0.25, 0.25), (0.75, 0.75)]
    assert all(0 <= c["x"] <= 1 and 0 <= c["y"] <= 1 for c in clicks)
    assert rows[0]["properties"]["title"] == "Acme app"
    assert rows[4]["properties"] == {"plan": "pro"}
    device = page.evaluate("localStorage.getItem('prodloop_id')")
    assert {r["distinct_id"] for r in rows} == {device}
    assert len({r["session_id"] for r in rows}) == 1
    assert len({r["uuid"] for r in rows}) == 5
    assert {r["source"] for r in rows} == {"widget"}
    # flush counts what it stored; a bad event name is refused before anything is sent.
    assert page.evaluate("prodloop.capture('a'); prodloop.capture('b'); prodloop.flush()") == 2
    refused = page.evaluate("prodloop.capture('').then(() => null, (e) => e.message)")
    assert refused == "prodloop.capture: event must be a non-empty string"
    assert watcher.violations() == [] and watcher.errors == []


def test_an_app_can_open_the_dialog_from_its_own_button(
    page: Page, site: AppSite, plane: ControlPlane
) -> None:
    watcher = _open(page, site, "/own-button")
    assert page.locator("prodloop-widget .open").count() == 0  # data-position="none"
    page.focus("#ask")
    page.evaluate("prodloop.open()")
    expect(page.locator(DIALOG)).to_be_visible()
    page.keyboard.press("Escape")
    assert not _is_dialog_open(page)
    assert page.evaluate("document.activeElement.id") == "ask"  # focus back where it was
    assert watcher.violations() == [] and watcher.errors == []


def test_without_a_key_the_widget_says_so_and_stays_out(page: Page, site: AppSite) -> None:
    watcher = Watcher(page)
    page.goto(site.url + "/no-key")
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.prodloop") == "undefined"
    assert page.locator("prodloop-widget").count() == 0
    assert 'error: prodloop widget: the script tag needs data-key="pk_..."' in watcher.console
