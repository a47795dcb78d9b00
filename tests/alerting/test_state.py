"""The alert state machine with a manual clock: Prometheus's for, keep_firing_for, no data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from prodloop.alerting.state import INACTIVE, AlertState, NoDataPolicy, step
from prodloop.clock import ManualClock


def run(
    conditions: list[bool | None],
    *,
    for_s: float,
    keep_firing_for_s: float = 0.0,
    no_data: NoDataPolicy = "ok",
    interval_s: float = 60.0,
) -> list[tuple[float, str]]:
    """Evaluate one condition per interval; (seconds from start, state) after each."""
    clock = ManualClock()
    start = clock.now()
    state = INACTIVE
    seen = []
    for condition in conditions:
        state = step(
            state,
            condition,
            clock.now(),
            for_s=for_s,
            keep_firing_for_s=keep_firing_for_s,
            no_data=no_data,
        )
        seen.append((clock.now() - start, state.state))
        clock.advance(interval_s)
    return seen


def test_pending_then_firing_once_held_for_the_whole_hold() -> None:
    states = run([True] * 7, for_s=300)
    assert [s for _, s in states] == ["pending"] * 5 + ["firing"] * 2
    assert states[5] == (300, "firing")  # active at 0, fires at exactly 0 + for


def test_for_zero_fires_at_once() -> None:
    assert run([False, True], for_s=0) == [(0, "inactive"), (60, "firing")]


def test_pending_that_clears_goes_back_to_inactive_and_restarts_its_timer() -> None:
    states = run([True, True, False, True, True, True], for_s=120)
    assert [s for _, s in states] == [
        "pending", "pending", "inactive", "pending", "pending", "firing",
    ]  # fmt: skip


def test_firing_resolves_when_the_condition_clears() -> None:
    states = run([True, False, True], for_s=0)
    assert [s for _, s in states] == ["firing", "resolved", "firing"]


def test_a_resolved_alert_starts_a_new_occurrence() -> None:
    resolved = AlertState("resolved", active_at=0.0, fired_at=0.0, resolved_at=60.0)
    again = step(resolved, True, 120.0, for_s=60)
    assert again == AlertState("pending", active_at=120.0, last_true_at=120.0)
    assert step(resolved, False, 120.0, for_s=60) == INACTIVE


def test_keep_firing_for_holds_a_firing_alert_after_the_condition_clears() -> None:
    states = run([True, False, False, False, False], for_s=0, keep_firing_for_s=180)
    # first false at 60 (as Prometheus counts): firing through 180, resolved at 240
    assert [s for _, s in states] == ["firing", "firing", "firing", "firing", "resolved"]


def test_keep_firing_for_restarts_when_the_condition_returns() -> None:
    states = run([True, False, True, False, False, False], for_s=0, keep_firing_for_s=120)
    assert [s for _, s in states] == ["firing"] * 5 + ["resolved"]


def test_keep_firing_for_does_not_keep_a_pending_alert() -> None:
    assert run([True, False], for_s=300, keep_firing_for_s=600)[-1] == (60, "inactive")


def test_no_data_ok_is_no_outage() -> None:
    assert [s for _, s in run([None] * 3, for_s=0)] == ["inactive"] * 3
    assert [s for _, s in run([True, None], for_s=0)] == ["firing", "resolved"]


def test_no_data_alerting_treats_silence_as_failing() -> None:
    states = run([None] * 6, for_s=300, no_data="alerting")
    assert states[-1] == (300, "firing")


def test_no_data_keep_leaves_state_and_timers_alone() -> None:
    states = run([True, None, None, True, True, True], for_s=240, no_data="keep")
    # the gap neither clears the pending alert nor resets when it became active
    assert [s for _, s in states] == [
        "pending", "pending", "pending", "pending", "firing", "firing",
    ]  # fmt: skip
    assert [s for _, s in run([True, None, False], for_s=0, no_data="keep")] == [
        "firing", "firing", "resolved",
    ]  # fmt: skip


@given(
    conditions=st.lists(st.one_of(st.none(), st.booleans()), max_size=40),
    for_steps=st.integers(min_value=0, max_value=10),
    no_data=st.sampled_from(["ok", "alerting", "keep"]),
)
def test_an_alert_fires_only_after_holding_for_its_whole_hold(
    conditions: list[bool | None], for_steps: int, no_data: NoDataPolicy
) -> None:
    state = INACTIVE
    for i, condition in enumerate(conditions):
        now = 60.0 * i
        before = state
        state = step(state, condition, now, for_s=60.0 * for_steps, no_data=no_data)
        if state.state == "firing":
            assert state.active_at is not None and state.fired_at is not None
            assert state.fired_at - state.active_at >= 60.0 * for_steps
        if state.state == "firing" and before.state != "firing":
            assert state.fired_at == now
        if condition is False:
            assert state.state in ("inactive", "resolved")
        assert state.state in ("inactive", "pending", "firing", "resolved")
