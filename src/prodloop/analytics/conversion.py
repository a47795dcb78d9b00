"""How far one user got through a funnel: a pure pass over that user's events in time order.

Each event arrives as ``(step_indexes, ts, properties)``: the indexes of the funnel steps
its name matches, highest first (a name can be several steps, e.g. ``view,buy,view``), the
time, and its raw JSON properties (kept only for the first step, for breakdowns). A
user's attempt starts at a first-step event inside [since, until); every later step must
happen within ``window_s`` of that first step, and may fall after `until`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

UserEvent = tuple[tuple[int, ...], float, str | None]


@dataclass(frozen=True, slots=True)
class Conversion:
    """A user's best attempt: the last step index reached and when each step happened."""

    reached: int
    times: tuple[float, ...]
    start_properties: str | None


def sequential(
    events: Iterable[UserEvent], steps: int, window_s: float, since: float, until: float
) -> Conversion | None:
    """Steps in order, other events allowed between them (PostHog's "sequential").

    For each step only the attempt with the latest start is kept: it reaches anything an
    earlier attempt at the same step could, with a later deadline (ClickHouse's
    windowFunnel argument), so one pass finds the furthest step. The times reported are
    those of the first attempt that got furthest.
    """
    state: list[tuple[tuple[float, ...], str | None] | None] = [None] * steps
    best: Conversion | None = None
    last = steps - 1
    for indexes, ts, properties in events:
        for i in indexes:
            if i == 0:
                if not since <= ts < until:
                    continue
                state[0] = ((ts,), properties)
            else:
                previous = state[i - 1]
                if previous is None or ts - previous[0][0] > window_s:
                    continue
                current = state[i]
                if current is not None and current[0][0] >= previous[0][0]:
                    continue  # same attempt already here, at an earlier time
                state[i] = (previous[0] + (ts,), previous[1])
            if best is None or i > best.reached:
                reached = state[i]
                assert reached is not None
                best = Conversion(i, reached[0], reached[1])
                if i == last:
                    return best
    return best


def strict(
    events: Iterable[UserEvent], steps: int, window_s: float, since: float, until: float
) -> Conversion | None:
    """Steps as consecutive events of the user, nothing in between (PostHog's "strict").

    `events` must hold every event of the user in the range, not only the step events:
    an event that is not the next step breaks every attempt in progress.
    """
    alive: list[tuple[int, tuple[float, ...], str | None]] = []
    best: Conversion | None = None
    for indexes, ts, properties in events:
        grown: list[tuple[int, tuple[float, ...], str | None]] = []
        for reached, times, start_properties in alive:
            following = reached + 1
            if following in indexes and ts - times[0] <= window_s:
                grown.append((following, (*times, ts), start_properties))
        if 0 in indexes and since <= ts < until:
            grown.append((0, (ts,), properties))
        for reached, times, start_properties in grown:
            if best is None or reached > best.reached:
                best = Conversion(reached, times, start_properties)
        alive = [attempt for attempt in grown if attempt[0] < steps - 1]
    return best


def any_order(
    events: Iterable[UserEvent], steps: int, window_s: float, since: float, until: float
) -> Conversion | None:
    """Distinct steps in any order within the window (PostHog's "any order").

    Reaching step k means doing k + 1 different steps within the window of the first
    of them; `times` are the first time each step happened in that window, sorted. The
    steps must be distinct names, so each event matches one step.
    """
    listed = [(indexes[0], ts, properties) for indexes, ts, properties in events if indexes]
    counts = [0] * steps
    distinct = 0
    end = 0
    best: Conversion | None = None
    for start, (_step, start_ts, properties) in enumerate(listed):
        while end < len(listed) and listed[end][1] - start_ts <= window_s:
            step = listed[end][0]
            if counts[step] == 0:
                distinct += 1
            counts[step] += 1
            end += 1
        if since <= start_ts < until and (best is None or distinct - 1 > best.reached):
            first_seen: dict[int, float] = {}
            for step, ts, _ in listed[start:end]:
                first_seen.setdefault(step, ts)
            best = Conversion(distinct - 1, tuple(sorted(first_seen.values())), properties)
            if distinct == steps:
                return best
        counts[listed[start][0]] -= 1
        if counts[listed[start][0]] == 0:
            distinct -= 1
    return best
