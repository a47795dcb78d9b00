"""What every public ingest route does before it stores anything.

Browsers call these routes from other origins and anyone can reach them, so each request
is checked in the same order: origin (CORS allowlist), per-IP rate, body size, then the
write-only key and its rate. Errors are answered here, with the CORS headers a browser
needs to read them, and a malformed request is a 400 that names the field.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import orjson
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from prodloop.api.auth import INGEST_KEY_HEADER, Principal, bearer_token
from prodloop.api.body import media_type, read_body
from prodloop.api.errors import (
    ForbiddenError,
    PayloadTooLargeError,
    RateLimitedError,
    UnsupportedMediaTypeError,
    error_headers,
    error_payload,
)
from prodloop.api.ingest import check_rate
from prodloop.api.state import ControlState, get_state
from prodloop.errors import AuthError, ProdloopError, StoreError, ValidationError

ALLOWED_HEADERS = ("content-type", "content-encoding", "authorization", INGEST_KEY_HEADER)
PREFLIGHT_MAX_AGE_S = 600
# What a browser's fetch or sendBeacon sends; text/plain avoids a preflight.
JSON_TYPES = ("application/json", "text/plain", "")


class MalformedError(ValidationError):
    """Public ingest answers 400 for a malformed payload, as PostHog's capture does."""

    status_code = 400


@dataclass(frozen=True, slots=True)
class Checked:
    """A request that passed the origin and per-IP checks, with its decoded body."""

    request: Request
    state: ControlState
    body: bytes
    cors: dict[str, str]

    @property
    def now(self) -> float:
        return self.state.clock.now()

    def authorize(self, *candidates: object) -> Principal:
        """The principal of the first key found (headers first, then `candidates` from
        the body or query); 401 when none is valid; 429 when the key is over its rate."""
        principal = identify(self.state, self.request, candidates)
        check_rate(self.state, principal)
        return principal


Handler = Callable[[Checked], Awaitable[Response]]
ErrorRenderer = Callable[[ProdloopError], Response]


def identify(state: ControlState, request: Request, candidates: Iterable[object]) -> Principal:
    """An ingest key or API token from the headers, Basic auth, or the payload."""
    keys = [bearer_token(request), request.headers.get(INGEST_KEY_HEADER), *_basic(request)]
    keys.extend(value for value in candidates if isinstance(value, str))
    given = [key.strip() for key in keys if key and key.strip()]
    if not given:
        raise AuthError(
            f"send an ingest key in '{INGEST_KEY_HEADER}' (or the payload's key field)",
            field=INGEST_KEY_HEADER,
        )
    for key in given:
        principal = state.keys.identify(key)
        if principal is not None:
            return principal
    raise AuthError("the key is not valid", field=INGEST_KEY_HEADER)


def _basic(request: Request) -> list[str]:
    # Langfuse's SDKs authenticate with Basic public:secret; either half may be the key.
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return []
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return []
    user, _, password = decoded.partition(":")
    return [user, password]


def cors_headers(state: ControlState, request: Request) -> dict[str, str]:
    """Headers that let an allowed origin read the answer; 403 for any other origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return {}  # not a browser: a backend, curl, an SDK
    if origin.partition("://")[2] == request.headers.get("host"):
        return {}  # same origin (the widget on prodloop's own pages): no CORS involved
    allowed = state.config.feedback.public.allowed_origins
    if "*" not in allowed and origin not in allowed:
        raise ForbiddenError(
            f"origin {origin[:200]!r} is not in feedback.public.allowed_origins", field="Origin"
        )
    # The origin is echoed (not "*") and credentials allowed because posthog-js sends
    # with credentials; nothing here reads cookies, so this grants no ambient authority.
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def preflight(request: Request) -> Response:
    """The answer to a CORS preflight of a public route."""
    state = get_state(request)
    try:
        headers = cors_headers(state, request)
        if not headers:
            raise MalformedError("a preflight needs an Origin header", field="Origin")
        asked = request.headers.get("access-control-request-headers", "")
        for name in (part.strip().lower() for part in asked.split(",")):
            if name and name not in ALLOWED_HEADERS:
                raise ForbiddenError(f"header {name[:64]!r} is not allowed", field=name[:64])
    except ProdloopError as exc:
        return error_response(exc, {"Vary": "Origin"})
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        }
    )
    return Response(status_code=204, headers=headers)


def check_ip_rate(state: ControlState, request: Request) -> None:
    limiter = state.public_ip_limiter
    if limiter is None:
        return
    address = request.client.host if request.client else "unknown"
    wait_s = limiter.acquire(address, state.clock.now())
    if wait_s > 0:
        raise RateLimitedError(
            "too many requests from this address (feedback.public.per_ip_limit)",
            retry_after_s=wait_s,
        )


def error_response(
    exc: ProdloopError, cors: dict[str, str], render: ErrorRenderer | None = None
) -> Response:
    """An error as JSON naming the field, with the CORS and Retry-After headers."""
    if isinstance(exc, ValidationError) and not isinstance(exc, MalformedError):
        exc = MalformedError(exc.message, field=exc.field)
    response = render(exc) if render else _default_render(exc)
    response.headers.update({**error_headers(exc), **cors})
    return response


def _default_render(exc: ProdloopError) -> Response:
    return JSONResponse(error_payload(exc.message, exc.field), status_code=exc.status_code)


async def guarded(
    request: Request, handler: Handler, render: ErrorRenderer | None = None
) -> Response:
    """Run the shared checks, then `handler`; every prodloop error becomes its 4xx/503."""
    state = get_state(request)
    cors: dict[str, str] = {}
    try:
        cors = cors_headers(state, request)
        check_ip_rate(state, request)
        body = await read_body(request, state.config.feedback.public.max_body_bytes)
        response = await handler(Checked(request, state, body, cors))
    except ProdloopError as exc:
        return error_response(exc, cors, render)
    except SQLAlchemyError as exc:
        # Nothing was stored; 503 tells SDKs to retry rather than drop the batch.
        error = StoreError(f"the store is unavailable ({type(exc).__name__}); retry later")
        return error_response(error, cors, render)
    response.headers.update(cors)
    return response


def require_json_type(request: Request) -> None:
    kind = media_type(request)
    if kind not in JSON_TYPES and not kind.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"send JSON (application/json or text/plain), not {kind}", field="Content-Type"
        )


def decode_json(body: bytes) -> object:
    """The body as JSON; 400 naming what is wrong."""
    if not body.strip():
        raise MalformedError("the body is empty", field="body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedError(f"the body is not valid JSON: {exc}", field="body") from exc


def check_batch_size(count: int, limit: int, where: str) -> None:
    """413 for more events in one request than feedback.public.max_batch_events."""
    if count > limit:
        raise PayloadTooLargeError(
            f"{count} events in one request; at most {limit} (feedback.public.max_batch_events)",
            field=where,
        )
