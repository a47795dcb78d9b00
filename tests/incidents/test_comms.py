"""Status updates: statuses, the first-update time, and bad input refused with its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from prodloop.clock import ManualClock
from prodloop.config import Config, parse_config
from prodloop.errors import NotFoundError, ValidationError
from prodloop.incidents.comms import (
    check_deadline,
    list_updates,
    post_status_update,
    resolve_incident,
    template_message,
)
from prodloop.incidents.lifecycle import (
    IncidentStateError,
    get_incident,
    list_incidents,
    load_incident,
)
from prodloop.store import connect
from prodloop.store.schema import notification_deliveries, status_updates

# `store` is a fixture: a config and a migrated store.
from tests.incidents.test_lifecycle import START, drive, incident_yaml, store  # noqa: F401


def _opened(opened: tuple[Config, Engine]) -> tuple[Config, Engine, ManualClock, int]:
    config, engine = opened
    clock = ManualClock(START)
    drive(engine, config, clock, 8, 1.0)
    (incident,) = list_incidents(engine)
    return config, engine, clock, incident.id


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(status_updates)).scalar_one())


def test_updates_move_the_status_and_record_time_to_first_update(
    store: tuple[Config, Engine],  # noqa: F811
) -> None:
    _, engine, clock, incident_id = _opened(store)
    detected = load_incident(engine, incident_id).detected_at
    clock.set(detected + 420)
    post_status_update(
        engine, incident_id, "investigating", "Errors on chat.", "alice", clock.now()
    )
    clock.advance(300)
    post_status_update(engine, incident_id, "identified", "A bad deploy.", "alice", clock.now())
    clock.advance(300)
    post_status_update(engine, incident_id, "monitoring", "Rolled back.", "alice", clock.now())
    clock.advance(600)
    resolve_incident(engine, incident_id, "alice", clock.now(), message="All good.")

    incident = load_incident(engine, incident_id)
    assert incident.status == "resolved"
    assert incident.first_update_at == detected + 420
    assert incident.mitigated_at == detected + 1020  # monitoring: the fix is in
    assert incident.resolved_at == detected + 1620
    with engine.connect() as conn:
        updates = list_updates(conn, incident_id)
    assert [u.status for u in updates] == ["investigating", "identified", "monitoring", "resolved"]
    assert [u.message for u in updates][-1] == "All good."


@pytest.mark.parametrize(
    ("status", "message", "by", "field"),
    [
        ("fixed", "text", "alice", "status"),
        ("", "text", "alice", "status"),
        ("investigating", "", "alice", "message"),
        ("investigating", "   ", "alice", "message"),
        ("investigating", "x" * 5001, "alice", "message"),
        ("investigating", "text", " ", "by"),
    ],
)
def test_bad_updates_are_refused_naming_the_field(
    store: tuple[Config, Engine],  # noqa: F811
    status: str,
    message: str,
    by: str,
    field: str,
) -> None:
    _, engine, clock, incident_id = _opened(store)
    with pytest.raises(ValidationError) as caught:
        post_status_update(engine, incident_id, status, message, by, clock.now())
    assert caught.value.field == field
    assert _count(engine) == 0


def test_an_unknown_incident_is_refused(store: tuple[Config, Engine]) -> None:  # noqa: F811
    _, engine, clock, _ = _opened(store)
    with pytest.raises(NotFoundError) as caught:
        post_status_update(engine, 999, "investigating", "text", "alice", clock.now())
    assert caught.value.field == "incident"
    assert "no incident 999" in caught.value.message


def test_nothing_moves_an_incident_back_from_resolved(
    store: tuple[Config, Engine],  # noqa: F811
) -> None:
    _, engine, clock, incident_id = _opened(store)
    resolve_incident(engine, incident_id, "alice", clock.now())
    before = _count(engine)
    for status in ("investigating", "monitoring", "resolved"):
        with pytest.raises(IncidentStateError) as caught:
            post_status_update(engine, incident_id, status, "again", "alice", clock.now())
        assert caught.value.status_code == 409
        assert caught.value.field == "status"
        assert "was resolved" in caught.value.message
    assert _count(engine) == before
    assert load_incident(engine, incident_id).status == "resolved"


def test_the_deadline_acts_once(store: tuple[Config, Engine]) -> None:  # noqa: F811
    config, engine, _, incident_id = _opened(store)
    detected = load_incident(engine, incident_id).detected_at
    for offset in (900, 905, 1800):
        with engine.begin() as conn:
            incident = get_incident(conn, incident_id)
            done = check_deadline(conn, config, incident, detected + offset)
        assert done == (["deadline_template"] if offset == 900 else [])
    assert _count(engine) == 1


def test_the_template_fills_in_the_incident() -> None:
    config = parse_config(
        "incidents:\n  template_message: 'Looking into {service} ({severity}, #{id})'\n",
        environ={},
    )
    from prodloop.incidents.lifecycle import Incident

    incident = Incident(7, "chat", "t", "SEV2", "investigating", "major", None, False, None,
                        0.0, None, None, None, None, None, None, None, 0.0, 0.0)  # fmt: skip
    assert template_message(config, incident) == "Looking into chat (SEV2, #7)"


def test_a_template_with_an_unknown_placeholder_is_a_config_error() -> None:
    from prodloop.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config("incidents:\n  template_message: 'Down: {host}'\n", environ={})
    assert caught.value.field == "incidents.template_message"
    assert "host" in caught.value.message


def test_a_reminder_skips_pagerduty_and_an_escalation_pages_through_it(tmp_path: Path) -> None:
    text = incident_yaml("incidents:\n  deadline_policy: escalate\n")
    text = text.replace(
        "    console: {kind: console}\n",
        "    console: {kind: console}\n"
        '    pd: {kind: pagerduty, routing_key: "${PD_KEY}", events_url: "http://127.0.0.1:9/e"}\n',
    )
    text = text.replace("alice: {notify: [console]}", "alice: {notify: [pd, console]}")
    text = text.replace("bob: {notify: [console]}", "bob: {notify: [pd]}")
    store_url = f"sqlite:///{tmp_path / 'p.db'}"
    config = parse_config(f"store:\n  url: {store_url}\n" + text, environ={"PD_KEY": "k"})
    engine = connect(store_url)
    drive(engine, config, ManualClock(START), 25, 1.0)
    (incident,) = list_incidents(engine)

    with engine.connect() as conn:
        sent = conn.execute(
            select(
                notification_deliveries.c.notifier,
                notification_deliveries.c.action,
                notification_deliveries.c.recipients,
                notification_deliveries.c.payload,
            )
            .where(notification_deliveries.c.group_key == f"incident:{incident.id}")
            .order_by(notification_deliveries.c.id)
        ).all()
    assert [(n, a, r) for n, a, r, _ in sent] == [
        ("console", "repeat", "alice"),
        ("pd", "escalation", "bob"),
    ]
    assert "IncidentUpdateDue" in json.loads(sent[0][3])["line"]
    page = json.loads(sent[1][3])
    assert page["event_action"] == "trigger"
    assert f"incident-{incident.id}-IncidentUpdateOverdue" in page["dedup_key"]
