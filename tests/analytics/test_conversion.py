"""The one-pass conversion walks against brute force over every possible first step."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from prodloop.analytics.conversion import UserEvent, any_order, sequential, strict

NAMES = ("a", "b", "c", "x")
SINCE, UNTIL, WINDOW = 10.0, 60.0, 25.0


def _events(names: list[str], gaps: list[float], steps: tuple[str, ...]) -> list[UserEvent]:
    indexes: dict[str, tuple[int, ...]] = {}
    for i, name in enumerate(steps):
        indexes[name] = (i, *indexes.get(name, ()))
    ts, out = 0.0, []
    for name, gap in zip(names, gaps, strict=False):
        ts += gap
        out.append((indexes.get(name, ()), ts, None))
    return out


def _starts(events: list[UserEvent]) -> list[int]:
    return [p for p, (idx, ts, _) in enumerate(events) if 0 in idx and SINCE <= ts < UNTIL]


def brute_sequential(events: list[UserEvent], steps: int) -> int:
    best = -1
    for p in _starts(events):
        start, level = events[p][1], 0
        # from one start, taking each next step as early as possible gets furthest
        for idx, ts, _ in events[p + 1 :]:
            if ts - start > WINDOW or level == steps - 1:
                break
            if level + 1 in idx:
                level += 1
        best = max(best, level)
    return best


def brute_strict(events: list[UserEvent], steps: int) -> int:
    best = -1
    for p in _starts(events):
        level = 0
        for idx, ts, _ in events[p + 1 :]:
            if level == steps - 1 or level + 1 not in idx or ts - events[p][1] > WINDOW:
                break
            level += 1
        best = max(best, level)
    return best


def brute_any(events: list[UserEvent]) -> int:
    best = -1
    for p, (idx, ts, _) in enumerate(events):
        if idx and SINCE <= ts < UNTIL:
            seen = {i[0] for i, t, _ in events[p:] if i and t - ts <= WINDOW}
            best = max(best, len(seen) - 1)
    return best


event_names = st.lists(st.sampled_from(NAMES), min_size=0, max_size=14)
gaps = st.lists(st.sampled_from([0.0, 1.0, 5.0, 12.0, 30.0]), min_size=14, max_size=14)
funnels = st.sampled_from([("a", "b", "c"), ("a", "b"), ("a", "b", "a"), ("b", "a", "c", "x")])


@settings(max_examples=300, deadline=None)
@given(event_names, gaps, funnels)
def test_one_pass_equals_brute_force(
    names: list[str], spacing: list[float], steps: tuple[str, ...]
) -> None:
    events = _events(names, spacing, steps)
    for walk, brute in ((sequential, brute_sequential), (strict, brute_strict)):
        found = walk(iter(events), len(steps), WINDOW, SINCE, UNTIL)
        assert (found.reached if found else -1) == brute(events, len(steps)), walk
        if found:
            assert len(found.times) == found.reached + 1
            assert found.times[-1] - found.times[0] <= WINDOW
    if len(set(steps)) == len(steps):
        found = any_order(iter(events), len(steps), WINDOW, SINCE, UNTIL)
        assert (found.reached if found else -1) == brute_any(events)
