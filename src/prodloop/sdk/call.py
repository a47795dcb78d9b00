"""One tracked call: what the app reports while it runs, and the event it becomes."""

from __future__ import annotations

import time
import uuid
from typing import Any

from prodloop.telemetry.events import ERROR_CLASSES


class Call:
    """One tracked call: what the app tells prodloop about it while it runs."""

    def __init__(
        self,
        *,
        route: str,
        model: str | None,
        provider: str | None,
        user: str | None,
        service: str | None,
        version: str | None,
        is_stream: bool,
    ) -> None:
        self.route = route
        self.model = model
        self.provider = provider
        self.user = user
        self.service = service
        self.version = version
        self.is_stream = is_stream
        self.status = 0  # no HTTP status unless the app sets one
        self.error_class: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.reasoning_tokens = 0
        self.guardrails: list[str] = []
        self.request_id = uuid.uuid4().hex
        self.trace_id = _otel_trace_id()
        self.has_usage = False
        self._ts = time.time()
        self._started = time.perf_counter()
        self._ttft_ms: float | None = None

    def usage(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> None:
        """Tokens the provider reported (input includes cached, as OpenAI counts them)."""
        self.input_tokens = _tokens(input_tokens)
        self.output_tokens = _tokens(output_tokens)
        self.cached_tokens = _tokens(cached_tokens)
        self.reasoning_tokens = _tokens(reasoning_tokens)
        self.has_usage = True

    def first_token(self) -> None:
        """Mark the first streamed token; only the first mark counts."""
        if self._ttft_ms is None:
            self._ttft_ms = (time.perf_counter() - self._started) * 1000.0
            self.is_stream = True

    def guardrail(self, name: str) -> None:
        """Record that a guardrail of the app's own triggered on this call."""
        if name and name not in self.guardrails:
            self.guardrails.append(name.replace(",", " ")[:128])

    def fail(self, error_class: str = "app_error") -> None:
        """Count the call as failed though no exception left the block."""
        self.error_class = error_class if error_class in ERROR_CLASSES else "app_error"

    def record_response(self, response: Any) -> None:
        """Take model and usage from an OpenAI- or Anthropic-style response object."""
        usage = _field(response, "usage")
        if usage is not None and not self.has_usage:
            self.usage(
                input_tokens=_field(usage, "prompt_tokens") or _field(usage, "input_tokens") or 0,
                output_tokens=_field(usage, "completion_tokens")
                or _field(usage, "output_tokens")
                or 0,
                cached_tokens=_field(_field(usage, "prompt_tokens_details"), "cached_tokens")
                or _field(_field(usage, "input_tokens_details"), "cached_tokens")
                or 0,
                reasoning_tokens=_field(
                    _field(usage, "completion_tokens_details"), "reasoning_tokens"
                )
                or _field(_field(usage, "output_tokens_details"), "reasoning_tokens")
                or 0,
            )
        model = _field(response, "model")
        if isinstance(model, str) and model:
            self.model = model

    def event(
        self, exc: BaseException | None, *, service: str, version: str, route: str
    ) -> dict[str, Any]:
        """The finished call as an /api/v1/events item; names not set here come from the
        arguments (the configured defaults)."""
        latency_ms = (time.perf_counter() - self._started) * 1000.0
        if exc is not None and self.error_class is None:
            # Cancellation or interpreter exit abandons the call rather than failing it.
            self.error_class = "app_error" if isinstance(exc, Exception) else "client_disconnect"
            status = getattr(exc, "status_code", None)
            if isinstance(status, int) and 100 <= status <= 599 and self.status == 0:
                self.status = status
        # One invalid event would make the control plane refuse its whole batch, so
        # whatever the app set is brought within what the endpoint accepts.
        status = self.status if isinstance(self.status, int) and 0 <= self.status <= 599 else 0
        error_class = self.error_class
        if error_class is not None and error_class not in ERROR_CLASSES:
            error_class = "app_error"
        event: dict[str, Any] = {
            "ts": self._ts,
            "service": _text(self.service or service, 128) or "default",
            "version": _text(self.version or version, 128) or "unknown",
            "route": _text(self.route or route, 256) or "default",
            "status": status,
            "latency_ms": min(latency_ms, 1e9),
            "request_id": self.request_id,
            "source": "sdk",
        }
        optional = {
            "trace_id": self.trace_id,
            "model": _text(self.model, 256),
            "provider": _text(self.provider, 64),
            "error_class": error_class,
            "ttft_ms": self._ttft_ms,
            "is_stream": self.is_stream,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "guardrails": self.guardrails,
            "user": _text(self.user, 256),
        }
        event.update({name: value for name, value in optional.items() if value})
        return event


def _tokens(value: Any) -> int:
    try:
        return min(max(int(value or 0), 0), 2**31 - 1)
    except (TypeError, ValueError):
        return 0


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value is not None and value != "" else None


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _otel_trace_id() -> str:
    # Joins SDK events to the app's OpenTelemetry traces when it has any.
    try:
        from opentelemetry import trace
    except ImportError:
        return ""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else ""
