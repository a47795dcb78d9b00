"""What people type for an analytics query: steps, windows, orders, breakdowns, time ranges.

The CLI and the API pass their own spelling of the field (``--window`` or ``window``), so
a ValidationError names the option the user actually typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from prodloop.durations import parse_duration
from prodloop.errors import ValidationError

FunnelOrder = Literal["sequential", "strict", "any"]
ORDERS: tuple[FunnelOrder, ...] = ("sequential", "strict", "any")
BreakdownKind = Literal["version", "flag", "property"]
MAX_STEPS = 20


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Unix seconds, `since` included and `until` excluded."""

    since: float
    until: float


@dataclass(frozen=True, slots=True)
class Breakdown:
    """`version`, `flag:NAME` or `property:KEY`; `key` is NAME or KEY (empty for version)."""

    kind: BreakdownKind
    key: str = ""

    def __str__(self) -> str:
        return self.kind if self.kind == "version" else f"{self.kind}:{self.key}"


def parse_steps(text: str, *, field: str = "steps") -> list[str]:
    """Event names from ``a,b,c``: at least two, none empty."""
    steps = [part.strip() for part in text.split(",")]
    if any(not step for step in steps):
        raise ValidationError(f"empty step in {text!r} (use event names: a,b,c)", field=field)
    if len(steps) < 2:
        raise ValidationError("a funnel needs at least two steps, comma-separated", field=field)
    if len(steps) > MAX_STEPS:
        raise ValidationError(f"at most {MAX_STEPS} steps", field=field)
    if any(len(step) > 200 for step in steps):
        raise ValidationError("an event name is at most 200 characters", field=field)
    return steps


def parse_order(text: str, *, field: str = "order") -> FunnelOrder:
    for order in ORDERS:
        if text == order:
            return order
    raise ValidationError(f"unknown order {text!r} (use {', '.join(ORDERS)})", field=field)


def check_steps_for_order(steps: list[str], order: FunnelOrder, *, field: str = "steps") -> None:
    """In any order a step is "one of these events": the same event twice means nothing."""
    if order == "any" and len(set(steps)) != len(steps):
        raise ValidationError("in any order the steps must be different events", field=field)


def parse_window(text: str, *, field: str = "window") -> float:
    """The conversion window in seconds; more than zero."""
    seconds = parse_duration(text, field=field)
    if seconds <= 0:
        raise ValidationError("the conversion window must be longer than zero", field=field)
    return seconds


def parse_breakdown(text: str | None, *, field: str = "breakdown") -> Breakdown | None:
    """``version``, ``flag:NAME`` or ``property:KEY``; None for no breakdown."""
    if text is None or not text.strip():
        return None
    cleaned = text.strip()
    if cleaned == "version":
        return Breakdown("version")
    kind, sep, key = cleaned.partition(":")
    if sep and key.strip() and kind in ("flag", "property"):
        return Breakdown("flag" if kind == "flag" else "property", key.strip())
    raise ValidationError(
        f"unknown breakdown {text!r} (use version, flag:NAME or property:KEY)", field=field
    )


def parse_when(text: str, now: float, *, field: str) -> float:
    """Unix seconds from a duration ago (``30d``) or an ISO 8601 date/time (UTC if no zone)."""
    cleaned = text.strip()
    if cleaned and cleaned[0].isdigit() and cleaned[-1].isalpha() and "-" not in cleaned:
        return now - parse_duration(cleaned, field=field)
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError as exc:
        raise ValidationError(
            f"not a time: {text!r} (a duration ago like 30d, or ISO 8601 like 2026-12-01)",
            field=field,
        ) from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def parse_time_range(
    since: str,
    until: str | None,
    now: float,
    *,
    since_field: str = "since",
    until_field: str = "until",
) -> TimeRange:
    """[since, until): each a duration ago or an ISO time; `until` defaults to now."""
    start = parse_when(since, now, field=since_field)
    end = now if until is None or not until.strip() else parse_when(until, now, field=until_field)
    if end <= start:
        raise ValidationError("must be later than since", field=until_field)
    return TimeRange(start, end)
