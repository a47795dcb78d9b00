"""Write-only ways in: SDK events (/api/v1/events) and OTLP/HTTP traces (/v1/traces)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from prodloop.api.auth import Principal, authenticate_writer, require_writer
from prodloop.api.body import media_type, read_body
from prodloop.api.errors import (
    RateLimitedError,
    UnsupportedMediaTypeError,
    error_headers,
    error_payload,
)
from prodloop.api.models import EventIn, IngestResult, validate_events
from prodloop.api.state import ControlState, get_state
from prodloop.errors import ProdloopError, ValidationError
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.otlp import (
    export_response,
    parse_otlp_json,
    parse_otlp_protobuf,
    status_body,
)

router = APIRouter(tags=["ingest"])

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
# google.rpc.Code for the OTLP error body, by HTTP status.
_RPC_CODES = {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8}
_EVENT_SCHEMA = EventIn.model_json_schema()
_EVENTS_SCHEMA = {
    "oneOf": [
        {"type": "array", "items": _EVENT_SCHEMA},
        {
            "type": "object",
            "properties": {"events": {"type": "array", "items": _EVENT_SCHEMA}},
            "required": ["events"],
        },
    ]
}


def check_rate(state: ControlState, principal: Principal) -> None:
    """429 once the key has used its share of control.ingest_limit."""
    limiter = state.ingest_limiter
    if limiter is None:
        return
    wait_s = limiter.acquire(principal.name, state.clock.now())
    if wait_s > 0:
        raise RateLimitedError(
            "too many ingest requests for this key (control.ingest_limit)", retry_after_s=wait_s
        )


def submit_events(state: ControlState, events: Sequence[RequestEvent]) -> tuple[int, int]:
    """Hand events to the pipeline; (accepted, dropped because the queue was full)."""
    accepted = 0
    for event in events:
        if state.pipeline.submit(event):
            accepted += 1
    return accepted, len(events) - accepted


async def _writer_with_rate(
    request: Request,
    principal: Annotated[Principal, Depends(require_writer)],
) -> Principal:
    check_rate(get_state(request), principal)
    return principal


@router.post(
    "/api/v1/events",
    status_code=202,
    response_model=IngestResult,
    summary="Record request events (the SDK's way in)",
    openapi_extra={
        "requestBody": {"required": True, "content": {JSON: {"schema": _EVENTS_SCHEMA}}}
    },
)
async def post_events(
    request: Request,
    _principal: Annotated[Principal, Depends(_writer_with_rate)],
) -> JSONResponse:
    """A JSON list of events (or ``{"events": [...]}``); every one valid or none taken."""
    state = get_state(request)
    kind = media_type(request)
    if kind not in (JSON, "") and not kind.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"send the events as {JSON}, not {kind}", field="Content-Type"
        )
    body = await read_body(request, state.config.control.max_ingest_bytes)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", field="body") from exc
    events = validate_events(payload, state.prices)
    accepted, dropped = submit_events(state, events)
    return JSONResponse({"accepted": accepted, "dropped": dropped}, status_code=202)


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export (JSON or protobuf); GenAI spans become events",
    responses={
        200: {"description": "ExportTraceServiceResponse, in the request's encoding"},
        400: {"description": "malformed export"},
        413: {"description": "body over control.max_ingest_bytes"},
        415: {"description": "neither application/json nor application/x-protobuf"},
    },
)
async def post_traces(request: Request) -> Response:
    """Answers as OTLP/HTTP asks: 200 with a response message, or a Status on errors."""
    state = get_state(request)
    kind = media_type(request)
    is_protobuf = kind == PROTOBUF
    try:
        principal = authenticate_writer(state.keys, request)
        check_rate(state, principal)
        if kind not in (JSON, PROTOBUF):
            raise UnsupportedMediaTypeError(
                f"OTLP/HTTP takes {JSON} or {PROTOBUF}, not {kind or 'no Content-Type'}",
                field="Content-Type",
            )
        body = await read_body(request, state.config.control.max_ingest_bytes)
        parse = parse_otlp_protobuf if is_protobuf else parse_otlp_json
        events = parse(body, state.prices)
    except ProdloopError as exc:
        return _otlp_error(exc, is_protobuf=is_protobuf)
    _accepted, dropped = submit_events(state, events)
    message = "the telemetry queue is full" if dropped else ""
    return Response(
        export_response(is_protobuf=is_protobuf, rejected_spans=dropped, message=message),
        media_type=PROTOBUF if is_protobuf else JSON,
    )


def _otlp_error(exc: ProdloopError, *, is_protobuf: bool) -> Response:
    # OTLP/HTTP wants 400 for any malformed request, where the rest of the API says 422.
    status = 400 if isinstance(exc, ValidationError) else exc.status_code
    code = _RPC_CODES.get(status, 3)
    headers = error_headers(exc)
    message = str(exc)
    if is_protobuf:
        return Response(
            status_body(code, message), status_code=status, media_type=PROTOBUF, headers=headers
        )
    # The google.rpc.Status fields OTLP/JSON clients read, and prodloop's own error shape.
    payload = {"code": code, "message": message, **error_payload(exc.message, exc.field)}
    return JSONResponse(payload, status_code=status, headers=headers)
