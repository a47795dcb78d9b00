"""What the gateway reads from a client's request headers, in one pass over them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prodloop.gateway.replies import GatewayRefusal

# Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and are never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Never forwarded either: the client's credentials (the gateway adds the provider's),
# what the upstream connection sets for itself, and the gateway's own control headers.
_NOT_FORWARDED = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"expect",
    b"accept-encoding",
    b"authorization",
    b"api-key",
    b"x-api-key",
    b"traceparent",
    b"x-prodloop-user",
}
_WANTED = frozenset(
    {
        b"authorization",
        b"api-key",
        b"x-api-key",
        b"x-prodloop-user",
        b"content-length",
        b"content-type",
        b"traceparent",
        b"connection",
    }
)


@dataclass(slots=True)
class Inbound:
    """The client's credentials and metadata, and the headers to pass upstream."""

    key: str | None = None
    user: str | None = None
    content_length: int | None = None
    content_type: str = ""
    traceparent: str | None = None
    forward: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_json(self) -> bool:
        return "json" in self.content_type


def read_headers(raw: Iterable[tuple[bytes, bytes]]) -> Inbound:
    """Split the ASGI header list into what the gateway uses and what it forwards.

    The gateway key may come as `Authorization: Bearer <key>` (OpenAI SDKs), `api-key`
    (Azure style) or `x-api-key`.
    """
    inbound = Inbound()
    forward = inbound.forward
    connection_tokens: bytes | None = None
    for name, value in raw:
        if name not in _NOT_FORWARDED:
            forward.append((name.decode("latin-1"), value.decode("latin-1")))
        if name not in _WANTED:
            continue
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                inbound.key = token.strip()
        elif name in (b"api-key", b"x-api-key"):
            if inbound.key is None and value:
                inbound.key = value.decode("latin-1").strip()
        elif name == b"x-prodloop-user":
            inbound.user = value.decode("utf-8", "replace") or None
        elif name == b"content-length":
            try:
                inbound.content_length = int(value)
            except ValueError:
                raise GatewayRefusal(
                    400,
                    "the Content-Length header is not a number",
                    error_class="bad_request",
                    code="invalid_content_length",
                ) from None
        elif name == b"content-type":
            inbound.content_type = value.decode("latin-1").lower()
        elif name == b"traceparent":
            inbound.traceparent = value.decode("latin-1")
        elif name == b"connection":
            connection_tokens = value
    if connection_tokens is not None:
        # Headers the Connection header lists are hop-by-hop for this connection too.
        listed = {t.strip().lower().decode("latin-1") for t in connection_tokens.split(b",")}
        inbound.forward = [(k, v) for k, v in forward if k.lower() not in listed]
    return inbound
