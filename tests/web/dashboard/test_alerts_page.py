"""The alerts page over HTTP: the list, acknowledge and silence as an operator (and not
as a viewer), CSRF, the silence form's errors beside each field, on-call and the delivery
log; and in a real browser, acknowledging a firing alert with its button."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from playwright.sync_api import Browser
from sqlalchemy import func, select

from prodloop.alerting.silences import list_silences
from prodloop.store.schema import alerts, silences
from tests.api.support import ControlPlane
from tests.web.dashboard.oncall_support import (
    DELIVERY_ERROR,
    OncallDashboard,
    Seeded,
    oncall_dashboard,
    oncall_plane,
    overflow_px,
)
from tests.web.dashboard.support import HOSTILE, NOW, csrf_of
from tests.web.dashboard.test_browser import Session


@pytest.fixture
def board(tmp_path: Path, seeded_store: Path) -> Iterator[OncallDashboard]:
    with oncall_dashboard(tmp_path, seeded_store) as running:
        yield running


def _acked(board: OncallDashboard, alert_id: int) -> tuple[float | None, str | None]:
    with board.engine.connect() as conn:
        row = conn.execute(
            select(alerts.c.acked_at, alerts.c.acked_by).where(alerts.c.id == alert_id)
        ).one()
    return row.acked_at, row.acked_by


def _silence_count(board: OncallDashboard) -> int:
    with board.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(silences)).scalar_one())


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'id="silence-{field}-error">([^<]*)<', page)
    assert found is not None, f"no error beside {field}"
    return html.unescape(found.group(1))


def _form(http: TestClient) -> str:
    return csrf_of(http.get("/alerts").text)


def test_the_page_lists_alerts_oncall_and_the_delivery_log(board: OncallDashboard) -> None:
    http = board.logged_in("vera")
    page = http.get("/alerts")
    assert page.status_code == 200
    text = page.text
    assert "ErrorRateHigh" in text and "LatencyHigh" in text
    assert 'class="state firing">firing' in text and 'class="state pending">pending' in text
    assert "12.00%" not in text and "0.12" in text  # no SLO: the raw value
    # alice holds today's shift until 08:00 tomorrow; bob is next.
    row = re.search(r"<td>primary .*?</tr>", text, re.S)
    assert row is not None
    assert "<strong>alice</strong>" in row.group(0) and "<td>bob" in row.group(0)
    assert "2026-02-01 08:00:00 UTC" in row.group(0)
    assert str(escape(DELIVERY_ERROR)) in text and DELIVERY_ERROR not in text
    # A viewer sees no operator controls; the alert summary's markup is escaped.
    assert "Acknowledge" not in text and 'action="/alerts/silences"' not in text
    assert HOSTILE not in text and str(escape(HOSTILE)) in text
    fragment = http.get("/dashboard/partials/alerts")
    assert fragment.status_code == 200 and "ErrorRateHigh" in fragment.text
    assert "<html" not in fragment.text


def test_an_operator_acknowledges_as_themselves(board: OncallDashboard) -> None:
    http = board.logged_in("otto")
    token = _form(http)
    firing = board.seeded.firing_id
    done = http.post(f"/alerts/{firing}/ack", data={"csrf_token": token},
                     headers={"hx-request": "true"})  # fmt: skip
    assert done.status_code == 200, done.text
    assert f"Acknowledged alert {firing}" in done.text
    assert done.headers["hx-trigger"] == "alerts-changed"
    assert _acked(board, firing) == (NOW, "otto")
    again = http.post(f"/alerts/{firing}/ack", data={"csrf_token": token})
    assert again.status_code == 303  # already acknowledged: the first one is kept
    assert _acked(board, firing) == (NOW, "otto")
    assert '<td class="acked-by">otto</td>' in http.get("/dashboard/partials/alerts").text
    # A pending alert cannot be acknowledged: a message, and nothing changes.
    pending = board.seeded.pending_id
    refused = http.post(f"/alerts/{pending}/ack", data={"csrf_token": token},
                        headers={"hx-request": "true"})  # fmt: skip
    assert refused.status_code == 409
    assert "only a firing alert can be acknowledged" in refused.text
    assert "hx-trigger" not in refused.headers
    assert _acked(board, pending) == (None, None)
    missing = http.post("/alerts/999/ack", data={"csrf_token": token})
    assert missing.status_code == 404 and "no alert 999" in missing.text


def test_a_viewer_cannot_ack_silence_or_expire(board: OncallDashboard) -> None:
    http = board.logged_in("vera")
    token = _form(http)
    firing = board.seeded.firing_id
    refused = http.post(f"/alerts/{firing}/ack", data={"csrf_token": token})
    assert refused.status_code == 403 and "needs the operator role" in refused.text
    assert _acked(board, firing) == (None, None)
    body = {"csrf_token": token, "matchers": "service=chat", "duration": "1h", "reason": "x"}
    assert http.post("/alerts/silences", data=body).status_code == 403
    assert _silence_count(board) == 0
    assert http.post("/alerts/silences/1/expire", data={"csrf_token": token}).status_code == 403


def test_actions_need_the_csrf_token(board: OncallDashboard) -> None:
    http = board.logged_in("otto")
    firing = board.seeded.firing_id
    for token in ("", "forged"):
        refused = http.post(f"/alerts/{firing}/ack", data={"csrf_token": token})
        assert refused.status_code == 403 and "reload the page" in refused.text
    body = {"matchers": "service=chat", "duration": "1h", "reason": "x"}
    assert http.post("/alerts/silences", data=body).status_code == 403
    assert _acked(board, firing) == (None, None) and _silence_count(board) == 0
    anonymous = board.new_client()
    assert anonymous.get("/alerts").headers["location"] == "/login?next=%2Falerts"


def test_silence_form_shows_each_error_beside_its_field(board: OncallDashboard) -> None:
    http = board.logged_in("otto")
    token = _form(http)
    body = {"csrf_token": token, "matchers": "service", "duration": "soon", "reason": " "}
    page = http.post("/alerts/silences", data=body)
    assert page.status_code == 422
    for field, message in (
        ("matchers", "is not a matcher (use label=value)"),
        ("duration", "not a duration"),
    ):
        assert message in _field_error(page.text, field)
    assert 'value="soon"' in page.text  # what was typed is kept
    page = http.post("/alerts/silences", data={**body, "matchers": "a=b", "duration": "1h"})
    assert page.status_code == 422
    assert _field_error(page.text, "reason") == "say why alerts are silenced"
    assert 'id="silence-matchers-error"' not in page.text
    page = http.post("/alerts/silences", data={**body, "matchers": "a=b", "reason": "r" * 2001})
    assert "at most 2000 characters" in _field_error(page.text, "reason")
    assert _silence_count(board) == 0
    hostile = {**body, "matchers": f"service={HOSTILE}", "duration": "0s", "reason": "r"}
    page = http.post("/alerts/silences", data=hostile)
    assert page.status_code == 422 and "must be longer than zero" in page.text
    assert HOSTILE not in page.text
    assert _silence_count(board) == 0


def test_an_operator_silences_and_expires(board: OncallDashboard) -> None:
    http = board.logged_in("otto")
    token = _form(http)
    body = {"csrf_token": token, "matchers": "service=chat, severity=page", "duration": "2h",
            "reason": "deploying a fix"}  # fmt: skip
    done = http.post("/alerts/silences", data=body)
    assert done.status_code == 303 and done.headers["location"] == "/alerts"
    (made,) = list_silences(board.engine, NOW)
    assert dict(made.matchers) == {"service": "chat", "severity": "page"}
    assert (made.ends_at, made.created_by, made.reason) == (NOW + 7200, "otto", "deploying a fix")
    page = http.get("/alerts").text
    assert "<code>service=chat</code>" in page and "deploying a fix" in page
    lifted = http.post(f"/alerts/silences/{made.id}/expire", data={"csrf_token": token},
                       headers={"hx-request": "true"})  # fmt: skip
    assert lifted.status_code == 200 and f"Lifted silence {made.id}" in lifted.text
    assert list_silences(board.engine, NOW) == []
    missing = http.post("/alerts/silences/999/expire", data={"csrf_token": token})
    assert missing.status_code == 404 and "no silence 999" in missing.text


@pytest.fixture(scope="module")
def plane(
    tmp_path_factory: pytest.TempPathFactory, seeded_store: Path
) -> Iterator[tuple[ControlPlane, Seeded]]:
    with oncall_plane(tmp_path_factory.mktemp("alerts-browser"), seeded_store) as running:
        yield running


def test_browser_an_operator_acknowledges_with_the_button(
    browser: Browser, plane: tuple[ControlPlane, Seeded]
) -> None:
    server, seeded = plane
    operator = Session(browser, server, "otto")
    try:
        page = operator.page
        page.goto(server.url + "/alerts")
        row = page.locator(f"tr[data-alert-id='{seeded.firing_id}']")
        with page.expect_response(lambda r: "/dashboard/partials/alerts" in r.url):
            row.locator("button.ack").click()
        assert "Acknowledged alert" in page.locator("#alert-result .notice").inner_text()
        # The list re-read itself after the action: the button is gone, otto is shown.
        row.locator("td.acked-by", has_text="otto").wait_for(timeout=5000)
        assert row.locator("button.ack").count() == 0
        with server.engine.connect() as conn:
            acked = conn.execute(
                select(alerts.c.acked_by, alerts.c.acked_at).where(alerts.c.id == seeded.firing_id)
            ).one()
        assert (acked.acked_by, acked.acked_at) == ("otto", NOW)
        assert operator.errors == []
        for name, (width, height) in (("1280", (1280, 900)), ("390", (390, 844))):
            page.set_viewport_size({"width": width, "height": height})
            page.goto(server.url + "/alerts")
            assert overflow_px(page) <= 0, f"/alerts is too wide at {width} px"
            operator.screenshot(f"alerts-{name}")
        assert operator.errors == []
    finally:
        operator.close()


def test_browser_a_viewer_is_refused_the_ack(
    browser: Browser, plane: tuple[ControlPlane, Seeded]
) -> None:
    server, seeded = plane
    viewer = Session(browser, server, "vera")
    try:
        page = viewer.page
        page.goto(server.url + "/alerts")
        assert page.locator("button.ack").count() == 0
        status = page.evaluate(
            """async (id) => {
                const headers = JSON.parse(document.body.getAttribute('hx-headers'));
                const r = await fetch('/alerts/' + id + '/ack', {
                    method: 'POST', headers: {...headers, 'HX-Request': 'true'}});
                return [r.status, await r.text()];
            }""",
            seeded.pending_id,
        )
        assert status[0] == 403 and "needs the operator role" in status[1]
        with server.engine.connect() as conn:
            acked_by = conn.execute(
                select(alerts.c.acked_by).where(alerts.c.id == seeded.pending_id)
            ).scalar_one()
        assert acked_by is None
    finally:
        viewer.close()
