"""The public status page through a real HTTP server: content, no login, caching, and
nothing internal in any response."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import feedparser
import httpx
import pytest
from click.testing import CliRunner

from prodloop.cli.main import cli
from prodloop.clock import ManualClock
from prodloop.incidents.statuspage.statuspage_json import DOCUMENTS
from prodloop.telemetry.rollups import DAY_S
from tests.api.support import ControlPlane, running_control_plane
from tests.web.statuspage_data import (
    SECRETS,
    SERVICES_YAML,
    add_alert,
    add_incident,
    add_maintenance,
    add_override,
    add_traffic,
    add_update,
)

NOW = 1_767_225_600.0 + 30 * DAY_S + 9 * 3600
PAGE_YAML = (
    SERVICES_YAML
    + """
statuspage:
  name: Acme status
  refresh_s: 0
  max_age_s: 30
  components:
    chat: {name: Chat API, description: Chat completions}
    search: {name: Search}
"""
)
PUBLIC = ["/status", "/status/history.atom", "/status/badge/chat.svg", "/status/badge/search.svg"]
PUBLIC += [f"/status/api/v2/{name}" for name in DOCUMENTS]


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with running_control_plane(
        tmp_path, control_yaml=PAGE_YAML, clock=ManualClock(NOW), start_pipeline=False
    ) as running:
        yield running


def _seed(plane: ControlPlane) -> dict[str, int]:
    engine = plane.engine
    live = add_incident(engine, "chat", detected_at=NOW - 1200, impact="major")
    add_update(engine, live, NOW - 1000, "investigating", "Chat requests are failing for some.")
    add_update(engine, live, NOW - 400, "identified", "We found the cause and are rolling back.")
    add_alert(engine, "chat", "page", fired_at=NOW - 1200, incident_id=live)
    old = add_incident(
        engine, "search", detected_at=NOW - 2 * DAY_S, status="resolved", impact="minor",
        resolved_at=NOW - 2 * DAY_S + 900,
    )  # fmt: skip
    add_update(engine, old, NOW - 2 * DAY_S + 900, "resolved", "Search is back to normal.")
    drill = add_incident(engine, "search", detected_at=NOW - 300, is_drill=True, severity="SEV1")
    add_update(engine, drill, NOW - 200, "investigating", SECRETS["drill"])
    add_alert(engine, "search", "page", fired_at=NOW - 300, incident_id=drill)
    unpublished = add_incident(engine, "search", detected_at=NOW - 100)
    add_override(engine, "chat", "partial_outage", at=NOW - 50, expires_at=NOW + 3600)
    add_maintenance(engine, ["search"], starts_at=NOW + 3600, ends_at=NOW + 7200)
    add_traffic(engine, "chat", at=NOW - DAY_S, requests=50, errors=1)
    return {"live": live, "old": old, "drill": drill, "unpublished": unpublished}


def test_html_page_shows_components_incidents_and_updates(plane: ControlPlane) -> None:
    ids = _seed(plane)
    with httpx.Client(base_url=plane.url) as http:  # no token: the page is public
        response = http.get("/status")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert "<title>Acme status</title>" in html
    for text in (
        "Chat API", "Chat completions", "Search", "Partial outage", "Partial System Outage",
        "Partial outage of Chat API", "We found the cause and are rolling back.",
        "Chat requests are failing for some.", "Degraded performance of Search",
        "Search is back to normal.", "Database upgrade", "98.00% uptime",
    ):  # fmt: skip
        assert text in html, text
    assert f'id="incident-{ids["live"]}"' in html
    assert html.count('class="bars"') == 2
    assert "Drill view" not in html


def test_public_routes_need_no_login_and_are_cacheable(plane: ControlPlane) -> None:
    _seed(plane)
    with httpx.Client(base_url=plane.url) as http:
        for path in PUBLIC:
            response = http.get(path)
            assert response.status_code == 200, (path, response.text)
            assert response.headers["cache-control"] == "public, max-age=30"
            etag = response.headers["etag"]
            again = http.get(path, headers={"if-none-match": etag})
            assert again.status_code == 304, path
            assert again.content == b""
            assert again.headers["etag"] == etag
        summary = http.get("/status/api/v2/summary.json").json()
        assert summary["status"]["indicator"] == "major"
        assert {c["id"]: c["status"] for c in summary["components"]} == {
            "chat": "partial_outage",
            "search": "operational",
        }
        assert http.get("/status/badge/nope.svg").status_code == 404
        feed = feedparser.parse(http.get("/status/history.atom").content)
        assert [e.title for e in feed.entries] == [
            "Partial outage of Chat API", "Degraded performance of Search"
        ]  # fmt: skip


def test_no_internal_data_in_any_public_response(plane: ControlPlane) -> None:
    ids = _seed(plane)
    with httpx.Client(base_url=plane.url) as http:
        bodies = {path: http.get(path).text for path in PUBLIC}
    for path, body in bodies.items():
        for what, secret in SECRETS.items():
            assert secret not in body, (path, what)
        for internal in ("SEV1", "SEV2", "0.0734", "HighErrorRate", "alice", "bob", "user-42"):
            assert internal not in body, (path, internal)
        for incident in ("drill", "unpublished"):
            assert f"incident-{ids[incident]}" not in body, (path, incident)
    unresolved = json.loads(bodies["/status/api/v2/incidents/unresolved.json"])
    assert [i["id"] for i in unresolved["incidents"]] == [str(ids["live"])]


def test_drill_view_shows_drills_marked_as_such(plane: ControlPlane) -> None:
    ids = _seed(plane)
    with httpx.Client(base_url=plane.url) as http:
        html = http.get("/status", params={"drill": "1"}).text
        summary = http.get("/status/api/v2/summary.json", params={"drill": "1"}).json()
    assert "Drill view" in html and SECRETS["drill"] in html
    assert str(ids["drill"]) in [i["id"] for i in summary["incidents"]]
    assert {c["id"]: c["status"] for c in summary["components"]}["search"] == "major_outage"


def test_overrides_and_maintenance_through_the_api(plane: ControlPlane) -> None:
    with httpx.Client(base_url=plane.url) as anonymous:
        refused = anonymous.put("/api/v1/status/components/chat", json={"status": "major_outage"})
        assert refused.status_code == 401
    with plane.client() as http:
        bad = http.put("/api/v1/status/components/chat", json={"status": "on_fire", "reason": "x"})
        assert bad.status_code == 422
        assert bad.json()["error"]["field"] == "status"
        unknown = http.put("/api/v1/status/components/nope", json={"status": "major_outage"})
        assert unknown.status_code == 422
        assert unknown.json()["error"]["field"] == "component"
        ok = http.put(
            "/api/v1/status/components/chat",
            json={"status": "major_outage", "reason": SECRETS["reason"], "for": "2h"},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["expires_at"] == NOW + 7200
        start = "2026-02-01T00:00:00Z"
        made = http.post(
            "/api/v1/status/maintenances",
            json={"components": ["search"], "title": "Index rebuild", "starts_at": start,
                  "ends_at": "2026-02-01T02:00:00Z", "message": "Search may be slow."},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        missing = http.post("/api/v1/status/maintenances", json={"components": ["search"]})
        assert missing.status_code == 422
        summary = http.get("/status/api/v2/summary.json").json()
        assert summary["components"][0]["status"] == "major_outage"
        assert summary["scheduled_maintenances"][0]["name"] == "Index rebuild"
        assert SECRETS["reason"] not in http.get("/status").text
        assert http.delete("/api/v1/status/components/chat").status_code == 204
        summary = http.get("/status/api/v2/summary.json").json()
        assert summary["components"][0]["status"] == "operational"


def test_cli_sets_overrides_and_maintenance(tmp_path: Path) -> None:
    config = tmp_path / "prodloop.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n{PAGE_YAML}")
    runner = CliRunner()
    base = ["statuspage"]
    result = runner.invoke(
        cli,
        [*base, "component", "chat", "--state", "degraded_performance", "--reason", "slow",
         "--for", "2h", "--by", "ops", "--config", str(config)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "chat: degraded_performance until" in result.output
    result = runner.invoke(
        cli,
        [*base, "maintenance", "--component", "search", "--start", "2099-01-01T00:00Z",
         "--end", "2099-01-01T01:00Z", "--title", "Upgrade", "--by", "ops",
         "--config", str(config)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = runner.invoke(cli, [*base, "show", "--json", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    assert summary["components"][0]["status"] == "degraded_performance"
    assert summary["scheduled_maintenances"][0]["name"] == "Upgrade"


def test_page_is_self_contained(plane: ControlPlane) -> None:
    with httpx.Client(base_url=plane.url) as http:
        html = http.get("/status").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "prefers-color-scheme:dark" in html
    assert "<script" not in html
    assert "https://" not in html and "@import" not in html  # no CDN, no remote assets


def test_cache_serves_the_last_build_until_a_change_here(tmp_path: Path) -> None:
    cached = PAGE_YAML.replace("refresh_s: 0", "refresh_s: 600")
    with (
        running_control_plane(
            tmp_path, control_yaml=cached, clock=ManualClock(NOW), start_pipeline=False
        ) as plane,
        plane.client() as http,
    ):
        first = http.get("/status/api/v2/components.json")
        add_alert(plane.engine, "search", "ticket", fired_at=NOW - 10)
        again = http.get("/status/api/v2/components.json")
        assert again.headers["etag"] == first.headers["etag"]  # within refresh_s
        http.put(
            "/api/v1/status/components/chat",
            json={"status": "under_maintenance", "reason": "planned"},
        )
        fresh = http.get("/status/api/v2/components.json").json()["components"]
    assert [c["status"] for c in fresh] == ["under_maintenance", "degraded_performance"]
