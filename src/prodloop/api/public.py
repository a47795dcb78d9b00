"""Public ways in for feedback and product analytics, with write-only ingest keys.

/ingest/feedback and Langfuse's /api/public/scores take feedback; /ingest/events,
PostHog's capture paths and Amplitude's /2/httpapi take analytics events. Each answers a
2xx only once what it accepted is stored, and a 400 naming the field otherwise. The
checks every route shares (CORS, rate limits, body size, keys) are in `public_guard`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from prodloop.analytics.capture import AnalyticsEvent, build_event, parse_timestamp
from prodloop.api.body import media_type
from prodloop.api.public_amplitude import amplitude_error, amplitude_success, parse_amplitude
from prodloop.api.public_guard import (
    Checked,
    MalformedError,
    check_batch_size,
    decode_json,
    guarded,
    preflight,
    require_json_type,
)
from prodloop.api.public_posthog import capture_keys, decode_body, parse_capture
from prodloop.config.feedback import FeedbackSettings
from prodloop.feedback.records import (
    FeedbackIn,
    is_score_shaped,
    parse_feedback,
    parse_score,
    store_feedback,
)

router = APIRouter(tags=["public ingest"])

FEEDBACK_PATH = "/ingest/feedback"
EVENTS_PATH = "/ingest/events"
SCORES_PATH = "/api/public/scores"
AMPLITUDE_PATH = "/2/httpapi"
POSTHOG_PATHS = ("/capture/", "/batch/", "/e/", "/i/v0/e/")
_EVENT_FIELDS = frozenset(
    {"event", "distinct_id", "timestamp", "uuid", "session_id", "path", "x", "y", "properties"}
)
_EVENTS_BODY_FIELDS = frozenset({"events", "key", "source"})
_FEEDBACK_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "maxLength": 128, "description": "idempotency key"},
        "trace_id": {"type": "string", "description": "W3C trace id or x-prodloop-request-id"},
        "rating": {"oneOf": [{"enum": ["up", "down"]}, {"type": "integer", "minimum": 1,
                                                         "maximum": 5}]},
        "comment": {"type": "string"},
        "category": {"enum": ["bug", "idea", "answer_quality", "other"]},
        "email": {"type": "string"}, "user_id": {"type": "string"}, "page": {"type": "string"},
        "metadata": {"type": "object"},
        "key": {"type": "string", "description": "the ingest key, for sendBeacon"},
    },
}  # fmt: skip
_EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "distinct_id"],
    "properties": {
        "event": {"type": "string", "maxLength": 200}, "distinct_id": {"type": "string"},
        "timestamp": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
        "uuid": {"type": "string", "description": "idempotency key"},
        "session_id": {"type": "string"}, "path": {"type": "string"},
        "x": {"type": "number", "minimum": 0, "maximum": 1},
        "y": {"type": "number", "minimum": 0, "maximum": 1},
        "properties": {"type": "object"},
    },
}  # fmt: skip


_EVENTS_SCHEMA = {
    "type": "object",
    "properties": {
        "events": {"type": "array", "items": _EVENT_SCHEMA},
        "source": {"enum": ["prodloop", "widget"]},
        "key": {"type": "string", "description": "the ingest key, for sendBeacon"},
    },
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_CLIENT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed: the error names the field"},
    401: {"description": "no ingest key, or not a valid one"},
    403: {"description": "the Origin is not in feedback.public.allowed_origins"},
    413: {"description": "body over feedback.public.max_body_bytes, or too many events"},
    429: {"description": "over the per-IP or per-key rate; see Retry-After"},
}


def _payload_key(payload: object, name: str = "key") -> object:
    return payload.get(name) if isinstance(payload, dict) else None


async def _store_feedback(checked: Checked, item: FeedbackIn) -> tuple[int, bool]:
    state = checked.state
    return await run_in_threadpool(store_feedback, state.engine, state.config, item, checked.now)


async def _store_events(checked: Checked, events: list[AnalyticsEvent]) -> tuple[int, int]:
    return await run_in_threadpool(checked.state.event_writer.store, events, checked.now)


@router.post(
    FEEDBACK_PATH,
    status_code=201,
    summary="Send feedback (thumbs, stars, a comment) or a Langfuse-style score",
    responses={200: {"description": "a replay of a stored id: nothing new"}, **_CLIENT_ERRORS},
    openapi_extra=_json_body(_FEEDBACK_SCHEMA),
)
async def post_feedback(request: Request) -> Response:
    """Key in `x-prodloop-key` or the body's `key`; 201 `{"id", "created": true}`."""

    async def handle(checked: Checked) -> Response:
        require_json_type(checked.request)
        payload = decode_json(checked.body)
        checked.authorize(_payload_key(payload))
        config = checked.state.config
        if isinstance(payload, dict) and is_score_shaped(payload):
            item = parse_score(payload, config)
        else:
            item = parse_feedback(payload, config)
        feedback_id, created = await _store_feedback(checked, item)
        return JSONResponse(
            {"id": feedback_id, "created": created}, status_code=201 if created else 200
        )

    return await guarded(request, handle)


@router.post(
    SCORES_PATH,
    summary="Langfuse's score API: a score becomes feedback on its trace",
    responses=_CLIENT_ERRORS,
)
async def post_score(request: Request) -> Response:
    """HTTP Basic auth (either half an ingest key), as Langfuse's SDKs send it."""

    async def handle(checked: Checked) -> Response:
        require_json_type(checked.request)
        payload = decode_json(checked.body)
        checked.authorize(_payload_key(payload))
        item = parse_score(payload, checked.state.config)
        feedback_id, created = await _store_feedback(checked, item)
        return JSONResponse(
            {"id": item.client_id or str(feedback_id), "feedback_id": feedback_id,
             "created": created}
        )  # fmt: skip

    return await guarded(request, handle)


@router.post(
    EVENTS_PATH,
    summary="Record product analytics events (prodloop's own shape; the widget's way in)",
    responses=_CLIENT_ERRORS,
    openapi_extra=_json_body(_EVENTS_SCHEMA),
)
async def post_events(request: Request) -> Response:
    """`{"events": [...]}` or a bare array; 200 `{"stored", "duplicates"}`."""

    async def handle(checked: Checked) -> Response:
        require_json_type(checked.request)
        payload = decode_json(checked.body)
        checked.authorize(_payload_key(payload))
        events = parse_own_events(payload, checked.now, checked.state.config.feedback)
        stored, duplicates = await _store_events(checked, events)
        return JSONResponse({"stored": stored, "duplicates": duplicates})

    return await guarded(request, handle)


def parse_own_events(
    payload: object, now: float, settings: FeedbackSettings
) -> list[AnalyticsEvent]:
    """prodloop's event shape, strictly: an unknown field is a 400 naming it."""
    source = "prodloop"
    if isinstance(payload, dict):
        for name in payload:
            if name not in _EVENTS_BODY_FIELDS:
                raise MalformedError(f"unknown field {name[:64]!r}", field=name[:64])
        if payload.get("source") not in (None, "widget", "prodloop"):
            raise MalformedError("must be widget or prodloop", field="source")
        source = payload.get("source") or source
        items, prefix = payload.get("events"), "events"
        if items is None:
            raise MalformedError("is required", field="events")
    else:
        items, prefix = payload, ""
    if not isinstance(items, list):
        raise MalformedError("must be an array of events", field=prefix or "body")
    limit = settings.public.max_batch_events
    check_batch_size(len(items), limit, prefix or "body")
    events = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedError("must be an event object", field=f"{prefix}[{i}]")
        if not item.keys() <= _EVENT_FIELDS:
            name = next(name for name in item if name not in _EVENT_FIELDS)[:64]
            raise MalformedError(f"unknown field {name!r}", field=f"{prefix}[{i}].{name}")
        where = f"{prefix}[{i}]"
        events.append(
            build_event(
                where,
                source=source,
                ts=parse_timestamp(item.get("timestamp"), f"{where}.timestamp", now),
                event=item.get("event"),
                distinct_id=item.get("distinct_id"),
                uuid=item.get("uuid"),
                session_id=item.get("session_id"),
                path=item.get("path"),
                x=item.get("x"),
                y=item.get("y"),
                properties=item.get("properties"),
            )
        )
    return events


async def post_posthog(request: Request) -> Response:
    """PostHog's capture: every encoding posthog-js and posthog-python send."""

    async def handle(checked: Checked) -> Response:
        query = dict(checked.request.query_params)
        public = checked.state.config.feedback.public
        payload = decode_body(
            checked.body, media_type(checked.request), query, public.max_body_bytes
        )
        checked.authorize(*capture_keys(payload, query))
        events = parse_capture(payload, query, checked.now, max_events=public.max_batch_events)
        stored, duplicates = await _store_events(checked, events)
        return JSONResponse({"status": 1, "stored": stored, "duplicates": duplicates})

    return await guarded(request, handle)


for _path in POSTHOG_PATHS:
    for _variant in (_path, _path.rstrip("/")):
        router.add_api_route(
            _variant,
            post_posthog,
            methods=["POST"],
            summary="PostHog capture (posthog-js, posthog-python): point the host here",
            responses=_CLIENT_ERRORS,
            include_in_schema=_variant == _path,
        )
        router.add_api_route(_variant, preflight, methods=["OPTIONS"], include_in_schema=False)


@router.post(
    AMPLITUDE_PATH,
    summary="Amplitude HTTP API v2: point the SDK's server URL here",
    responses=_CLIENT_ERRORS,
)
async def post_amplitude(request: Request) -> Response:
    """Answers as Amplitude does: `{"code": 200, "events_ingested": n, ...}`."""

    async def handle(checked: Checked) -> Response:
        require_json_type(checked.request)
        payload = decode_json(checked.body)
        checked.authorize(_payload_key(payload, "api_key"))
        public = checked.state.config.feedback.public
        events = parse_amplitude(payload, checked.now, max_events=public.max_batch_events)
        _stored, duplicates = await _store_events(checked, events)
        return amplitude_success(len(events), duplicates, len(checked.body), checked.now)

    return await guarded(request, handle, amplitude_error)


for _path in (FEEDBACK_PATH, SCORES_PATH, EVENTS_PATH, AMPLITUDE_PATH):
    router.add_api_route(_path, preflight, methods=["OPTIONS"], include_in_schema=False)
