"""The one record every request leaves behind, whichever way it came in."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Source = Literal["gateway", "sdk", "otlp"]

# Error classes a RequestEvent can carry. `None` means the request succeeded.
# Classes in SERVER_ERRORS count against the error-rate SLI; the others are the
# client's doing (or the client's choice to leave) and count only as "not a success".
ERROR_CLASSES = (
    "upstream_5xx",  # the upstream answered 5xx
    "connect_error",  # the upstream could not be reached (502)
    "timeout",  # the upstream went silent longer than allowed (504)
    "injected_fault",  # fault injection answered with an error
    "gateway_error",  # prodloop itself failed (500)
    "upstream_4xx",  # the upstream refused the request as malformed
    "guardrail_blocked",  # a guardrail with action `block` refused it (400)
    "rate_limited",  # a gateway limit refused it (429)
    "too_large",  # body over the limit (413)
    "unauthorized",  # no valid gateway key (401), or a key for another service (403)
    "bad_request",  # malformed request or unknown service, refused by prodloop (400, 404)
    "client_disconnect",  # the client went away before the answer was complete (499)
    "app_error",  # an SDK or OTLP caller reported a failure of its own
)
SERVER_ERRORS = frozenset(
    {"upstream_5xx", "connect_error", "timeout", "injected_fault", "gateway_error", "app_error"}
)


@dataclass(slots=True)
class RequestEvent:
    """One LLM request as measured by the gateway, the SDK or an OTLP span."""

    ts: float  # when the request arrived, Unix seconds
    service: str
    version: str
    route: str  # e.g. "/v1/chat/completions"
    status: int  # HTTP status the client saw (0 when the SDK has none)
    latency_ms: float
    request_id: str = ""
    trace_id: str = ""
    model: str | None = None
    provider: str | None = None
    error_class: str | None = None
    ttft_ms: float | None = None
    is_stream: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None  # None: no price known for the model
    guardrails: tuple[str, ...] = field(default_factory=tuple)
    flags: str = ""  # flags the gateway evaluated for this request, key=variant;…
    user: str | None = None
    overhead_ms: float | None = None
    source: Source = "gateway"

    @property
    def is_error(self) -> bool:
        return self.error_class in SERVER_ERRORS

    @property
    def is_success(self) -> bool:
        return self.error_class is None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["guardrails"] = list(self.guardrails)
        return data


class EventSink(Protocol):
    """Where surfaces hand events: must never block and never touch the database."""

    def submit(self, event: RequestEvent) -> bool:
        """Queue the event; False when it was dropped (and counted) because the queue is full."""
        ...
