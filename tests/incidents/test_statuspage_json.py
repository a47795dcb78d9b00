"""The Statuspage v2 shapes, the Atom feed (read by feedparser) and the SVG badge."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import feedparser
import pytest
from sqlalchemy.engine import Engine

from prodloop.config import parse_config
from prodloop.incidents.statuspage import statuspage_json
from prodloop.incidents.statuspage.badge import badge_svg
from prodloop.incidents.statuspage.feed import atom_feed
from prodloop.incidents.statuspage.model import PublicPage, build_page
from prodloop.store import connect
from prodloop.telemetry.rollups import DAY_S
from tests.web.statuspage_data import (
    SERVICES_YAML,
    add_alert,
    add_incident,
    add_maintenance,
    add_update,
)

NOW = 1_767_225_600.0 + 10 * DAY_S
STR, OPT_STR = (str,), (str, type(None))

PAGE = {"id": STR, "name": STR, "url": STR, "time_zone": STR, "updated_at": STR}
STATUS = {"indicator": STR, "description": STR}
COMPONENT = {
    "id": STR, "name": STR, "status": STR, "created_at": STR, "updated_at": STR,
    "position": (int,), "description": OPT_STR, "showcase": (bool,), "start_date": OPT_STR,
    "group_id": OPT_STR, "page_id": STR, "group": (bool,), "only_show_if_degraded": (bool,),
}  # fmt: skip
UPDATE = {
    "id": STR, "status": STR, "body": STR, "incident_id": STR, "created_at": STR,
    "updated_at": STR, "display_at": STR, "affected_components": (list, type(None)),
}  # fmt: skip
INCIDENT = {
    "id": STR, "name": STR, "status": STR, "created_at": STR, "updated_at": STR,
    "monitoring_at": OPT_STR, "resolved_at": OPT_STR, "impact": STR, "shortlink": STR,
    "started_at": STR, "page_id": STR, "incident_updates": (list,), "components": (list,),
}  # fmt: skip
MAINTENANCE = {**INCIDENT, "scheduled_for": STR, "scheduled_until": STR}


def check_shape(value: dict[str, Any], shape: dict[str, tuple[type, ...]]) -> None:
    assert set(value) == set(shape), set(value) ^ set(shape)
    for name, types in shape.items():
        assert isinstance(value[name], types), (name, value[name])


def check_incident(incident: dict[str, Any], shape: dict[str, tuple[type, ...]]) -> None:
    check_shape(incident, shape)
    assert incident["status"] in (
        "investigating", "identified", "monitoring", "resolved", "postmortem",
        "scheduled", "in_progress", "verifying", "completed",
    )  # fmt: skip
    assert incident["impact"] in ("none", "minor", "major", "critical", "maintenance")
    for update in incident["incident_updates"]:
        check_shape(update, UPDATE)
        assert update["incident_id"] == incident["id"]
    for component in incident["components"]:
        check_shape(component, COMPONENT)


@pytest.fixture
def page(sqlite_url: str) -> PublicPage:
    engine: Engine = connect(sqlite_url)
    config = parse_config(
        SERVICES_YAML + "statuspage:\n  url: https://status.example.com/\n  components:\n"
        "    chat: {name: Chat}\n    search: {description: Finding things}\n"
    )
    active = add_incident(engine, "chat", detected_at=NOW - 900, impact="major")
    add_update(engine, active, NOW - 800, "investigating", "Errors on chat.")
    add_update(engine, active, NOW - 300, "identified", "A bad deploy; rolling back.")
    add_alert(engine, "chat", "page", fired_at=NOW - 900, incident_id=active)
    done = add_incident(
        engine, "search", detected_at=NOW - 3 * DAY_S, status="resolved", impact="minor",
        resolved_at=NOW - 3 * DAY_S + 1200,
    )  # fmt: skip
    add_update(engine, done, NOW - 3 * DAY_S + 300, "monitoring", "Fixed, watching.")
    add_update(engine, done, NOW - 3 * DAY_S + 1200, "resolved", "Resolved & <done>.")
    add_maintenance(engine, ["search"], starts_at=NOW + 3600, ends_at=NOW + 7200)
    add_maintenance(engine, ["chat"], starts_at=NOW - DAY_S, ends_at=NOW - DAY_S + 600)
    return build_page(engine, config, NOW)


def test_every_document_has_statuspage_shape(page: PublicPage) -> None:
    summary = statuspage_json.summary(page)
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    check_shape(summary["page"], PAGE)
    assert summary["page"]["url"] == "https://status.example.com"
    check_shape(summary["status"], STATUS)
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    for component in summary["components"]:
        check_shape(component, COMPONENT)
    assert [(c["id"], c["name"], c["status"], c["position"]) for c in summary["components"]] == [
        ("chat", "Chat", "partial_outage", 1),
        ("search", "search", "operational", 2),
    ]
    assert [i["name"] for i in summary["incidents"]] == ["Partial outage of Chat"]
    for incident in summary["incidents"]:
        check_incident(incident, INCIDENT)
    assert [m["status"] for m in summary["scheduled_maintenances"]] == ["scheduled"]
    for maintenance in summary["scheduled_maintenances"]:
        check_incident(maintenance, MAINTENANCE)

    assert set(statuspage_json.status(page)) == {"page", "status"}
    assert set(statuspage_json.components(page)) == {"page", "components"}
    incidents = statuspage_json.incidents(page)["incidents"]
    assert [i["status"] for i in incidents] == ["identified", "resolved"]
    for incident in incidents:
        check_incident(incident, INCIDENT)
    resolved = incidents[1]
    assert resolved["resolved_at"] is not None and resolved["monitoring_at"] is not None
    assert [i["shortlink"] for i in incidents] == [
        f"https://status.example.com/incidents/{i['id']}" for i in incidents
    ]
    assert [u["status"] for u in resolved["incident_updates"]] == ["resolved", "monitoring"]
    unresolved = statuspage_json.unresolved_incidents(page)["incidents"]
    assert [i["id"] for i in unresolved] == [incidents[0]["id"]]
    maintenances = statuspage_json.scheduled_maintenances(page)["scheduled_maintenances"]
    assert [m["status"] for m in maintenances] == ["completed", "scheduled"]
    for maintenance in maintenances:
        check_incident(maintenance, MAINTENANCE)
    assert [u["status"] for u in maintenances[0]["incident_updates"]] == [
        "completed", "in_progress", "scheduled"
    ]  # fmt: skip
    assert statuspage_json.iso(NOW) == "2026-01-11T00:00:00.000+00:00"


def test_atom_feed_reads_in_a_feed_parser(page: PublicPage) -> None:
    parsed = feedparser.parse(atom_feed(page))
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Service status - Incident History"
    titles = [entry.title for entry in parsed.entries]
    assert titles == ["Partial outage of Chat", "Degraded performance of search"]
    first = parsed.entries[0]
    # Each entry links to the incident's own page, as Statuspage's feed does.
    assert [(entry.id, entry.link) for entry in parsed.entries] == [
        (f"https://status.example.com/incidents/{i.id}",) * 2 for i in page.incidents
    ]
    assert "A bad deploy; rolling back." in first.content[0].value
    assert "Resolved &amp; &lt;done&gt;." in parsed.entries[1].content[0].value
    assert first.updated_parsed is not None


def test_badge_is_svg_with_the_state(page: PublicPage) -> None:
    chat = page.component("chat")
    assert chat is not None
    root = ET.fromstring(badge_svg(chat))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("data-state") == "partial_outage"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["Chat", "partial outage"]
