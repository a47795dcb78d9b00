"""The analytics page over HTTP: a funnel built through the form shows the API's numbers
(with its breakdown), retention cohorts, the heatmap image and rage-click spots, and bad
fields answered with 422 beside them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from prodloop.store.schema import analytics_events
from tests.api.support import API_TOKEN, ControlPlane
from tests.support import wait_for_js
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import HOSTILE, NOW, login, seeded_plane
from tests.web.dashboard.test_browser import WIDTHS, Session

# Who did what, minutes after a start an hour ago: 4 entered, 3 viewed, 1 bought.
JOURNEYS = {
    "u1": (("signup", 0), ("view", 2), ("buy", 5)),
    "u2": (("signup", 0), ("view", 10)),
    "u3": (("signup", 1),),
    "u4": (("view", 3),),
    "u5": (("signup", 0), ("view", 1)),
}
VERSIONS = {"u1": "v1", "u2": "v1", "u3": "v2", "u5": "v2"}
STEPS = ("signup", "view", "buy")


def seed_events(engine: Engine) -> None:
    rows: list[dict[str, Any]] = []
    start = NOW - 3600
    for user, journey in JOURNEYS.items():
        for event, minute in journey:
            properties = {"version": VERSIONS[user]} if event == "signup" else {}
            rows.append(
                {
                    "event": event,
                    "distinct_id": user,
                    "ts": start + minute * 60,
                    "properties": json.dumps(properties),
                }
            )
    # A rage click on /chat (five clicks in a second, one spot) and two plain clicks.
    for i in range(5):
        rows.append(
            {
                "event": "$click",
                "distinct_id": "u1",
                "ts": start + 600 + i * 0.1,
                "path": "/chat",
                "x": 0.5,
                "y": 0.25,
                "session_id": "s1",
            }
        )
    rows.append(
        {
            "event": "$click",
            "distinct_id": "u2",
            "ts": start + 700,
            "path": "/chat",
            "x": 0.1,
            "y": 0.9,
        }
    )
    rows.append(
        {
            "event": "$click",
            "distinct_id": "u2",
            "ts": start + 701,
            "path": HOSTILE,
            "x": 0.1,
            "y": 0.9,
        }
    )
    for i, row in enumerate(rows):
        # One executemany: every row needs every column.
        for column in ("path", "x", "y", "session_id"):
            row.setdefault(column, None)
        row.setdefault("properties", "{}")
        row.update(uuid=f"e{i}", received_at=row["ts"], source="prodloop")
    with engine.begin() as conn:
        conn.execute(insert(analytics_events), rows)


@pytest.fixture
def http(dashboard: Dashboard) -> TestClient:
    seed_events(dashboard.engine)
    client = dashboard.new_client()
    assert login(client, "vera").status_code == 303
    return client


def funnel_params(**extra: str) -> list[tuple[str, str]]:
    return [*(("step", s) for s in STEPS), *extra.items()]


def table_rows(html: str) -> list[dict[str, str]]:
    body = html.split('class="funnel-steps"')[1].split("</table>")[0]
    return [dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tr)) for tr in body.split("<tr ")[1:]]


def test_the_form_lists_the_events_seen(http: TestClient) -> None:
    page = http.get("/analytics")
    assert page.status_code == 200
    assert '<a href="/analytics" aria-current="page">Analytics</a>' in page.text
    for name in STEPS:
        assert f'<option value="{name}">{name}</option>' in page.text
    assert 'class="funnel-steps"' not in page.text  # no funnel until steps are picked
    assert '<option value="/chat">/chat</option>' in page.text
    assert "<script>alert" not in page.text  # a page path that is markup stays text


def test_funnel_numbers_equal_the_apis(http: TestClient) -> None:
    page = http.get("/analytics", params=funnel_params(window="1h", breakdown="version"))
    assert page.status_code == 200, page.text
    api = http.get(
        "/api/v1/analytics/funnel",
        headers={"authorization": f"Bearer {API_TOKEN}"},
        params={"steps": ",".join(STEPS), "window": "1h", "breakdown": "version"},
    )
    assert api.status_code == 200
    expected = api.json()
    rows = table_rows(page.text)
    assert [r["step"] for r in rows] == list(STEPS)
    assert [int(r["count"]) for r in rows] == [s["count"] for s in expected["steps"]] == [4, 3, 1]
    assert [float(r["from-first"]) for r in rows] == [
        s["conversion_from_first"] for s in expected["steps"]
    ]
    assert [int(r["drop-off"]) for r in rows] == [s["drop_off"] for s in expected["steps"]]
    # The chart draws the same conversion, in percent.
    chart = re.search(r'data-funnel="([^"]+)"', page.text)
    assert chart is not None
    data = json.loads(chart.group(1).replace("&#34;", '"'))
    assert data["names"] == list(STEPS)
    assert data["conversion"] == [100.0, 75.0, 25.0]
    # One row per breakdown value, as the API groups them.
    for group in expected["groups"]:
        row = page.text.split(f'<tr data-value="{group["value"]}">')[1].split("</tr>")[0]
        counts = [int(c) for c in re.findall(r'data-count="(\d+)"', row)]
        assert counts == [s["count"] for s in group["steps"]]
    assert {g["value"] for g in expected["groups"]} == {"v1", "v2"}


def test_bad_fields_are_answered_beside_them(http: TestClient) -> None:
    page = http.get(
        "/analytics", params=funnel_params(window="soon", order="sideways", breakdown="colour")
    )
    assert page.status_code == 422
    for field in ("window", "order", "breakdown"):
        assert f'id="{field}-error"' in page.text
        assert f'id="{field}" ' in page.text and 'aria-invalid="true"' in page.text
    assert "unknown order" in page.text and "unknown breakdown" in page.text
    assert 'class="funnel-steps"' not in page.text
    one = http.get("/analytics", params=[("step", "signup")])
    assert one.status_code == 422
    assert "a funnel needs at least two steps" in one.text
    anyorder = http.get("/analytics", params=[("step", "view"), ("step", "view"), ("order", "any")])
    assert anyorder.status_code == 422
    assert "in any order the steps must be different events" in anyorder.text
    backwards = http.get("/analytics", params=funnel_params(since="1d", until="2d"))
    assert backwards.status_code == 422 and 'id="until-error"' in backwards.text
    bad_mode = http.get("/analytics", params={"ret_mode": "weekly"})
    assert bad_mode.status_code == 422 and 'id="ret_mode-error"' in bad_mode.text


def test_retention_cohorts(http: TestClient) -> None:
    page = http.get("/analytics", params={"ret_start": "signup", "ret_since": "1w"})
    assert page.status_code == 200
    api = http.get(
        "/api/v1/analytics/retention",
        headers={"authorization": f"Bearer {API_TOKEN}"},
        params={"start_event": "signup", "since": "1w"},
    )
    sizes = [int(s) for s in re.findall(r'data-size="(\d+)"', page.text)]
    assert sizes == [c["size"] for c in api.json()["cohorts"]]
    assert sum(sizes) == 4


def test_heatmap_image_and_rage_spots(http: TestClient) -> None:
    page = http.get("/analytics", params={"page": "/chat"})
    assert page.status_code == 200
    assert "7 clicks" not in page.text and "6 clicks, 1 rage-click bursts" in page.text
    spots = page.text.split('class="rage-spots"')[1].split("</table>")[0]
    assert '<td class="num">50%</td><td class="num">25%</td><td class="num">1</td>' in spots
    src = re.search(r'<img src="([^"]+)"', page.text)
    assert src is not None and src.group(1) == "/analytics/heatmap.png?page=%2Fchat&amp;since=7d"
    image = http.get("/analytics/heatmap.png", params={"page": "/chat"})
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert image.headers["x-prodloop-clicks"] == "6"
    api = http.get(
        "/api/v1/analytics/heatmap.png",
        params={"page": "/chat"},
        headers={"authorization": f"Bearer {API_TOKEN}"},
    )
    assert api.content == image.content
    bad = http.get("/analytics/heatmap.png", params={"page": "/chat", "since": "never"})
    assert bad.status_code == 422
    anonymous = TestClient(http.app, follow_redirects=False).get(
        "/analytics/heatmap.png", params={"page": "/chat"}
    )
    assert anonymous.status_code == 303


# --- in a real browser -------------------------------------------------------------------


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, seeded_store: Path) -> Iterator[ControlPlane]:
    with seeded_plane(tmp_path_factory.mktemp("analytics-browser"), seeded_store) as running:
        seed_events(running.engine)
        yield running


def test_build_a_funnel_in_the_browser(browser: Browser, plane: ControlPlane) -> None:
    viewer = Session(browser, plane, "vera")
    try:
        page = viewer.page
        page.goto(plane.url + "/analytics")
        for i, name in enumerate(STEPS, start=1):
            page.select_option(f"#step-{i}", name)
        page.fill("#window", "1h")
        page.fill("#breakdown", "version")
        page.select_option("#page", "/chat")
        page.click("text=Build funnel")
        page.wait_for_selector(".funnel-chart[data-drawn] canvas", timeout=10_000)
        assert "window=1h" in page.url and "step=signup&step=view&step=buy" in page.url
        # The bars uPlot drew are the API's conversion from the first step.
        with plane.client() as http:
            api = http.get(
                "/api/v1/analytics/funnel", params={"steps": ",".join(STEPS), "window": "1h"}
            ).json()
        drawn = page.evaluate("document.querySelector('.funnel-chart')._plot.data[1]")
        assert drawn == [round(100 * s["conversion_from_first"], 2) for s in api["steps"]]
        shown = page.eval_on_selector_all(
            "table.funnel-steps tbody tr",
            "rows => rows.map(r => [r.cells[1].textContent, r.cells[2].textContent,"
            " r.cells[3].textContent])",
        )
        assert shown == [["signup", "4", "100.0%"], ["view", "3", "75.0%"], ["buy", "1", "25.0%"]]
        assert page.locator("table.funnel-breakdown tbody tr").count() == 2
        image = page.locator(".an-heatmap img")
        image.scroll_into_view_if_needed()
        wait_for_js(page, "document.querySelector('.an-heatmap img').naturalWidth === 1280")
        assert viewer.errors == []
        for name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            wait_for_js(  # the chart follows the width
                page,
                "(() => { const box = document.querySelector('.funnel-chart');"
                " return Math.abs(box._plot.width - box.clientWidth) <= 2; })()",
            )
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"/analytics is {overflow} px too wide at {width} px"
            viewer.screenshot("analytics" + ("" if name == "desktop" else "-390"))
    finally:
        viewer.close()
