"""The incidents pages over HTTP: the list and the detail with its countdown, status
updates with the CLI's refusals shown beside the field (and escaped), roles, CSRF,
acknowledge, mitigate, the post-mortem draft; in a browser, an update reaching /status."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from playwright.sync_api import Browser

from prodloop.incidents.comms import list_updates, post_status_update
from prodloop.incidents.lifecycle import Incident, load_incident
from prodloop.incidents.timeline import read_timeline
from prodloop.releases.control import promote_rollout
from prodloop.releases.deployments import DeployRequest, register_deployment
from tests.api.support import ControlPlane
from tests.web.dashboard.oncall_support import (
    FIRED_AT,
    OncallDashboard,
    Seeded,
    oncall_dashboard,
    oncall_plane,
    overflow_px,
)
from tests.web.dashboard.support import HOSTILE, NOW, csrf_of
from tests.web.dashboard.test_browser import ARTIFACTS, Session


@pytest.fixture
def board(tmp_path: Path, seeded_store: Path) -> Iterator[OncallDashboard]:
    with oncall_dashboard(tmp_path, seeded_store) as running:
        yield running


def _incident(board: OncallDashboard) -> Incident:
    return load_incident(board.engine, board.seeded.incident_id)


def _updates(board: OncallDashboard) -> list[tuple[str, str, str]]:
    with board.engine.connect() as conn:
        return [(u.status, u.message, u.by) for u in list_updates(conn, board.seeded.incident_id)]


def _token(http: TestClient, iid: int) -> str:
    return csrf_of(http.get(f"/incidents/{iid}").text)


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'id="update-{field}-error">([^<]*)<', page)
    assert found is not None, f"no error beside {field}"
    return html.unescape(found.group(1))


def test_list_and_detail_with_the_countdown(board: OncallDashboard) -> None:
    http = board.logged_in("vera")
    iid = board.seeded.incident_id
    listed = http.get("/incidents")
    assert listed.status_code == 200
    row = re.search(rf'<a href="/incidents/{iid}">#{iid}</a>.*?</tr>', listed.text, re.S)
    assert row is not None
    for cell in ("chat answers 503", "SEV1", "investigating", "chat", "alice",
                 "2026-01-31 08:55:30 UTC"):  # fmt: skip
        assert cell in row.group(0), cell
    # Detected 5 minutes ago: the update is due 15 minutes after detection.
    deadline = FIRED_AT + 900
    assert f'data-deadline="{deadline}" data-now="{NOW}"' in row.group(0)
    assert http.get("/incidents?status=open").text.count(f'href="/incidents/{iid}"') == 2
    assert f'href="/incidents/{iid}"' not in http.get("/incidents?status=resolved").text
    assert http.get("/incidents?status=bogus").status_code == 422

    page = http.get(f"/incidents/{iid}")
    assert page.status_code == 200
    assert f'data-deadline="{deadline}"' in page.text
    assert '<script src="/dashboard/static/incidents.js" defer></script>' in page.text
    assert "<strong>detected</strong>" in page.text and "assigned to alice" in page.text
    assert "not drafted" in page.text
    # A viewer sees no operator forms.
    assert 'name="message"' not in page.text and "Acknowledge" not in page.text
    assert http.get("/incidents/999").status_code == 404
    assert http.get("/dashboard/static/incidents.js").status_code == 200


def test_an_update_is_published_escaped_and_stops_the_countdown(board: OncallDashboard) -> None:
    http = board.logged_in("otto")
    iid = board.seeded.incident_id
    board.clock.advance(120)
    body = {"csrf_token": _token(http, iid), "status": "identified", "message": HOSTILE}
    done = http.post(f"/incidents/{iid}/updates", data=body)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/incidents/{iid}#updates"
    assert _updates(board) == [("identified", HOSTILE, "otto")]
    incident = _incident(board)
    assert incident.status == "identified" and incident.first_update_at == NOW + 120
    page = http.get(f"/incidents/{iid}").text
    assert HOSTILE not in page and str(escape(HOSTILE)) in page
    assert "posted after 7.0 min" in page and "data-deadline" not in page
    status = http.get("/status")
    assert status.status_code == 200
    assert str(escape(HOSTILE)) in status.text and HOSTILE not in status.text
    assert "posted after 7.0 min" in http.get("/incidents").text


def test_refusals_are_shown_beside_the_field_and_change_nothing(board: OncallDashboard) -> None:
    http = board.logged_in("otto")
    iid = board.seeded.incident_id
    token = _token(http, iid)
    for status, message, field, expected in (
        ("fixed", "x", "status", "unknown status 'fixed'"),
        ("identified", "   ", "message", "the update needs a message"),
        ("identified", "y" * 5001, "message", "at most 5000 characters"),
    ):
        body = {"csrf_token": token, "status": status, "message": message}
        page = http.post(f"/incidents/{iid}/updates", data=body)
        assert page.status_code == 422, page.text
        assert expected in _field_error(page.text, field)
    assert _updates(board) == []
    assert _incident(board).status == "investigating"

    post_status_update(board.engine, iid, "resolved", "Fixed.", "bob", NOW)
    before = (_updates(board), _incident(board))
    body = {"csrf_token": token, "status": "monitoring", "message": "back <b>again</b>"}
    page = http.post(f"/incidents/{iid}/updates", data=body)
    assert page.status_code == 409
    assert "cannot move back to 'monitoring'" in _field_error(page.text, "status")
    assert "back &lt;b&gt;again&lt;/b&gt;</textarea>" in page.text  # kept, escaped
    assert (_updates(board), _incident(board)) == before
    missing = http.post("/incidents/999/updates", data=body)
    assert missing.status_code == 404


def test_a_viewer_is_refused_every_incident_step(board: OncallDashboard) -> None:
    http = board.logged_in("vera")
    iid = board.seeded.incident_id
    token = _token(http, iid)
    before = _incident(board)
    timeline = len(_timeline(board))
    body = {"csrf_token": token, "status": "identified", "message": "x"}
    for path, data in (("updates", body), ("ack", {"csrf_token": token}),
                       ("mitigate", {"csrf_token": token}),
                       ("postmortem", {"csrf_token": token})):  # fmt: skip
        refused = http.post(f"/incidents/{iid}/{path}", data=data)
        assert refused.status_code == 403, path
        assert "needs the operator role" in refused.text
    assert _updates(board) == [] and _incident(board) == before
    assert len(_timeline(board)) == timeline
    assert not (Path(board.config.incidents.postmortem_dir)).exists()


def _timeline(board: OncallDashboard) -> list[str]:
    with board.engine.connect() as conn:
        return [e.kind for e in read_timeline(conn, board.seeded.incident_id)]


def test_csrf_is_required(board: OncallDashboard) -> None:
    http = board.logged_in("otto")
    iid = board.seeded.incident_id
    http.get(f"/incidents/{iid}")
    for path in ("updates", "ack", "mitigate", "postmortem"):
        body = {"csrf_token": "forged", "status": "identified", "message": "x"}
        refused = http.post(f"/incidents/{iid}/{path}", data=body)
        assert refused.status_code == 403 and "reload the page" in refused.text, path
    assert _updates(board) == [] and _incident(board).acknowledged_at is None


def test_acknowledge_mitigate_and_draft_the_postmortem(board: OncallDashboard) -> None:
    http = board.logged_in("otto")
    iid = board.seeded.incident_id
    token = _token(http, iid)
    htmx = {"hx-request": "true"}
    acked = http.post(f"/incidents/{iid}/ack", data={"csrf_token": token}, headers=htmx)
    assert acked.status_code == 200 and acked.headers["hx-refresh"] == "true"
    incident = _incident(board)
    assert incident.acknowledged_at == NOW
    assert "acknowledged" in _timeline(board)
    # chat has no earlier version to go back to: refused, the message shown, nothing moved.
    timeline = _timeline(board)
    refused = http.post(f"/incidents/{iid}/mitigate", data={"csrf_token": token}, headers=htmx)
    assert refused.status_code == 409, refused.text
    assert 'class="alert"' in refused.text and "hx-refresh" not in refused.headers
    assert _incident(board).mitigated_at is None and _timeline(board) == timeline

    not_yet = http.get(f"/incidents/{iid}/postmortem")
    assert not_yet.status_code == 404 and "no post-mortem drafted" in not_yet.text
    drafted = http.post(f"/incidents/{iid}/postmortem", data={"csrf_token": token})
    assert drafted.status_code == 303
    page = http.get(f"/incidents/{iid}").text
    assert f'<a href="/incidents/{iid}/postmortem">the draft</a>' in page
    markdown = http.get(f"/incidents/{iid}/postmortem")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "## Root causes" in markdown.text and "chat answers 503" in markdown.text
    again = http.post(f"/incidents/{iid}/postmortem", data={"csrf_token": token}, headers=htmx)
    assert again.status_code == 422 and "exists" in again.text
    assert http.get("/incidents/999/postmortem").status_code == 404


@pytest.fixture(scope="module")
def plane(
    tmp_path_factory: pytest.TempPathFactory, seeded_store: Path
) -> Iterator[tuple[ControlPlane, Seeded]]:
    with oncall_plane(tmp_path_factory.mktemp("incidents-browser"), seeded_store) as running:
        yield running


def test_browser_an_update_posted_here_is_on_the_status_page(
    browser: Browser, plane: tuple[ControlPlane, Seeded]
) -> None:
    server, seeded = plane
    iid = seeded.incident_id
    operator = Session(browser, server, "otto")
    try:
        page = operator.page
        page.clock.install()
        page.goto(f"{server.url}/incidents/{iid}")
        # Detected 5 minutes before the server's clock: 10 minutes left, counted by the script.
        countdown = page.locator(".countdown")
        assert countdown.inner_text() == "10:00 left to post an update"
        page.screenshot(path=str(ARTIFACTS / "dashboard-incident-countdown.png"))
        page.clock.run_for("09:58")
        assert countdown.inner_text() == "0:02 left to post an update"
        page.clock.run_for("01:02")
        assert countdown.inner_text() == "update overdue by 1:00"
        assert "overdue" in (countdown.get_attribute("class") or "")
        page.select_option("#update-status", "identified")
        page.fill("#update-message", "A bad upstream; rolling back.")
        page.click("text=Publish update")
        page.wait_for_url(f"{server.url}/incidents/{iid}#updates")
        assert "posted after 5.0 min" in page.locator(".first-update").inner_text()
        assert "A bad upstream; rolling back." in page.locator(".updates").inner_text()
        with server.engine.connect() as conn:
            (update,) = list_updates(conn, iid)
        assert (update.status, update.message, update.by) == (
            "identified", "A bad upstream; rolling back.", "otto")  # fmt: skip
        assert operator.errors == []
        page.goto(server.url + "/status")
        assert "A bad upstream; rolling back." in page.content()
        operator.errors.clear()  # the public page's console is not this page's to check
        for name, path in (("incidents", "/incidents"), ("incident", f"/incidents/{iid}")):
            for width, height in ((1280, 900), (390, 844)):
                page.set_viewport_size({"width": width, "height": height})
                page.goto(server.url + path)
                assert overflow_px(page) <= 0, f"{path} is too wide at {width} px"
                operator.screenshot(f"{name}-{width}")
        assert operator.errors == []
    finally:
        operator.close()


def _no_probe(_upstream: str, _timeout_s: float) -> None:
    """Every upstream answers."""


def test_mitigate_rolls_the_service_back(board: OncallDashboard) -> None:
    request = DeployRequest(service="chat", version="v3", upstream="http://127.0.0.1:9/v3",
                            deployed_by="carol")  # fmt: skip
    register_deployment(board.engine, board.config, request, NOW - 600, probe=_no_probe)
    promote_rollout(board.engine, board.config, "chat", NOW - 590, by="carol")
    http = board.logged_in("otto")
    iid = board.seeded.incident_id
    done = http.post(f"/incidents/{iid}/mitigate", data={"csrf_token": _token(http, iid)},
                     headers={"hx-request": "true"})  # fmt: skip
    assert done.status_code == 200, done.text
    assert "Rolled chat back from v3 to v1." in done.text
    assert _incident(board).mitigated_at == NOW
    assert _timeline(board)[-2:] == ["mitigation_started", "mitigation_done"]
    page = http.get(f"/incidents/{iid}").text
    assert "(otto)" in page and "chat rolled back to v1" in page
