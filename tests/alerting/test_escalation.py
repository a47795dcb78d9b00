"""Escalation: levels paged in turn until someone acknowledges; timers survive restarts."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from prodloop.alerting.acks import acknowledge
from prodloop.alerting.deliveries import list_deliveries
from prodloop.alerting.escalation import (
    EscalationState,
    advance_escalation,
    start_escalation,
    total_pages,
)
from prodloop.alerting.paging import run_paging
from prodloop.config import EscalationPolicy, parse_config
from prodloop.store import connect
from prodloop.store.schema import alert_paging
from tests.alerting.recorder import (
    PAGERDUTY_PATH,
    T0,
    Recorder,
    environ,
    insert_alert,
    paging_yaml,
    recording_server,
)

MINUTE = 60.0
POLICY = EscalationPolicy(
    repeat=1,
    levels=[{"targets": ["person:a"], "after": "10m"}, {"targets": ["person:b"], "after": "15m"}],
)


def test_levels_are_paged_in_turn_then_the_policy_repeats_then_stops() -> None:
    state = start_escalation(POLICY, T0)
    pages = [(0.0, 0, 0)]
    now = T0
    while not state.is_exhausted:
        assert state.next_at is not None
        now = state.next_at
        state, level = advance_escalation(POLICY, state, now)
        if level is not None:
            pages.append(((now - T0) / MINUTE, level, state.cycle))

    assert pages == [(0.0, 0, 0), (10.0, 1, 0), (25.0, 0, 1), (35.0, 1, 1)]
    assert len(pages) == total_pages(POLICY) == 4
    assert advance_escalation(POLICY, state, now + 10_000) == (state, None)


def test_nothing_is_paged_before_the_deadline() -> None:
    state = start_escalation(POLICY, T0)
    assert state == EscalationState(0, 0, T0 + 600)
    assert advance_escalation(POLICY, state, T0 + 599) == (state, None)


def test_a_late_tick_pages_the_overdue_level_once_and_restarts_the_timer() -> None:
    state = start_escalation(POLICY, T0)
    later, level = advance_escalation(POLICY, state, T0 + 3600)
    assert level == 1
    assert later.next_at == T0 + 3600 + 15 * MINUTE


def test_a_single_level_without_repeat_is_exhausted_at_once() -> None:
    policy = EscalationPolicy(repeat=0, levels=[{"targets": ["person:a"]}])
    assert start_escalation(policy, T0).is_exhausted


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server


def _pd_actions(recorder: Recorder) -> list[tuple[str, str]]:
    return [
        (body["event_action"], body["dedup_key"].rsplit("/", 1)[1])
        for body in recorder.bodies(PAGERDUTY_PATH)
    ]


def test_unacknowledged_page_escalates_and_acknowledgement_stops_it(
    store_url: str, recorder: Recorder
) -> None:
    config = parse_config(paging_yaml(recorder.url), environ=environ(recorder.url))
    engine = connect(store_url)
    alert_id = insert_alert(engine, at=T0)
    with httpx.Client() as http:
        first = run_paging(engine, config, T0, http=http)
        quiet = run_paging(engine, config, T0 + 9 * MINUTE, http=http)
        escalated = run_paging(engine, config, T0 + 10 * MINUTE, http=http)
        acknowledge(engine, alert_id, "bob", T0 + 12 * MINUTE)
        acked = run_paging(engine, config, T0 + 12 * MINUTE, http=http)
        after = [run_paging(engine, config, T0 + m * MINUTE, http=http) for m in (25, 35, 60)]

    assert (first.paged, quiet.escalated, escalated.escalated, acked.acknowledged) == (1, 0, 1, 1)
    assert all(r.escalated == 0 and r.repeated == 0 for r in after)
    # level 1 is alice (on call); level 2 is bob; the acknowledgement reaches PagerDuty
    escalations = list_deliveries(engine, alert_id=alert_id)
    by_action = sorted((d.action, d.notifier, d.recipients) for d in escalations)
    assert ("escalation", "pagerduty", ("bob",)) in by_action
    assert ("escalation", "console", ("bob",)) in by_action
    assert ("firing", "pagerduty", ("alice",)) in by_action
    assert _pd_actions(recorder) == [
        ("trigger", str(alert_id)),
        ("trigger", str(alert_id)),
        ("acknowledge", str(alert_id)),
    ]
    with engine.connect() as conn:
        row = conn.execute(select(alert_paging)).mappings().one()
    assert (row["escalation_level"], row["next_escalation_at"], row["escalation_stopped"]) == (
        1,
        None,
        "acknowledged",
    )
    engine.dispose()


def test_escalation_timers_survive_a_restart(store_url: str, recorder: Recorder) -> None:
    config = parse_config(paging_yaml(recorder.url), environ=environ(recorder.url))
    engine = connect(store_url)
    insert_alert(engine, at=T0)
    with httpx.Client() as http:
        run_paging(engine, config, T0, http=http)
    engine.dispose()
    sent_before = len(recorder.received)

    restarted = connect(store_url)  # a new process on the same store
    with httpx.Client() as http:
        again = run_paging(restarted, config, T0 + 5 * MINUTE, http=http)
        due = run_paging(restarted, config, T0 + 10 * MINUTE, http=http)
    restarted.dispose()

    assert (again.paged, again.escalated, again.deliveries.attempted) == (0, 0, 0)
    assert len(recorder.received) - sent_before == 1  # bob's PagerDuty page, once
    assert due.escalated == 1
