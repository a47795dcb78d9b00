"""On-call schedules: daily and weekly rotations, handoffs across DST, overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodloop.alerting.oncall import (
    handoff_at,
    on_call,
    resolve_targets,
    shift_at,
    who_is_on_call,
)
from prodloop.config import Paging, Schedule, parse_config
from prodloop.errors import ConfigError, NotFoundError

HOUR = 3600.0


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _local(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


WEEKLY = Schedule(people=["alice", "bob", "carol"], start="2025-12-29", handoff="09:00")


def test_weekly_rotation_hands_off_on_the_start_weekday() -> None:
    now = _utc("2026-01-01T12:00")
    current = shift_at(WEEKLY, now)
    week_later = shift_at(WEEKLY, now + 7 * 24 * HOUR)
    third = shift_at(WEEKLY, _utc("2026-01-12T09:00"))

    assert (current.person, current.start, current.end) == (
        "alice",
        _utc("2025-12-29T09:00"),
        _utc("2026-01-05T09:00"),
    )
    assert week_later.person == "bob"
    assert third.person == "carol"  # exactly at the handoff, the next person is on
    assert shift_at(WEEKLY, _utc("2026-01-12T08:59")).person == "bob"
    assert shift_at(WEEKLY, _utc("2026-01-19T09:00")).person == "alice"  # wraps around


def test_before_the_rotation_starts_it_runs_backwards() -> None:
    assert shift_at(WEEKLY, _utc("2025-12-29T08:00")).person == "carol"
    assert shift_at(WEEKLY, _utc("2025-12-22T09:00")).person == "carol"
    assert shift_at(WEEKLY, _utc("2025-12-22T08:00")).person == "bob"


def test_daily_handoff_stays_at_local_time_across_spring_forward() -> None:
    zone = "America/New_York"  # DST starts Sunday 2026-03-08 at 02:00
    daily = Schedule(
        rotation="daily", people=["ana", "ben"], start="2026-03-01", handoff="09:00", timezone=zone
    )
    saturday = shift_at(daily, _utc("2026-03-07T20:00"))
    sunday = shift_at(daily, saturday.end)

    assert _local(saturday.start, zone) == "2026-03-07 09:00 EST"
    assert _local(saturday.end, zone) == "2026-03-08 09:00 EDT"
    assert saturday.end - saturday.start == 23 * HOUR
    assert sunday.end - sunday.start == 24 * HOUR
    assert saturday.end == _utc("2026-03-08T13:00")
    assert saturday.person == "ana" and sunday.person == "ben"


def test_weekly_shift_over_fall_back_is_a_hour_longer() -> None:
    zone = "Europe/Berlin"  # DST ends Sunday 2026-10-25 at 03:00
    weekly = Schedule(people=["a", "b"], start="2026-10-19", handoff="10:30", timezone=zone)
    shift = shift_at(weekly, _utc("2026-10-24T12:00"))

    assert _local(shift.start, zone) == "2026-10-19 10:30 CEST"
    assert _local(shift.end, zone) == "2026-10-26 10:30 CET"
    assert shift.end - shift.start == 7 * 24 * HOUR + HOUR


def test_a_handoff_inside_the_spring_gap_moves_forward_consistently() -> None:
    zone = "Europe/Berlin"  # 2026-03-29 02:00-03:00 does not exist
    daily = Schedule(rotation="daily", people=["a", "b"], start="2026-03-28", handoff="02:30",
                     timezone=zone)  # fmt: skip
    gap_day = handoff_at(daily, 1)

    assert handoff_at(daily, 0) < gap_day < handoff_at(daily, 2)
    assert shift_at(daily, gap_day).person == "b"
    assert shift_at(daily, gap_day - 1).person == "a"


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=_utc("2024-01-01T00:00"), max_value=_utc("2030-01-01T00:00")))
def test_every_moment_falls_in_exactly_one_shift(when: float) -> None:
    daily = Schedule(
        rotation="daily",
        people=["a", "b", "c"],
        start="2026-01-01",
        handoff="01:30",
        timezone="America/Los_Angeles",
    )
    shift = shift_at(daily, when)
    assert shift.start <= when < shift.end
    assert shift.end - shift.start in (23 * HOUR, 24 * HOUR, 25 * HOUR)
    assert shift_at(daily, shift.end).person != shift.person
    assert shift_at(daily, shift.end - 0.001).person == shift.person


def _with_overrides() -> Schedule:
    return Schedule(
        people=["alice", "bob"],
        start="2025-12-29",
        handoff="09:00",
        timezone="Europe/Paris",
        overrides=[
            {"person": "carol", "start": "2026-01-02T18:00", "end": "2026-01-03T08:00"},
            {"person": "dave", "start": "2026-01-02T20:00", "end": "2026-01-02T22:00"},
        ],
    )


def test_overrides_take_over_and_cut_the_rotation_short() -> None:
    schedule = _with_overrides()
    zone = "Europe/Paris"
    before = on_call("primary", schedule, _utc("2026-01-02T12:00"))
    during = shift_at(schedule, _utc("2026-01-02T18:30"))  # 19:30 in Paris
    nested = shift_at(schedule, _utc("2026-01-02T20:30"))
    resumed = shift_at(schedule, _utc("2026-01-02T21:00"))
    after = shift_at(schedule, _utc("2026-01-03T07:30"))

    assert before.current.person == "alice"
    assert _local(before.current.end, zone) == "2026-01-02 18:00 CET"  # carol takes over
    assert (before.next.person, before.next.is_override) == ("carol", True)
    assert (during.person, during.is_override) == ("carol", True)
    assert _local(during.end, zone) == "2026-01-02 20:00 CET"  # dave's override cuts in
    assert nested.person == "dave"  # the later override wins
    assert shift_at(schedule, during.end).person == "dave"
    assert (resumed.person, _local(resumed.start, zone)) == ("carol", "2026-01-02 22:00 CET")
    assert _local(resumed.end, zone) == "2026-01-03 08:00 CET"
    assert after.person == "alice" and not after.is_override
    assert _local(after.start, zone) == "2026-01-03 08:00 CET"
    assert after.end == handoff_at(schedule, 1)


def test_override_times_with_an_offset_are_taken_as_given() -> None:
    schedule = Schedule(
        people=["alice"],
        start="2025-12-29",
        overrides=[
            {"person": "bob", "start": "2026-01-02T09:00-05:00", "end": "2026-01-02T15:00Z"}
        ],
    )
    assert shift_at(schedule, _utc("2026-01-02T14:30")).person == "bob"
    assert shift_at(schedule, _utc("2026-01-02T15:00")).person == "alice"
    assert shift_at(schedule, _utc("2026-01-02T13:59")).person == "alice"


def _paging() -> Paging:
    return parse_config(
        """
paging:
  people:
    alice: {notify: [console]}
    bob: {notify: [console]}
  schedules:
    primary: {people: [alice, bob], start: 2025-12-29}
    backup: {people: [bob, alice], start: 2025-12-29, rotation: daily}
  escalation_policies:
    chat:
      levels:
        - {targets: ["schedule:primary", "person:alice", "schedule:backup"]}
""",
        environ={},
    ).paging


def test_targets_resolve_to_people_once_each() -> None:
    paging = _paging()
    now = _utc("2026-01-01T08:00")  # primary (weekly): alice; backup (daily, 3rd day): bob
    targets = paging.escalation_policies["chat"].levels[0].targets

    assert resolve_targets(paging, targets, now) == ["alice", "bob"]
    assert [o.schedule for o in who_is_on_call(paging, now)] == ["primary", "backup"]
    with pytest.raises(NotFoundError) as missing:
        who_is_on_call(paging, now, "nights")
    assert "no schedule 'nights' (known: primary, backup)" in str(missing.value)


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        (
            '{person: bob, start: "soon", end: "2026-01-02"}',
            "paging.schedules.primary.overrides.0.start",
            "'soon' is not an ISO 8601 time",
        ),
        (
            '{person: bob, start: "2026-01-03", end: "2026-01-02"}',
            "paging.schedules.primary.overrides.0.end",
            "the override must end after it starts",
        ),
        (
            '{person: zed, start: "2026-01-01", end: "2026-01-02"}',
            "paging.schedules.primary.overrides.0.person",
            "unknown person 'zed'",
        ),
    ],
)
def test_bad_overrides_are_refused_at_load(override: str, field: str, message: str) -> None:
    text = f"""
paging:
  people:
    alice: {{notify: [console]}}
    bob: {{notify: [console]}}
  schedules:
    primary:
      people: [alice]
      overrides: [{override}]
"""
    with pytest.raises(ConfigError) as bad:
        parse_config(text, environ={})
    assert bad.value.field == field
    assert message in bad.value.message


def test_someone_on_call_without_a_notifier_is_refused_at_load() -> None:
    text = """
paging:
  people:
    alice: {}
  schedules:
    primary: {people: [alice]}
"""
    with pytest.raises(ConfigError) as bad:
        parse_config(text, environ={})
    assert bad.value.field == "paging.schedules.primary.people.0"
    assert "has no notifiers" in bad.value.message
