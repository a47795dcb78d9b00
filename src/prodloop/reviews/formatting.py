"""How review figures are written: the same text in Markdown, HTML and chat messages."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from prodloop.reviews.data import Compared

DASH = "–"


def ms(value: float | None) -> str:
    """Milliseconds, whole: `412 ms`."""
    return DASH if value is None else f"{value:,.0f} ms"


def pct(value: float | None, digits: int = 2) -> str:
    """A share as a percentage: `1.25 %`."""
    return DASH if value is None else f"{value * 100:.{digits}f} %"


def usd(value: float | None, digits: int = 2) -> str:
    """Dollars: `$12.34`; per-request costs use more digits."""
    return DASH if value is None else f"${value:,.{digits}f}"


def count(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """A count and its noun, agreeing: `1 incident`, `2 incidents`, `1 analysis`, `3 analyses`."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def change(value: float | None) -> str:
    """A relative change: `+12.5 %`, `-3.0 %`, or a dash when last week had none."""
    return DASH if value is None else f"{value * 100:+.1f} %"


def duration(seconds: float | None) -> str:
    """A duration for people: `45 s`, `12 min`, `3.5 h`, `2.0 d`."""
    if seconds is None:
        return DASH
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def when(ts: float, time_zone: str) -> str:
    """A moment in the review's time zone: `2026-11-24 14:05`."""
    return datetime.fromtimestamp(ts, ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M")


# The columns of a figures table: (figure, heading, how it is written).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("requests", "requests", "count"),
    ("p50_ms", "p50", "ms"),
    ("p95_ms", "p95", "ms"),
    ("error_rate", "error rate", "pct"),
    ("cost_per_request_usd", "cost / request", "usd5"),
    ("cost_total_usd", "cost", "usd"),
    ("guardrail_requests", "guardrail triggers", "count"),
)


def figure(value: float | int | None, how: str) -> str:
    """A figure written the way its column says."""
    if how == "count":
        return count(int(value or 0))
    if how == "ms":
        return ms(value)
    if how == "pct":
        return pct(value)
    return usd(value, 5 if how == "usd5" else 2)


def cells(line: Compared) -> list[str]:
    """A table line: each figure followed by its change from last week."""
    out = [line.label]
    for name, _, how in COLUMNS:
        out.append(f"{figure(getattr(line.this, name), how)} ({change(line.change(name))})")
    return out


def sli(indicator: str, value: float | None) -> str:
    """An SLO's indicator in its unit."""
    if indicator.endswith("_ms"):
        return ms(value)
    if indicator.endswith("_usd"):
        return usd(value, 5)
    return pct(value, 3)


def verdict(is_met: bool | None) -> str:
    """Met, missed, or no traffic."""
    return "no traffic" if is_met is None else ("met" if is_met else "MISSED")
