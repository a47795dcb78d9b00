"""Escalation as plain data: which level of a policy is paged, and when the next one is due.

Level 0 is paged when the alert fires. If nobody acknowledges within that level's
`after`, the next level is paged; after the last level the policy starts over, `repeat`
times. Acknowledging or resolving the alert stops it (the caller clears the timer). The
state is three numbers, stored with the alert, so a restart loses no timer.
"""

from __future__ import annotations

from dataclasses import dataclass

from prodloop.config import EscalationPolicy, duration_s


@dataclass(frozen=True, slots=True)
class EscalationState:
    """The level last paged (0-based), the pass over the policy, and the next deadline."""

    level: int
    cycle: int
    next_at: float | None  # None: nothing left to escalate to

    @property
    def is_exhausted(self) -> bool:
        return self.next_at is None


def _following(policy: EscalationPolicy, level: int, cycle: int) -> tuple[int, int] | None:
    if level + 1 < len(policy.levels):
        return level + 1, cycle
    if cycle < policy.repeat:
        return 0, cycle + 1
    return None


def _deadline(policy: EscalationPolicy, level: int, cycle: int, paged_at: float) -> float | None:
    if _following(policy, level, cycle) is None:
        return None
    return paged_at + duration_s(policy.levels[level].after)


def start_escalation(policy: EscalationPolicy, now: float) -> EscalationState:
    """Level 0 is paged at `now`; the state says when level 1 is due."""
    return EscalationState(0, 0, _deadline(policy, 0, 0, now))


def advance_escalation(
    policy: EscalationPolicy, state: EscalationState, now: float
) -> tuple[EscalationState, int | None]:
    """The state after `now`, and the level to page now (None when nothing is due).

    One level is paged per call; the next deadline counts from `now`, so a loop that was
    down pages the overdue level once instead of every missed level at once.
    """
    if state.next_at is None or now < state.next_at:
        return state, None
    following = _following(policy, state.level, state.cycle)
    if following is None:
        return EscalationState(state.level, state.cycle, None), None
    level, cycle = following
    return EscalationState(level, cycle, _deadline(policy, level, cycle, now)), level


def total_pages(policy: EscalationPolicy) -> int:
    """How many level pages a never-acknowledged alert gets in all."""
    return len(policy.levels) * (policy.repeat + 1)
