"""Post-mortem drafts: the Google SRE sections, filled in with the incident's figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from prodloop.clock import ManualClock
from prodloop.errors import ValidationError
from prodloop.incidents.comms import post_status_update, resolve_incident
from prodloop.incidents.lifecycle import acknowledge_incident, list_incidents, load_incident
from prodloop.incidents.postmortem import (
    ActionItem,
    gather,
    parse_action_item,
    slug,
    write_postmortem,
)
from prodloop.store import connect
from prodloop.store.schema import request_events
from tests.incidents.test_lifecycle import START, drive, incident_config

SECTIONS = [
    "## Summary",
    "## Impact",
    "## Root causes",
    "## Trigger",
    "## Resolution",
    "## Detection",
    "## Action items",
    "## Lessons learned",
    "### What went well",
    "### What went wrong",
    "### Where we got lucky",
    "## Timeline",
]


def test_a_draft_has_every_section_and_the_figures(tmp_path: Path) -> None:
    config = incident_config(f"sqlite:///{tmp_path / 'p.db'}")
    engine = connect(config.store.url)
    clock = ManualClock(START)
    drive(engine, config, clock, 6, 0.0)
    drive(engine, config, clock, 8, 1.0)  # 160 failed requests
    (incident,) = list_incidents(engine)
    detected = incident.detected_at
    clock.set(detected + 240)
    acknowledge_incident(engine, incident.id, "alice", clock.now())
    clock.set(detected + 420)
    post_status_update(engine, incident.id, "investigating", "Errors.", "alice", clock.now())
    drive(engine, config, clock, 2, 0.0)
    post_status_update(engine, incident.id, "monitoring", "Recovered.", "alice", clock.now())
    mitigated = clock.now()
    clock.set(detected + 3600)
    resolve_incident(engine, incident.id, "alice", clock.now(), message="Done.")

    items = [ActionItem("Alert on upstream 5xx sooner", "alice", "GH-42")]
    path = write_postmortem(engine, config, incident.id, clock.now(), output_dir=tmp_path / "pm",
                            action_items=items)  # fmt: skip

    assert path.name == "2026-01-01-" + slug(incident.title) + ".md"
    assert re.fullmatch(r"2026-01-01-[a-z0-9-]+\.md", path.name)
    text = path.read_text(encoding="utf-8")
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    figures = gather(engine, config, incident.id, clock.now()).figures
    assert figures.requests_affected == 160
    with engine.connect() as conn:
        total = conn.execute(
            select(func.count()).select_from(request_events).where(request_events.c.ts <= mitigated)
        ).scalar_one()
    assert figures.budget_consumed["error-rate"] == pytest.approx(160 / (0.01 * total))
    assert figures.time_to_acknowledge_s == 240
    assert figures.time_to_first_update_s == 420
    assert figures.time_to_mitigate_s == mitigated - detected
    assert figures.time_to_resolve_s == 3600
    assert "- Requests affected: 160 (" in text
    consumed = figures.budget_consumed["error-rate"]
    assert consumed is not None
    assert f"SLO `error-rate`: {consumed * 100:.1f}% of its 30-day budget" in text
    assert "- Time to acknowledge: 4.0 min" in text
    assert "- Time to first public update: 7.0 min" in text
    assert "- Time to resolve: 60.0 min" in text
    assert "| Alert on upstream 5xx sooner | alice | GH-42 |" in text
    assert "The first public update went out 7.0 min after detection." in text
    timeline = text[text.index("## Timeline") :]
    for kind in ("detected", "paged", "acknowledged", "status_update", "mitigation_done",
                 "resolved"):  # fmt: skip
        assert f"**{kind}**" in timeline
    assert load_incident(engine, incident.id).status == "resolved"

    with pytest.raises(ValidationError) as caught:
        write_postmortem(engine, config, incident.id, clock.now(), output_dir=tmp_path / "pm")
    assert caught.value.field == "output"


def test_action_items_parse_and_refuse() -> None:
    assert parse_action_item("Fix it; bob ;LIN-7") == ActionItem("Fix it", "bob", "LIN-7")
    assert parse_action_item("Fix it") == ActionItem("Fix it", "", "")
    with pytest.raises(ValidationError) as caught:
        parse_action_item(";bob;X")
    assert caught.value.field == "action"


def test_slug() -> None:
    assert (
        slug("ErrorRateAboveThreshold on chat: 40% > 3%") == "errorrateabovethreshold-on-chat-40-3"
    )
    assert slug("!!!") == "incident"
