"""The public page of one incident, /status/incidents/{id}, through a real HTTP server:
what it shows, what it never shows, drill separation, 404s, caching and the links to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import feedparser
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodloop.clock import ManualClock
from prodloop.telemetry.rollups import DAY_S
from tests.api.support import ControlPlane, running_control_plane
from tests.web.statuspage_data import (
    SECRETS,
    SERVICES_YAML,
    add_alert,
    add_incident,
    add_update,
)

NOW = 1_767_225_600.0 + 30 * DAY_S + 9 * 3600  # 2026-01-31T09:00Z
URL = "https://status.example.com"
PAGE_YAML = (
    SERVICES_YAML
    + f"""
statuspage:
  name: Acme status
  url: {URL}
  refresh_s: 0
  max_age_s: 30
  history_limit: 1
  components:
    chat: {{name: Chat API}}
    search: {{name: Search}}
"""
)
# Written by the internals an incident carries besides its title and timeline.
INTERNAL = ("SEV1", "SEV2", "0.0734", "HighErrorRate", "alice", "bob", "user-42")


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with running_control_plane(
        tmp_path, control_yaml=PAGE_YAML, clock=ManualClock(NOW), start_pipeline=False
    ) as running:
        yield running


def _seed(plane: ControlPlane) -> dict[str, int]:
    engine = plane.engine
    live = add_incident(engine, "chat", detected_at=NOW - 1200, impact="critical")
    add_update(engine, live, NOW - 1000, "investigating", "Chat requests are failing.")
    add_update(engine, live, NOW - 400, "identified", "We found the cause <b>and</b> roll back.")
    add_alert(engine, "chat", "page", fired_at=NOW - 1200, incident_id=live)
    recent = add_incident(
        engine, "search", detected_at=NOW - 2 * DAY_S, status="resolved", impact="minor",
        resolved_at=NOW - 2 * DAY_S + 3900,
    )  # fmt: skip
    add_update(engine, recent, NOW - 2 * DAY_S + 600, "monitoring", "A fix is out; watching.")
    add_update(engine, recent, NOW - 2 * DAY_S + 3900, "resolved", "Search is back to normal.")
    # Older than history_limit (1) lets /status list, yet its page still answers.
    older = add_incident(
        engine, "search", detected_at=NOW - 9 * DAY_S, status="resolved", impact="major",
        resolved_at=NOW - 9 * DAY_S + 300,
    )  # fmt: skip
    add_update(engine, older, NOW - 9 * DAY_S + 300, "resolved", "Indexing caught up.")
    drill = add_incident(engine, "search", detected_at=NOW - 300, is_drill=True, severity="SEV1")
    add_update(engine, drill, NOW - 200, "investigating", SECRETS["drill"])
    add_alert(engine, "search", "page", fired_at=NOW - 300, incident_id=drill)
    unpublished = add_incident(engine, "chat", detected_at=NOW - 100)
    return {
        "live": live,
        "recent": recent,
        "older": older,
        "drill": drill,
        "unpublished": unpublished,
    }


def test_page_shows_impact_components_updates_and_duration(plane: ControlPlane) -> None:
    ids = _seed(plane)
    with httpx.Client(base_url=plane.url) as http:  # no token: the page is public
        recent = http.get(f"/status/incidents/{ids['recent']}")
        live = http.get(f"/status/incidents/{ids['live']}")
        older = http.get(f"/status/incidents/{ids['older']}")
    assert recent.status_code == 200, recent.text
    assert recent.headers["content-type"] == "text/html; charset=utf-8"
    html = recent.text
    assert "<title>Degraded performance of Search - Acme status</title>" in html
    assert "<h1>Degraded performance of Search</h1>" in html
    assert '<dd class="status">Resolved</dd>' in html
    assert '<dd class="impact">Minor</dd>' in html
    assert '<dd class="affected">Search</dd>' in html
    assert '<dd class="duration">1 h 5 min</dd>' in html  # detected to resolved: 3900 s
    # Every published update, newest first, with its status and time.
    assert html.index("Search is back to normal.") < html.index("A fix is out; watching.")
    assert "<strong>monitoring</strong> - A fix is out; watching." in html
    assert '<time class="muted" datetime="2026-01-29T10:05:00.000+00:00">Jan 29, 10:05 UTC' in html

    assert live.status_code == 200
    assert '<dd class="status">Identified</dd>' in live.text
    assert '<dd class="impact">Critical</dd>' in live.text
    assert "Duration" not in live.text  # still open
    assert "We found the cause &lt;b&gt;and&lt;/b&gt; roll back." in live.text  # escaped

    assert older.status_code == 200
    assert "Indexing caught up." in older.text
    assert '<dd class="duration">5 min</dd>' in older.text


def test_page_shows_nothing_internal(plane: ControlPlane) -> None:
    ids = _seed(plane)
    with httpx.Client(base_url=plane.url) as http:
        pages = {
            name: http.get(f"/status/incidents/{ids[name]}", params=params).text
            for name, params in (
                ("live", {}),
                ("recent", {}),
                ("older", {}),
                ("drill", {"drill": "1"}),
            )
        }
    # add_incident and add_alert plant the secrets in the title, assignee, runbook, the
    # internal timeline (an event by the assignee with a user in its data), and the
    # alert's labels and summary.
    for name, body in pages.items():
        for what, secret in SECRETS.items():
            if not (name == "drill" and what == "drill"):  # the drill's published update
                assert secret not in body, (name, what)
        for internal in INTERNAL:
            assert internal not in body, (name, internal)
        assert "SECRET" not in body.replace(SECRETS["drill"], ""), name


def test_drills_unpublished_and_unknown_ids_are_404(plane: ControlPlane) -> None:
    ids = _seed(plane)
    with httpx.Client(base_url=plane.url) as http:
        drill = http.get(f"/status/incidents/{ids['drill']}")
        assert drill.status_code == 404
        assert drill.json()["error"]["message"] == (
            f"no incident '{ids['drill']}' on the status page"
        )
        assert SECRETS["drill"] not in drill.text
        in_drill_view = http.get(f"/status/incidents/{ids['drill']}", params={"drill": "1"})
        assert in_drill_view.status_code == 200
        assert "Drill view" in in_drill_view.text and SECRETS["drill"] in in_drill_view.text
        assert "<h1>[drill] Partial outage of Search</h1>" in in_drill_view.text
        assert in_drill_view.headers["x-robots-tag"] == "noindex"
        assert 'href="/status?drill=1"' in in_drill_view.text
        for view in ({}, {"drill": "1"}):
            assert http.get(f"/status/incidents/{ids['unpublished']}", params=view).status_code == (
                404
            )
        for bad in ("abc", "-1", "1.5", "0x10", "9" * 19, "99999999999999999", "%20"):
            response = http.get(f"/status/incidents/{bad}")
            assert response.status_code == 404, (bad, response.text)
            assert "on the status page" in response.json()["error"]["message"], bad
        # A production incident reads the same from the drill view, links kept there.
        live = http.get(f"/status/incidents/{ids['live']}", params={"drill": "1"})
        assert live.status_code == 200 and "Drill view" in live.text


def test_page_is_cached_like_the_others(plane: ControlPlane) -> None:
    ids = _seed(plane)
    path = f"/status/incidents/{ids['live']}"
    with httpx.Client(base_url=plane.url) as http:
        first = http.get(path)
        assert first.headers["cache-control"] == "public, max-age=30"
        assert first.headers["access-control-allow-origin"] == "*"
        assert "x-robots-tag" not in first.headers
        etag = first.headers["etag"]
        again = http.get(path, headers={"if-none-match": etag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
        # A new update is a new page (refresh_s is 0 here), for listed and older incidents.
        add_update(plane.engine, ids["live"], NOW - 10, "monitoring", "Rolled back; watching.")
        add_update(plane.engine, ids["older"], NOW - 10, "resolved", "Post-mortem published.")
        changed = http.get(path, headers={"if-none-match": etag})
        older = http.get(f"/status/incidents/{ids['older']}")
    assert changed.status_code == 200 and "Rolled back; watching." in changed.text
    assert changed.headers["etag"] != etag
    assert "Post-mortem published." in older.text


def test_status_json_and_feed_link_to_the_incident_pages(plane: ControlPlane) -> None:
    ids = _seed(plane)
    with httpx.Client(base_url=plane.url) as http:
        html = http.get("/status").text
        drill_html = http.get("/status", params={"drill": "1"}).text
        incidents = http.get("/status/api/v2/incidents.json").json()["incidents"]
        drill_json = http.get("/status/api/v2/incidents.json", params={"drill": "1"}).json()
        feed = feedparser.parse(http.get("/status/history.atom").content)
    for name in ("live", "recent"):
        assert f'<a href="/status/incidents/{ids[name]}">' in html, name
        assert f'<a href="/status/incidents/{ids[name]}?drill=1">' in drill_html, name
    assert f"/status/incidents/{ids['older']}" not in html  # past history_limit
    assert [(i["id"], i["shortlink"]) for i in incidents] == [
        (str(ids[name]), f"{URL}/incidents/{ids[name]}") for name in ("live", "recent")
    ]
    assert [e.link for e in feed.entries] == [
        f"{URL}/incidents/{ids[name]}" for name in ("live", "recent")
    ]
    drill_links = {i["id"]: i["shortlink"] for i in drill_json["incidents"]}
    assert drill_links[str(ids["drill"])] == f"{URL}/incidents/{ids['drill']}?drill=1"


def test_drill_view_off_hides_drill_incident_pages(tmp_path: Path) -> None:
    yaml = PAGE_YAML.replace("history_limit: 1", "drill_view: false")
    with running_control_plane(
        tmp_path, control_yaml=yaml, clock=ManualClock(NOW), start_pipeline=False
    ) as plane:
        ids = _seed(plane)
        with httpx.Client(base_url=plane.url) as http:
            response = http.get(f"/status/incidents/{ids['drill']}", params={"drill": "1"})
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "drill"


@pytest.fixture(scope="module")
def quiet_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with running_control_plane(
        tmp_path_factory.mktemp("incident-fuzz"),
        control_yaml=PAGE_YAML,
        clock=ManualClock(NOW),
        start_pipeline=False,
    ) as running:
        yield running


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(incident_id=st.text(min_size=1, max_size=40) | st.integers().map(str))
def test_any_id_is_a_404_never_a_500(quiet_plane: ControlPlane, incident_id: str) -> None:
    with httpx.Client(base_url=quiet_plane.url) as http:
        response = http.get(f"/status/incidents/{quote(incident_id, safe='')}")
    if "/" in incident_id or incident_id in (".", ".."):  # another route, or a redirect
        assert response.status_code < 500, (incident_id, response.text)
    else:
        assert response.status_code == 404, (incident_id, response.text)
        assert response.json()["error"]["field"] == "incident_id"
