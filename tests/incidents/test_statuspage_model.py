"""Component states, daily uptime and the public incident list, from store rows."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from prodloop.config import Config, parse_config
from prodloop.incidents.statuspage.manual import (
    clear_override,
    create_maintenance,
    list_overrides,
    set_override,
)
from prodloop.incidents.statuspage.model import (
    Signals,
    build_page,
    component_state,
    find_incident,
)
from prodloop.store import connect
from prodloop.telemetry.rollups import DAY_S
from tests.web.statuspage_data import (
    SERVICES_YAML,
    add_alert,
    add_incident,
    add_maintenance,
    add_override,
    add_traffic,
    add_update,
)

NOW = 1_767_225_600.0 + 10 * DAY_S + 12 * 3600  # 2026-01-11T12:00Z


@pytest.fixture
def engine(store_url: str) -> Engine:
    return connect(store_url)  # SQLite and PostgreSQL


@pytest.fixture
def config() -> Config:
    return parse_config(
        SERVICES_YAML
        + """
statuspage:
  uptime_days: 5
  components:
    chat: {name: Chat API, description: Chat completions}
    search: {}
"""
    )


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (Signals(), "operational"),
        (Signals(firing_severities=frozenset({"ticket"})), "degraded_performance"),
        (Signals(firing_severities=frozenset({"page"})), "partial_outage"),
        (Signals(firing_severities=frozenset({"page", "ticket"})), "partial_outage"),
        (Signals(firing_severities=frozenset({"page"}), failing_share=0.49), "partial_outage"),
        (Signals(firing_severities=frozenset({"page"}), failing_share=0.5), "major_outage"),
        (
            Signals(firing_severities=frozenset({"ticket"}), failing_share=0.9),
            "degraded_performance",
        ),
        (Signals(has_sev1_incident=True), "major_outage"),
        (
            Signals(is_in_maintenance=True, firing_severities=frozenset({"page"})),
            "under_maintenance",
        ),
        (Signals(override="operational", has_sev1_incident=True), "operational"),
        (Signals(override="partial_outage", is_in_maintenance=True), "partial_outage"),
    ],
)
def test_component_state_rule(signals: Signals, expected: str) -> None:
    assert component_state(signals, 0.5) == expected


def _states(engine: Engine, config: Config, now: float = NOW, **kw: bool) -> dict[str, str]:
    return {c.id: c.status for c in build_page(engine, config, now, **kw).components}


def test_states_follow_live_alerts(engine: Engine, config: Config) -> None:
    assert _states(engine, config) == {"chat": "operational", "search": "operational"}
    add_alert(engine, "search", "ticket", fired_at=NOW - 120)
    add_alert(engine, "chat", "page", fired_at=NOW - 60)
    add_alert(engine, "chat", "ticket", fired_at=NOW - 3000, state="resolved")
    assert _states(engine, config) == {"chat": "partial_outage", "search": "degraded_performance"}
    page = build_page(engine, config, NOW)
    assert page.indicator == "major"
    assert page.description == "Partial System Outage"
    assert page.component("chat").updated_at == NOW - 60  # type: ignore[union-attr]


def test_page_with_most_traffic_failing_is_a_major_outage(engine: Engine, config: Config) -> None:
    add_alert(engine, "chat", "page", fired_at=NOW - 60)
    add_traffic(engine, "chat", at=NOW - 120, requests=10, errors=4)
    assert _states(engine, config)["chat"] == "partial_outage"
    add_traffic(engine, "chat", at=NOW - 90, requests=10, errors=8)  # 12 of 20 fail
    assert _states(engine, config)["chat"] == "major_outage"
    assert build_page(engine, config, NOW).indicator == "critical"


def test_sev1_incident_is_a_major_outage_until_resolved(engine: Engine, config: Config) -> None:
    incident = add_incident(engine, "chat", detected_at=NOW - 600, severity="SEV1")
    assert _states(engine, config)["chat"] == "major_outage"
    add_incident(engine, "search", detected_at=NOW - 600, severity="SEV1", is_drill=True)
    assert _states(engine, config)["search"] == "operational"
    assert _states(engine, config, include_drills=True)["search"] == "major_outage"
    del incident


def test_drill_alerts_stay_off_the_production_page(engine: Engine, config: Config) -> None:
    drill = add_incident(engine, "search", detected_at=NOW - 600, is_drill=True)
    add_alert(engine, "search", "page", fired_at=NOW - 600, incident_id=drill)
    assert _states(engine, config)["search"] == "operational"
    assert _states(engine, config, include_drills=True)["search"] == "partial_outage"


def test_override_wins_until_it_expires(engine: Engine, config: Config) -> None:
    add_alert(engine, "chat", "page", fired_at=NOW - 60)
    add_override(engine, "chat", "degraded_performance", at=NOW - 30, expires_at=NOW + 3600)
    assert _states(engine, config)["chat"] == "degraded_performance"
    assert _states(engine, config, now=NOW + 3601)["chat"] == "partial_outage"


def test_maintenance_window(engine: Engine, config: Config) -> None:
    add_maintenance(engine, ["chat", "unknown"], starts_at=NOW + 600, ends_at=NOW + 1200)
    page = build_page(engine, config, NOW)
    assert [m.status for m in page.maintenances] == ["scheduled"]
    assert page.maintenances[0].component_ids == ("chat",)
    assert _states(engine, config, now=NOW + 700)["chat"] == "under_maintenance"
    assert build_page(engine, config, NOW + 700).description == "Service Under Maintenance"
    assert _states(engine, config, now=NOW + 1200)["chat"] == "operational"


def test_daily_uptime_is_the_good_request_share(engine: Engine, config: Config) -> None:
    today = NOW - NOW % DAY_S
    add_traffic(engine, "chat", at=today - 2 * DAY_S + 100, requests=200, errors=2)
    add_traffic(engine, "chat", at=today + 100, requests=100, errors=15)
    chat = build_page(engine, config, NOW).component("chat")
    assert chat is not None
    assert [bar.day for bar in chat.uptime] == [today - i * DAY_S for i in range(4, -1, -1)]
    assert [bar.share for bar in chat.uptime] == [None, None, 0.99, None, 0.85]
    assert [bar.band for bar in chat.uptime] == [
        None,
        None,
        "degraded_performance",
        None,
        "partial_outage",
    ]
    assert chat.uptime_share == pytest.approx(283 / 300)


def test_incidents_need_a_published_update(engine: Engine, config: Config) -> None:
    quiet = add_incident(engine, "chat", detected_at=NOW - 900)
    assert build_page(engine, config, NOW).incidents == ()
    add_update(engine, quiet, NOW - 800, "investigating", "We are looking into errors.")
    add_update(engine, quiet, NOW - 400, "monitoring", "A fix is out.")
    old = add_incident(
        engine, "search", detected_at=NOW - 5 * DAY_S, status="resolved", impact="minor",
        resolved_at=NOW - 5 * DAY_S + 600,
    )  # fmt: skip
    add_update(engine, old, NOW - 5 * DAY_S + 600, "resolved", "All good.")
    other = add_incident(engine, "billing", detected_at=NOW - 100)  # not a component
    add_update(engine, other, NOW - 50, "investigating", "Not public.")
    page = build_page(engine, config, NOW)
    assert [(i.id, i.name, i.status) for i in page.incidents] == [
        (str(quiet), "Partial outage of Chat API", "monitoring"),
        (str(old), "Degraded performance of search", "resolved"),
    ]
    current = page.incidents[0]
    assert [u.body for u in current.updates] == ["A fix is out.", "We are looking into errors."]
    assert current.monitoring_at == NOW - 400
    assert current.started_at == NOW - 900
    assert page.unresolved_incidents == (current,)


def test_find_incident_reads_one_public_incident_whatever_its_age(
    engine: Engine, config: Config
) -> None:
    limited = config.model_copy(
        update={"statuspage": config.statuspage.model_copy(update={"history_limit": 1})}
    )
    ids = []
    for days in (3, 2):
        found = add_incident(
            engine, "search", detected_at=NOW - days * DAY_S, status="resolved",
            resolved_at=NOW - days * DAY_S + 120,
        )  # fmt: skip
        add_update(engine, found, NOW - days * DAY_S + 120, "resolved", f"Fixed {days}.")
        ids.append(found)
    drill = add_incident(engine, "chat", detected_at=NOW - 60, is_drill=True)
    add_update(engine, drill, NOW - 30, "investigating", "Rehearsal.")
    quiet = add_incident(engine, "chat", detected_at=NOW - 60)

    page = build_page(engine, limited, NOW)
    assert [i.id for i in page.incidents] == [str(ids[1])]  # the limit hides the older one
    older = find_incident(engine, limited, ids[0])
    assert older is not None
    assert (older.name, older.status, older.duration_s) == (
        "Partial outage of search", "resolved", 120.0
    )  # fmt: skip
    assert [u.body for u in older.updates] == ["Fixed 3."]
    assert page.incident_url(older) == f"{page.url}/incidents/{ids[0]}"
    assert find_incident(engine, limited, drill) is None
    found_drill = find_incident(engine, limited, drill, include_drills=True)
    assert found_drill is not None and found_drill.name == "[drill] Partial outage of Chat API"
    assert found_drill.duration_s is None  # still open
    assert find_incident(engine, limited, quiet) is None  # nothing published yet
    assert find_incident(engine, limited, 999_999_999_999_999_999) is None  # fits a BIGINT


def test_manual_inputs_are_checked(engine: Engine) -> None:
    from prodloop.errors import ValidationError

    known = ["chat"]
    with pytest.raises(ValidationError, match="unknown component") as err:
        set_override(
            engine, "nope", status="major_outage", reason="x", set_by="a", now=NOW, known=known
        )
    assert err.value.field == "component"
    with pytest.raises(ValidationError) as err:
        set_override(engine, "chat", status="broken", reason="x", set_by="a", now=NOW, known=known)
    assert err.value.field == "status"
    with pytest.raises(ValidationError) as err:
        create_maintenance(
            engine, components=["chat"], title="t", starts_at=NOW + 10, ends_at=NOW + 5,
            created_by="a", now=NOW, known=known,
        )  # fmt: skip
    assert err.value.field == "ends_at"


def test_an_override_left_by_a_removed_component_can_be_lifted(engine: Engine) -> None:
    from prodloop.errors import NotFoundError, ValidationError

    add_override(engine, "retired", "major_outage", at=NOW)  # set while it was configured
    clear_override(engine, "retired", known=["chat"])
    assert list_overrides(engine, NOW) == []
    with pytest.raises(ValidationError, match="unknown component 'retired'"):
        clear_override(engine, "retired", known=["chat"])
    with pytest.raises(NotFoundError, match="component 'chat' has no override"):
        clear_override(engine, "chat", known=["chat"])
