"""PostHog's capture payloads, decoded as PostHog's own server decodes them.

posthog-python posts `{"api_key", "batch": [...], "sent_at"}` to /batch/, often gzip'd
(Content-Encoding: gzip). posthog-js posts an array of events to /e/ or /i/v0/e/ with
`?compression=gzip-js` (gzip without the header) or `compression=base64` as a form field
`data=…`, its key in each event's `properties.token`. Anything else that PostHog accepts —
one event to /capture/, a bare array — is accepted too. Unlike PostHog, a malformed event
is a 400 that names it rather than a 200 that drops it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from prodloop.analytics.capture import (
    MAX_PATH_CHARS,
    AnalyticsEvent,
    at,
    build_event,
    check_timestamp,
    to_seconds,
)
from prodloop.api.body import decompress
from prodloop.api.public_guard import MalformedError, check_batch_size
from prodloop.errors import ValidationError

FORM = "application/x-www-form-urlencoded"


def decode_body(body: bytes, content_type: str, query: Mapping[str, str], limit: int) -> object:
    """The JSON a capture request carries, whatever its encoding; 400 naming the problem."""
    compression = query.get("compression", "").lower()
    data = body
    if content_type == FORM or body.startswith(b"data="):
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        if "data" not in form:
            raise MalformedError("a form body needs a data field", field="data")
        data = form["data"][0].encode()
        compression = form.get("compression", [compression])[0].lower()
    if compression in ("gzip", "gzip-js") or data.startswith(b"\x1f\x8b"):
        data = decompress(data, "gzip", limit)
    elif compression == "base64":
        data = _base64(data)
    elif compression not in ("", "none"):
        raise MalformedError(
            f"unsupported compression {compression[:20]!r} (use gzip-js, base64 or none)",
            field="compression",
        )
    stripped = data.lstrip()
    if stripped and stripped[:1] not in (b"{", b"["):
        data = _base64(stripped)  # PostHog's server also takes bare base64
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedError(f"the body is not valid JSON: {exc}", field="body") from exc


def _base64(data: bytes) -> bytes:
    # A form decoder turns an unescaped '+' into a space.
    cleaned = data.strip().replace(b" ", b"+")
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError("the body is neither JSON nor base64", field="body") from exc


def capture_keys(payload: object, query: Mapping[str, str]) -> list[object]:
    """Where PostHog clients put the project key: the body, the first event, the query."""
    keys: list[object] = []
    top = payload if isinstance(payload, dict) else {}
    keys += [top.get("api_key"), top.get("token")]
    items = top.get("batch") if "batch" in top else payload
    first = items[0] if isinstance(items, list) and items else top
    if isinstance(first, dict):
        properties = first.get("properties")
        keys += [first.get("api_key"), first.get("token")]
        if isinstance(properties, dict):
            keys.append(properties.get("token"))
    return [*keys, query.get("token"), query.get("api_key")]


def parse_capture(
    payload: object, query: Mapping[str, str], now: float, *, max_events: int
) -> list[AnalyticsEvent]:
    """The events of a capture payload (one event, an array, or `{"batch": [...]}`)."""
    top: dict[str, Any] = {}
    prefix: str
    if isinstance(payload, list):
        items, prefix = payload, ""
    elif isinstance(payload, dict) and "batch" in payload:
        top, items, prefix = payload, payload["batch"], "batch"
        if not isinstance(items, list):
            raise MalformedError("must be an array of events", field="batch")
    elif isinstance(payload, dict):
        top, items, prefix = payload, [payload], ""
    else:
        raise MalformedError("the body must be an event, an array or {batch: [...]}", field="body")
    check_batch_size(len(items), max_events, prefix or "body")
    is_single = isinstance(payload, dict) and "batch" not in payload
    sent_at = _sent_at(top, query)
    is_historical = top.get("historical_migration") is True
    events = []
    for i, item in enumerate(items):
        where = "" if is_single else f"{prefix}[{i}]"
        if not isinstance(item, dict):
            raise MalformedError("must be an event object", field=where or "body")
        properties = item.get("properties")
        if properties is not None and not isinstance(properties, dict):
            raise MalformedError("must be an object", field=at(where, "properties"))
        properties = dict(properties or {})
        for name in ("$set", "$set_once"):
            if name in item and name not in properties:
                properties[name] = item[name]
        events.append(
            build_event(
                where,
                source="posthog",
                event=item.get("event"),
                distinct_id=_first(
                    item.get("distinct_id"), properties.get("distinct_id"), item.get("$distinct_id")
                ),
                ts=_event_ts(item, where, sent_at, now, is_historical=is_historical),
                uuid=_first(item.get("uuid"), properties.get("$insert_id")),
                session_id=properties.get("$session_id"),
                path=_path(properties),
                properties=properties,
            )
        )
    return events


def _first(*values: object) -> object:
    return next((value for value in values if value is not None and value != ""), None)


def _sent_at(top: dict[str, Any], query: Mapping[str, str]) -> float | None:
    # posthog-js sends the time it sent as ?_=<ms>; the server SDKs as sent_at.
    if top.get("sent_at"):
        try:
            return to_seconds(top["sent_at"], "sent_at")
        except ValidationError:
            return None
    stamp = query.get("_", "")
    return int(stamp) / 1000.0 if stamp.isdigit() and len(stamp) <= 15 else None


def _event_ts(
    item: dict[str, Any], where: str, sent_at: float | None, now: float, *, is_historical: bool
) -> float:
    field = at(where, "timestamp")
    value = item.get("timestamp")
    if value is None:
        offset = item.get("offset")
        if isinstance(offset, int | float) and not isinstance(offset, bool):
            return check_timestamp(now - offset / 1000.0, at(where, "offset"), now)
        return now
    ts = to_seconds(value, field)
    if sent_at is not None and not is_historical:
        # As PostHog does: the sender's clock may be off, so keep only how long before
        # sending the event happened.
        ts = now - (sent_at - ts)
    return check_timestamp(ts, field, now)


def _path(properties: dict[str, Any]) -> str | None:
    path = properties.get("$pathname")
    if not isinstance(path, str) or not path:
        url = properties.get("$current_url")
        if not isinstance(url, str) or not url:
            return None
        try:
            path = urlsplit(url).path or "/"
        except ValueError:
            return None
    # A derived path is a convenience: a long one is cut rather than refusing the event.
    return path[:MAX_PATH_CHARS].replace("\x00", "")
