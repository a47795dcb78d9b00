"""The alert state machine, with Prometheus's semantics, as a pure function.

inactive → pending when the condition first holds; pending → firing once it has held for
`for` (at once when `for` is 0); pending → inactive when it clears before that; firing →
resolved when it clears, unless it first stopped holding less than `keep_firing_for` ago
(counted from the first evaluation where it was false, as Prometheus does). A resolved
alert is finished: the next time the condition holds starts a new occurrence.

A condition of None means the rule could not decide (no traffic, or less than
`alerts.min_requests`). The no-data policy then decides: ``ok`` treats it as false (zero
traffic is no outage), ``alerting`` as true, ``keep`` leaves the state as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

State = Literal["inactive", "pending", "firing", "resolved"]
NoDataPolicy = Literal["ok", "alerting", "keep"]
ACTIVE_STATES: tuple[State, ...] = ("pending", "firing")


@dataclass(frozen=True, slots=True)
class AlertState:
    """Where one occurrence of an alert stands."""

    state: State = "inactive"
    active_at: float | None = None  # when the condition first held
    fired_at: float | None = None
    resolved_at: float | None = None
    last_true_at: float | None = None  # last evaluation the condition held at
    keep_firing_since: float | None = None  # first evaluation it stopped holding, while firing

    @property
    def is_active(self) -> bool:
        """Pending or firing: an occurrence that is still open."""
        return self.state in ACTIVE_STATES


INACTIVE = AlertState()


def decide(is_true: bool | None, no_data: NoDataPolicy) -> bool | None:
    """The condition after the no-data policy: True, False, or None to keep the state."""
    if is_true is not None:
        return is_true
    if no_data == "alerting":
        return True
    if no_data == "ok":
        return False
    return None


def step(
    current: AlertState,
    is_true: bool | None,
    now: float,
    *,
    for_s: float,
    keep_firing_for_s: float = 0.0,
    no_data: NoDataPolicy = "ok",
) -> AlertState:
    """The state after evaluating the condition at `now`."""
    if current.state == "resolved":
        current = INACTIVE
    condition = decide(is_true, no_data)
    if condition is None:
        return current
    if current.state == "inactive":
        if not condition:
            return current
        if for_s <= 0:
            return AlertState("firing", active_at=now, fired_at=now, last_true_at=now)
        return AlertState("pending", active_at=now, last_true_at=now)
    if current.state == "pending":
        if not condition:
            return INACTIVE
        assert current.active_at is not None
        if now - current.active_at >= for_s:
            return replace(current, state="firing", fired_at=now, last_true_at=now)
        return replace(current, last_true_at=now)
    # firing
    if condition:
        return replace(current, last_true_at=now, keep_firing_since=None)
    if keep_firing_for_s > 0:
        since = current.keep_firing_since if current.keep_firing_since is not None else now
        if now - since < keep_firing_for_s:
            return replace(current, keep_firing_since=since)
    return replace(current, state="resolved", resolved_at=now, keep_firing_since=None)
