"""The breakdown value of each user in a funnel: a version, a flag's variant or a property.

* ``version``: the event property ``version`` of the user's first step when it has one;
  otherwise the gateway version that most of the user's LLM requests
  (``request_events.user_id`` = ``distinct_id``) hit in the funnel's time range, ties
  going to the version requested first.
* ``flag:NAME``: the first step's PostHog-style property ``$feature/NAME`` when present;
  otherwise the variant of NAME in ``request_events.flags`` on most of the user's
  requests in the range, ties going to the variant seen first.
* ``property:KEY``: the first step event's property KEY.

"The first step" is the event that started the user's counted attempt (in any order,
whichever step came first). Users without a value are grouped under ``(none)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from prodloop.analytics.conversion import Conversion
from prodloop.analytics.params import Breakdown
from prodloop.store.schema import request_events

NO_VALUE = "(none)"


def _property(raw: str | None, key: str) -> str | None:
    if not raw:
        return None
    try:
        properties: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(properties, dict):
        return None
    value = properties.get(key)
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _flag_variant(flags: str, name: str) -> str | None:
    for pair in flags.split(";"):
        key, sep, variant = pair.partition("=")
        if sep and key.strip() == name:
            return variant.strip()
    return None


def _most_requested(rows: Iterable[tuple[str, str | None, int, float]]) -> dict[str, str]:
    """Per user, the value with most requests; ties to the value seen first."""
    tallies: dict[str, dict[str, tuple[int, float]]] = {}
    for user, value, count, first_ts in rows:
        if value is None or value == "":
            continue
        per_user = tallies.setdefault(user, {})
        seen_count, seen_first = per_user.get(value, (0, first_ts))
        per_user[value] = (seen_count + count, min(seen_first, first_ts))
    return {
        user: min(per_user.items(), key=lambda item: (-item[1][0], item[1][1], item[0]))[0]
        for user, per_user in tallies.items()
    }


def _from_requests(
    engine: Engine, breakdown: Breakdown, since: float, until: float
) -> dict[str, str]:
    column = request_events.c.version if breakdown.kind == "version" else request_events.c.flags
    query = (
        select(request_events.c.user_id, column, func.count(), func.min(request_events.c.ts))
        .where(
            request_events.c.user_id.is_not(None),
            request_events.c.ts >= since,
            request_events.c.ts < until,
        )
        .group_by(request_events.c.user_id, column)
    )
    if breakdown.kind == "flag":
        query = query.where(request_events.c.flags.contains(f"{breakdown.key}="))
    with engine.connect() as conn:
        rows = [
            (
                str(user),
                value if breakdown.kind == "version" else _flag_variant(value, breakdown.key),
                int(count),
                float(first_ts),
            )
            for user, value, count, first_ts in conn.execute(query)
        ]
    return _most_requested(rows)


def breakdown_values(
    engine: Engine,
    breakdown: Breakdown,
    conversions: Mapping[str, Conversion],
    since: float,
    until: float,
) -> dict[str, str]:
    """Each converting user's breakdown value; requests are read from [since, until)."""
    key = {"version": "version", "flag": f"$feature/{breakdown.key}"}.get(
        breakdown.kind, breakdown.key
    )
    values: dict[str, str] = {}
    missing: list[str] = []
    for user, conversion in conversions.items():
        value = _property(conversion.start_properties, key)
        if value is not None:
            values[user] = value
        elif breakdown.kind == "property":
            values[user] = NO_VALUE
        else:
            missing.append(user)
    if missing:
        requested = _from_requests(engine, breakdown, since, until)
        for user in missing:
            values[user] = requested.get(user, NO_VALUE)
    return values
