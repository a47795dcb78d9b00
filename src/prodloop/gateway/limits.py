"""Request limits: token-bucket rate limits per key and per user, and the body size cap."""

from __future__ import annotations

import math
from typing import Any

from prodloop.gateway.replies import GatewayRefusal

Receive = Any  # the ASGI receive callable


def retry_after_s(wait_s: float) -> int:
    """A Retry-After value: whole seconds, at least 1."""
    return max(1, math.ceil(wait_s))


def rate_limited(what: str, wait_s: float) -> GatewayRefusal:
    """The 429 refusal for an exhausted bucket."""
    seconds = retry_after_s(wait_s)
    return GatewayRefusal(
        429,
        f"rate limit exceeded for this {what}; retry after {seconds}s",
        error_class="rate_limited",
        error_type="rate_limit_error",
        code="rate_limit_exceeded",
        headers=((b"retry-after", str(seconds).encode()),),
    )


def too_large(limit: int) -> GatewayRefusal:
    """The 413 refusal for a body over `limit` bytes."""
    return GatewayRefusal(
        413,
        f"request body is larger than the gateway's limit of {limit} bytes",
        error_class="too_large",
        code="request_too_large",
    )


async def read_body(receive: Receive, content_length: int | None, limit: int) -> bytes:
    """The whole request body, refusing (413) past `limit` bytes.

    The declared Content-Length is checked before reading anything; a chunked body is
    counted as it arrives, so an oversized one is refused without being held in memory.
    """
    if content_length is not None and content_length > limit:
        raise too_large(limit)
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise too_large(limit)
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            break  # the client left; what follows notices when it answers
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)
