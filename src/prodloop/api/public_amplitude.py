"""Amplitude's HTTP API v2 (`POST /2/httpapi`): its payload in, its answers out.

`{"api_key", "events": [{"user_id" | "device_id", "event_type", "time" (ms),
"insert_id", "event_properties", "user_properties", "session_id" (ms)…}]}`. Success and
errors are shaped as Amplitude's (`code`, `events_ingested`, `missing_field`,
`events_with_invalid_fields`), so its SDKs read them, with prodloop's `field` added.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

from prodloop.analytics.capture import AnalyticsEvent, at, build_event, check_timestamp
from prodloop.api.public_guard import MalformedError, check_batch_size
from prodloop.errors import ProdloopError, ValidationError

_CORE = frozenset(
    {"user_id", "device_id", "event_type", "time", "insert_id", "event_properties",
     "user_properties", "session_id"}
)  # fmt: skip
_NAMES = {"event": "event_type", "distinct_id": "user_id", "uuid": "insert_id",
          "properties": "event_properties"}  # fmt: skip
_EVENT_FIELD = re.compile(r"^events\[(\d+)\]\.(\w+)")


def parse_amplitude(payload: object, now: float, *, max_events: int) -> list[AnalyticsEvent]:
    """The events of an HTTP API v2 upload, every one valid or a 400 naming the first bad."""
    if not isinstance(payload, dict):
        raise MalformedError("the body must be a JSON object", field="body")
    items = payload.get("events")
    if items is None:
        raise MalformedError("is required", field="events")
    if not isinstance(items, list) or not items:
        raise MalformedError("must be a non-empty array of events", field="events")
    check_batch_size(len(items), max_events, "events")
    return [_event(item, f"events[{i}]", now) for i, item in enumerate(items)]


def _event(item: object, where: str, now: float) -> AnalyticsEvent:
    if not isinstance(item, dict):
        raise MalformedError("must be an event object", field=where)
    user_id, device_id = item.get("user_id"), item.get("device_id")
    if user_id in (None, "") and device_id in (None, ""):
        raise MalformedError("is required (or device_id)", field=at(where, "user_id"))
    properties = item.get("event_properties")
    if properties is not None and not isinstance(properties, dict):
        raise MalformedError("must be an object", field=at(where, "event_properties"))
    properties = dict(properties or {})
    if item.get("user_properties") is not None:
        properties["$set"] = item["user_properties"]
    if user_id not in (None, "") and device_id not in (None, ""):
        properties["$device_id"] = device_id
    extras = {name: value for name, value in item.items() if name not in _CORE}
    if extras:
        properties["$amplitude"] = extras
    session = item.get("session_id")
    try:
        return build_event(
            where,
            source="amplitude",
            event=item.get("event_type"),
            distinct_id=user_id if user_id not in (None, "") else device_id,
            ts=_time(item.get("time"), at(where, "time"), now),
            uuid=item.get("insert_id"),
            session_id=None if session in (None, -1) else session,
            properties=properties,
        )
    except ValidationError as exc:
        # Name the field as the sender spelled it.
        name = (exc.field or "").removeprefix(f"{where}.")
        raise MalformedError(exc.message, field=at(where, _NAMES.get(name, name))) from exc


def _time(value: object, where: str, now: float) -> float:
    if value is None:
        return now
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedError("must be milliseconds since the epoch", field=where)
    return check_timestamp(value / 1000.0, where, now)


def amplitude_error(exc: ProdloopError) -> Response:
    """An error as Amplitude shapes it, with prodloop's field name beside."""
    body: dict[str, Any] = {"code": exc.status_code, "error": exc.message, "field": exc.field}
    match = _EVENT_FIELD.match(exc.field or "")
    if match is not None:
        index, name = int(match.group(1)), match.group(2)
        kind = "events_with_missing_fields" if "required" in exc.message else None
        body[kind or "events_with_invalid_fields"] = {name: [index]}
    elif exc.field and "required" in exc.message:
        body["missing_field"] = exc.field
    return JSONResponse(body, status_code=exc.status_code)


def amplitude_success(ingested: int, duplicates: int, size: int, now: float) -> Response:
    return JSONResponse(
        {
            "code": 200,
            "events_ingested": ingested,
            "payload_size_bytes": size,
            "server_upload_time": int(now * 1000),
            "duplicates": duplicates,
        }
    )
