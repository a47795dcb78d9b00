"""The releases page: deployments with lead times, the live rollout with each analysis
check, the operator's pause / resume / promote / roll back (roles, CSRF, a refusal that
changes nothing), and in a real browser: rolling a running canary back."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from playwright.sync_api import Browser
from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.releases.control import promote_rollout
from prodloop.releases.deployments import DeployRequest, register_deployment
from prodloop.releases.rollouts import advance_rollouts, get_rollout
from prodloop.releases.routing import service_routes
from prodloop.store.schema import deployments, rollout_analyses, rollouts, service_versions
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.rollups import write_events
from prodloop.web.dashboard.releases_page import figure
from tests.api.support import ControlPlane
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import (
    HOSTILE,
    NOW,
    PASSWORD,
    csrf_of,
    login,
    seeded_plane,
)
from tests.web.dashboard.test_browser import ARTIFACTS, WIDTHS

ACTIONS = ("pause", "resume", "promote", "rollback")


def _no_probe(_upstream: str, _timeout_s: float) -> None:
    """The canary's upstream is not running in these tests: skip the deploy's probe."""


def _quiet(*_args: Any) -> None:
    """No notice for the controller's own moves in these tests."""


def start_canary(engine: Engine, config: Config, *, by: str = "alice") -> None:
    """search v2 deployed 10 minutes before NOW as a 10 → 50 → 100 canary, with healthy
    traffic on both versions, and one analysis recorded by the controller at NOW."""
    deploy = DeployRequest(
        service="search",
        version="v2",
        upstream="http://127.0.0.1:9/v1",
        deployed_by=by,
        steps=[10, 50, 100],
        hold_s=1200,
        git_sha="0123456789abcdef",
        merged_at=NOW - 1500,
    )
    register_deployment(engine, config, deploy, NOW - 600, probe=_no_probe)
    events = [
        RequestEvent(
            ts=NOW - 590 + i * 10,
            service="search",
            version=version,
            route="/v1/embeddings",
            status=200,
            latency_ms=80.0 + i % 3,
            cost_usd=0.0001,
        )
        for i in range(40)
        for version in ("v1", "v2")
    ]
    write_events(engine, events)
    advance_rollouts(engine, config, NOW, notify=_quiet)


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Everything a rollout action could change."""
    with engine.connect() as conn:
        return {
            table.name: [dict(row) for row in conn.execute(select(table)).mappings()]
            for table in (deployments, rollouts, rollout_analyses, service_versions)
        }


def _weights(engine: Engine, service: str) -> dict[str, float]:
    with engine.connect() as conn:
        return {v: route.weight for v, route in service_routes(conn, service).items()}


def _logged_in(dashboard: Dashboard, name: str) -> TestClient:
    http = dashboard.new_client()
    assert login(http, name).status_code == 303
    return http


def _config(dashboard: Dashboard) -> Config:
    config: Config = dashboard.client.app.state.control.config  # type: ignore[attr-defined]
    return config


def _section(page: str, service: str) -> str:
    """The part of the page about one service."""
    start = page.index(f'<a href="/services/{service}">{service}</a>')
    end = page.find('<section class="release"', start)
    return page[start : end if end != -1 else len(page)]


def test_deployments_list_their_lead_time_from_merge_or_from_deploy(dashboard: Dashboard) -> None:
    config = _config(dashboard)
    engine = dashboard.engine
    merged = DeployRequest("chat", "v3", "http://127.0.0.1:9/v1", "alice", merged_at=NOW - 5400)
    register_deployment(engine, config, merged, NOW - 3600, probe=_no_probe)
    promote_rollout(engine, config, "chat", NOW - 1800, by="otto")  # live 1h after merge
    unmerged = DeployRequest("search", "v2", "http://127.0.0.1:9/v1", HOSTILE)
    register_deployment(engine, config, unmerged, NOW - 1200, probe=_no_probe)
    promote_rollout(engine, config, "search", NOW - 450, by="otto")  # live 12m 30s later

    page = _logged_in(dashboard, "vera").get("/releases")
    assert page.status_code == 200
    assert 'aria-current="page">Releases</a>' in page.text
    rows = re.findall(r'<tr data-id="(\d+)"[^>]*>(.*?)</tr>', page.text, re.S)
    cells = {
        int(key): [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                   for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for key, row in rows
    }  # fmt: skip
    by_version = {(c[0], c[1]): c for c in cells.values()}
    chat_v3 = by_version[("v3", "alice")]
    assert chat_v3[3] == "live"
    assert chat_v3[4] == "2026-01-31 08:30:30 UTC"
    assert chat_v3[5] == "1h from merge"
    search_v2 = by_version[("v2", HOSTILE)]
    assert search_v2[3] == "live" and search_v2[5] == "12m 30s from deploy"
    # The seeded deploy of chat v2 never went live: no lead time yet.
    assert by_version[("v2", "alice")][3] == "rolling out"
    assert by_version[("v2", "alice")][5] == "–"
    assert HOSTILE not in page.text
    assert str(escape(HOSTILE)) in page.text


def test_the_live_rollout_shows_step_weights_and_every_check(dashboard: Dashboard) -> None:
    start_canary(dashboard.engine, _config(dashboard))
    rollout = get_rollout(dashboard.engine, "search")
    assert rollout.state == "progressing" and len(rollout.analyses) == 1
    page = _logged_in(dashboard, "vera").get("/releases").text
    search = _section(page, "search")
    assert 'hx-get="/releases/search/rollout" hx-trigger="every 15s"' in page
    assert re.search(r"1 of 3:\s*<strong>10%</strong> → 50% → 100%", search)
    assert "v2 10% · v1 90%" in search
    assert re.findall(r'<tr data-version="([^"]+)">.*?class="num weight">([\d.]+)%', search) == [
        ("v1", "90"),
        ("v2", "10"),
    ]
    assert _weights(dashboard.engine, "search") == {"v1": 90.0, "v2": 10.0}
    assert "not before 2026-01-31 09:10:30 UTC" in search  # step started NOW-600, held 20m
    analysis = rollout.analyses[0]
    assert f'<span class="verdict {analysis["verdict"]}">{analysis["verdict"]}</span>' in search
    rows = re.findall(
        r'<tr data-metric="([^"]+)" data-kind="([^"]+)"[^>]*>(.*?)</tr>', search, re.S
    )
    assert len(rows) == len(analysis["checks"]) >= 5
    for (metric, kind, row), check in zip(rows, analysis["checks"], strict=True):
        assert (metric, kind) == (check["metric"], check["kind"])
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert cells[2:5] == [
            figure(check["canary_value"]),
            figure(check["stable_value"]),
            figure(check["threshold"]),
        ]
        assert check["result"].replace("_", " ") in cells[7]
        assert cells[8] == check["reason"]
    # A viewer sees no buttons.
    assert "/releases/search/rollback" not in page

    fragment = _logged_in(dashboard, "otto").get("/releases/search/rollout")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    for action in ("pause", "promote", "rollback"):
        assert f'hx-post="/releases/search/{action}"' in fragment.text
    assert 'hx-post="/releases/search/resume"' not in fragment.text
    assert 'hx-confirm="Roll search back to its previous stable version?"' in fragment.text
    assert 'hx-confirm="Promote v2 to all the traffic now?"' in fragment.text


def _post(http: TestClient, path: str, *, htmx: bool = True, token: str | None = None) -> Any:
    token = token if token is not None else csrf_of(http.get("/releases").text)
    headers = {"HX-Request": "true"} if htmx else {}
    return http.post(path, data={"csrf_token": token}, headers=headers)


def test_an_operator_pauses_resumes_and_promotes(dashboard: Dashboard) -> None:
    start_canary(dashboard.engine, _config(dashboard))
    http = _logged_in(dashboard, "otto")
    paused = _post(http, "/releases/search/pause")
    assert paused.status_code == 200
    assert "Paused v2 at 10%." in paused.text
    assert get_rollout(dashboard.engine, "search").state == "paused"
    assert "none until resumed" in paused.text
    assert 'hx-post="/releases/search/resume"' in paused.text

    dashboard.clock.advance(60)
    resumed = _post(http, "/releases/search/resume", htmx=False)
    assert resumed.status_code == 303 and resumed.headers["location"] == "/releases"
    rollout = get_rollout(dashboard.engine, "search")
    assert rollout.state == "progressing" and rollout.step_started_at == NOW + 60

    promoted = _post(http, "/releases/search/promote")
    assert promoted.status_code == 200
    assert "Promoted v2: it takes all the traffic." in promoted.text
    assert get_rollout(dashboard.engine, "search").state == "promoted"
    assert _weights(dashboard.engine, "search") == {"v1": 0.0, "v2": 100.0}
    with dashboard.engine.connect() as conn:
        status = conn.execute(
            select(deployments.c.status, deployments.c.live_at).where(
                deployments.c.service == "search"
            )
        ).one()
    assert tuple(status) == ("live", NOW + 60)


def test_roll_back_puts_all_traffic_on_stable(dashboard: Dashboard) -> None:
    start_canary(dashboard.engine, _config(dashboard))
    http = _logged_in(dashboard, "otto")
    answer = _post(http, "/releases/search/rollback")
    assert answer.status_code == 200
    assert "Rolled back from v2 to v1." in answer.text
    assert _weights(dashboard.engine, "search") == {"v1": 100.0, "v2": 0.0}
    rollout = get_rollout(dashboard.engine, "search")
    assert rollout.state == "rolled_back" and rollout.reason == {"kind": "manual", "by": "otto"}
    assert re.search(r'data-version="v1">.*?class="num weight">100%', answer.text, re.S)
    assert "rolled back</span>" in answer.text and "(by otto)" in answer.text


def test_a_failed_promote_shows_the_message_and_changes_nothing(dashboard: Dashboard) -> None:
    http = _logged_in(dashboard, "otto")
    before = snapshot(dashboard.engine)
    answer = _post(http, "/releases/chat/promote")
    assert answer.status_code == 404
    assert "no rollout of &#39;chat&#39; is under way" in answer.text
    assert 'class="alert"' in answer.text
    page = _post(http, "/releases/chat/promote", htmx=False)
    assert page.status_code == 404 and "The action failed" in page.text
    refused = _post(http, "/releases/chat/rollback")
    assert refused.status_code == 409
    assert "has no deployment to roll back from" in refused.text
    assert snapshot(dashboard.engine) == before


def test_a_viewer_is_refused_every_action_and_nothing_changes(dashboard: Dashboard) -> None:
    start_canary(dashboard.engine, _config(dashboard))
    before = snapshot(dashboard.engine)
    http = _logged_in(dashboard, "vera")
    for action in ACTIONS:
        for htmx in (True, False):
            answer = _post(http, f"/releases/search/{action}", htmx=htmx)
            assert answer.status_code == 403, action
            assert "this needs the operator role; you are viewer" in answer.text
    assert snapshot(dashboard.engine) == before


def test_actions_need_the_csrf_token(dashboard: Dashboard) -> None:
    start_canary(dashboard.engine, _config(dashboard))
    before = snapshot(dashboard.engine)
    http = _logged_in(dashboard, "otto")
    for token in ("", "0" * 64):
        answer = _post(http, "/releases/search/rollback", token=token)
        assert answer.status_code == 403
        assert "did not come from this site" in answer.text
    assert snapshot(dashboard.engine) == before
    anonymous = dashboard.new_client()
    assert anonymous.get("/releases").headers["location"] == "/login?next=%2Freleases"
    assert anonymous.post("/releases/search/rollback").status_code in (401, 403)
    assert snapshot(dashboard.engine) == before


def test_unknown_services_and_actions_are_404(dashboard: Dashboard) -> None:
    http = _logged_in(dashboard, "otto")
    assert http.get("/releases/nope/rollout").status_code == 404
    before = snapshot(dashboard.engine)
    unknown = _post(http, "/releases/nope/rollback")
    assert unknown.status_code == 404 and "unknown service &#39;nope&#39;" in unknown.text
    action = _post(http, "/releases/search/explode")
    assert action.status_code == 404 and "unknown action" in action.text
    assert snapshot(dashboard.engine) == before


# In a real browser.


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, seeded_store: Path) -> Iterator[ControlPlane]:
    with seeded_plane(tmp_path_factory.mktemp("releases-browser"), seeded_store) as running:
        start_canary(running.engine, running.config)
        yield running


def _browser_login(browser: Browser, plane: ControlPlane, name: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(plane.url + "/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(plane.url + "/")
    return context, page


def _overflow(page: Any) -> int:
    width: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


def test_browser_rolls_back_a_running_canary(browser: Browser, plane: ControlPlane) -> None:
    viewer, page = _browser_login(browser, plane, "vera")
    try:
        page.goto(plane.url + "/releases")
        assert page.locator("button:has-text('Roll back')").count() == 0
        refused = page.evaluate(
            """async () => {
                const headers = JSON.parse(document.body.getAttribute('hx-headers'));
                const r = await fetch('/releases/search/rollback', {
                    method: 'POST', headers: {...headers, 'HX-Request': 'true'}});
                return [r.status, await r.text()];
            }"""
        )
        assert refused[0] == 403 and "needs the operator role" in refused[1]
        assert _weights(plane.engine, "search") == {"v1": 90.0, "v2": 10.0}
    finally:
        viewer.close()

    context, page = _browser_login(browser, plane, "otto")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(plane.url + "/releases")
        section = page.locator("section.release", has=page.locator("a[href='/services/search']"))
        assert section.locator(".split").inner_text() == "v2 10% · v1 90%"
        ARTIFACTS.mkdir(exist_ok=True)
        for name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            assert _overflow(page) <= 0, f"/releases is too wide at {width} px ({name})"
            page.screenshot(path=str(ARTIFACTS / f"dashboard-releases-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_response(lambda r: r.url.endswith("/releases/search/rollback")) as done:
            section.locator("button:has-text('Roll back')").click()
        assert done.value.status == 200
        notice = section.locator(".rollout .notice")
        notice.wait_for(timeout=5000)
        assert notice.inner_text() == "Rolled back from v2 to v1."
        weights = section.locator("table.weights tbody tr").all_inner_texts()
        assert [w.split("\t") for w in weights] == [["v1", "stable", "100%"]]
        assert _weights(plane.engine, "search") == {"v1": 100.0, "v2": 0.0}
        assert get_rollout(plane.engine, "search").state == "rolled_back"
        # What the live part's poll swaps in says the same.
        with page.expect_response(lambda r: r.url.endswith("/releases/search/rollout")) as polled:
            section.locator(".rollout").evaluate(
                "el => htmx.ajax('GET', el.getAttribute('hx-get'), {target: el, swap: 'innerHTML'})"
            )
        assert polled.value.status == 200
        section.locator(".rollout .notice").wait_for(state="detached", timeout=5000)
        assert "rolled back" in section.locator(".rollout p.last").inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard-releases.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
