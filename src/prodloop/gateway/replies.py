"""Answers the gateway makes itself: refusals as OpenAI-style error JSON, over raw ASGI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from prodloop.errors import ProdloopError

Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = Sequence[tuple[bytes, bytes]]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")

# OpenAI's error `type` for a status, so SDKs map our refusals like the provider's.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class GatewayRefusal(ProdloopError):
    """The gateway answers the request itself with an error (4xx, 502, 504, fault)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_class: str,
        code: str,
        error_type: str | None = None,
        param: str | None = None,
        headers: Headers = (),
    ) -> None:
        super().__init__(message, field=param)
        self.status_code = status
        self.error_class = error_class
        self.code = code
        self.type = error_type or _TYPES.get(status, "api_error")
        self.headers = tuple(headers)

    def body(self) -> bytes:
        """The OpenAI-style error body: {"error": {"message", "type", "param", "code"}}."""
        return error_body(self.message, self.type, self.code, self.field)


def error_body(message: str, error_type: str, code: str, param: str | None = None) -> bytes:
    """An OpenAI-style error body."""
    error = {"message": message, "type": error_type, "param": param, "code": code}
    return orjson.dumps({"error": error})


async def send_bytes(
    send: Send, status: int, body: bytes, headers: Headers, content_type: bytes
) -> None:
    """Send a complete response in one piece."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
