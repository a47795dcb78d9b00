"""Durations as people write them in config and on the command line: 90s, 30m, 1h, 7d."""

from __future__ import annotations

import re

from prodloop.errors import ValidationError

SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d|w)")


def parse_duration(text: str, *, field: str | None = None) -> float:
    """Seconds in a duration such as ``90s``, ``30m``, ``1h``, ``7d`` or ``1h30m``.

    Units are ms, s, m, h, d and w; a bare number is refused because "5" could mean
    anything. Raises ValidationError naming the text (and `field`, when given).
    """
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    position = 0
    total = 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total += float(match.group(1)) * SECONDS_PER_UNIT[match.group(2)]
        position = match.end()
    if not cleaned or position != len(cleaned):
        raise ValidationError(
            f"not a duration: {text!r} (use a number and a unit, like 90s, 30m, 1h or 7d)",
            field=field,
        )
    return total


def format_duration(seconds: float) -> str:
    """The shortest of ``parse_duration``'s spellings for whole units, e.g. 3600 -> "1h"."""
    for unit in ("w", "d", "h", "m", "s"):
        size = SECONDS_PER_UNIT[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds == 0:
        return "0s"
    return f"{seconds:g}s"
