"""The dashboard in a real browser (Debian's chromium) against a real server: log in, SLO
cards that match the API, charts drawn without console errors, live actions over htmx, a
viewer refused an operator action, and both widths without horizontal scrolling.
Screenshots of every page are saved in tests/artifacts/ for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.api.support import API_TOKEN, ControlPlane
from tests.web.dashboard.support import CLICKED_MINUTE, PASSWORD, seeded_plane

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, seeded_store: Path) -> Iterator[ControlPlane]:
    with seeded_plane(tmp_path_factory.mktemp("browser"), seeded_store) as running:
        yield running


class Session:
    """A browser tab logged in as one user, recording console errors."""

    def __init__(self, browser: Browser, plane: ControlPlane, name: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.url = plane.url
        self.page.goto(plane.url + "/")
        assert self.page.url.endswith("/login")
        self.page.fill("#name", name)
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(plane.url + "/")

    def open(self, path: str) -> Page:
        self.page.goto(self.url + path)
        self.page.wait_for_selector("section.charts[data-drawn]", timeout=10_000)
        return self.page

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def operator(browser: Browser, plane: ControlPlane) -> Iterator[Session]:
    # One login for the module: logins from one address are rate limited, and the clock
    # here does not move.
    session = Session(browser, plane, "otto")
    yield session
    session.close()


def _api_slos(plane: ControlPlane) -> list[dict[str, object]]:
    response = httpx.get(
        plane.url + "/api/v1/slos", headers={"authorization": f"Bearer {API_TOKEN}"}
    )
    assert response.status_code == 200
    slos: list[dict[str, object]] = response.json()["slos"]
    return slos


def test_slo_cards_show_the_apis_values_and_charts_render(
    operator: Session, plane: ControlPlane
) -> None:
    page = operator.open("/")
    cards = page.eval_on_selector_all(
        "article.slo",
        """els => els.map(e => ({service: e.dataset.service, slo: e.dataset.slo,
            sli: e.dataset.sli, budget: e.querySelector('.budget').textContent.trim()}))""",
    )
    expected = {(s["service"], s["slo"]): s for s in _api_slos(plane)}
    assert {(c["service"], c["slo"]) for c in cards} == set(expected)
    for card in cards:
        slo = expected[(card["service"], card["slo"])]
        assert card["sli"] == ("" if slo["sli"] is None else str(slo["sli"]))
        pct = slo["budget_remaining_pct"]
        assert card["budget"] == ("n/a" if pct is None else f"{pct:.1f}%")
    assert page.locator(".chart canvas").count() == 5
    legend = page.locator(".chart[data-metric=error_rate] .u-legend").inner_text()
    assert "v1" in legend and "v2" in legend
    assert "deploy chat v2" in page.locator(".markers").inner_text()
    assert operator.errors == []
    operator.screenshot("overview-1280")


def test_range_selector_and_live_cards(operator: Session) -> None:
    page = operator.open("/?range=7d")
    assert page.locator(".ranges a[aria-current]").inner_text() == "7d"
    # The cards are swapped in by htmx polling; trigger one poll now instead of waiting.
    with page.expect_response(lambda r: "/dashboard/partials/slo-cards" in r.url) as polled:
        page.evaluate("htmx.trigger('#slo-cards', 'every 15s')")
        page.evaluate("htmx.ajax('GET', '/dashboard/partials/slo-cards', '#slo-cards')")
    assert polled.value.status == 200
    assert page.locator("#slo-cards article.slo").count() >= 4
    assert operator.errors == []


def test_service_page_lists_a_clicked_minutes_requests(operator: Session) -> None:
    page = operator.open("/services/chat?range=1h")
    chart = page.locator(".chart[data-metric=latency_p95_ms] .u-over")
    box = chart.bounding_box()
    assert box is not None
    # Where the middle of CLICKED_MINUTE sits on the chart, as uPlot itself places it.
    x = page.evaluate(
        """ts => document.querySelector('section.charts')._plots
            .find(p => p.root.parentNode.dataset.metric === 'latency_p95_ms')
            .valToPos(ts, 'x')""",
        CLICKED_MINUTE + 30,
    )
    with page.expect_response(lambda r: "/services/chat/minute" in r.url):
        chart.click(position={"x": x, "y": box["height"] / 2})
    table = page.locator("#minute table.requests")
    table.wait_for(timeout=5000)
    assert table.locator("tbody tr").count() == 10
    assert "thumbs down" in table.inner_text()
    assert operator.errors == []
    operator.screenshot("service-1280")


def test_an_operator_acts_through_htmx_and_sees_the_outcome(operator: Session) -> None:
    page = operator.open("/services/chat")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Roll back")
    message = page.locator("#action-result .alert")
    message.wait_for(timeout=5000)
    assert "has no deployment to roll back from" in message.inner_text()
    # The browser logs the 409 itself; that one is expected, and nothing else.
    assert [e for e in operator.errors if "409" not in e] == []
    operator.errors.clear()


def test_a_viewer_is_refused_an_operator_action(browser: Browser, plane: ControlPlane) -> None:
    viewer = Session(browser, plane, "vera")
    try:
        page = viewer.open("/services/chat")
        assert page.locator("text=Roll back").count() == 0
        status = page.evaluate(
            """async () => {
                const headers = JSON.parse(document.body.getAttribute('hx-headers'));
                const r = await fetch('/services/chat/rollback', {
                    method: 'POST', headers: {...headers, 'HX-Request': 'true'}});
                return [r.status, await r.text()];
            }"""
        )
        assert status[0] == 403
        assert "needs the operator role" in status[1]
        page.goto(plane.url + "/account")
        viewer.screenshot("account-1280")
    finally:
        viewer.close()


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_pages_fit_the_width(operator: Session, width_name: str) -> None:
    width, height = WIDTHS[width_name]
    operator.page.set_viewport_size({"width": width, "height": height})
    for name, path in (("overview", "/"), ("service", "/services/chat"), ("account", "/account")):
        page = operator.page
        if path == "/account":
            page.goto(operator.url + path)
        else:
            operator.open(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} is {overflow} px too wide at {width} px"
        operator.screenshot(f"{name}-{width}")
    assert operator.errors == []


def test_login_page_fits_a_phone(browser: Browser, plane: ControlPlane) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(plane.url + "/services/chat")
        assert page.url == plane.url + "/login?next=%2Fservices%2Fchat"
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-login-390.png"), full_page=True)
    finally:
        context.close()


def test_dark_theme_follows_the_system_setting(operator: Session) -> None:
    page = operator.page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.emulate_media(color_scheme="light")
    operator.open("/")
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.emulate_media(color_scheme="dark")
    operator.open("/")
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (light, dark) == ("rgb(246, 247, 249)", "rgb(15, 19, 26)")
    assert page.locator(".chart canvas").count() == 5
    operator.screenshot("overview-dark-1280")
    page.emulate_media(color_scheme="light")
    assert operator.errors == []


def test_admin_users_page_at_both_widths(browser: Browser, plane: ControlPlane) -> None:
    admin = Session(browser, plane, "ada")
    try:
        page = admin.page
        for width_name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            page.goto(plane.url + "/admin/users")
            assert page.locator("table.users tbody tr").count() == 3, width_name
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"/admin/users is {overflow} px too wide at {width} px"
            admin.screenshot(f"admin-users-{width}")
        assert admin.errors == []
    finally:
        admin.close()
