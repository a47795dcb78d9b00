"""What one request through the gateway measured, and how it becomes a RequestEvent.

Usage comes in two dialects: Chat Completions / Completions / Embeddings
(``prompt_tokens``, ``completion_tokens`` and their ``*_details``) and the Responses API
(``input_tokens``, ``output_tokens``, where streams carry it in ``response.completed``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from prodloop.gateway.sse import SseEvent
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.pricing import PriceTable

CHAT_ROUTE = "/v1/chat/completions"
COMPLETIONS_ROUTE = "/v1/completions"
RESPONSES_ROUTE = "/v1/responses"
# Routes whose streams take `stream_options.include_usage`.
USAGE_OPTION_ROUTES = frozenset({CHAT_ROUTE, COMPLETIONS_ROUTE})

# gen_ai.provider.name well-known values, by upstream host suffix.
_PROVIDERS = (
    ("api.openai.com", "openai"),
    (".openai.azure.com", "azure.ai.openai"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.x.ai", "x_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cohere.com", "cohere"),
    ("openrouter.ai", "openrouter"),
    ("api.together.xyz", "together"),
)
GENERIC_PROVIDER = "openai-compatible"


def provider_for_url(url: str) -> str:
    """The GenAI provider name of an upstream base URL ("openai-compatible" when unknown)."""
    host = (urlsplit(url).hostname or "").lower()
    for suffix, name in _PROVIDERS:
        if host == suffix.lstrip(".") or host.endswith(suffix):
            return name
    return GENERIC_PROVIDER


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one answer reported; input includes the cached ones, as OpenAI counts them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def scaled(self, factor: float) -> Usage:
        """The same usage multiplied (fault injection's inflated tokens)."""
        return Usage(
            round(self.input_tokens * factor),
            round(self.output_tokens * factor),
            round(self.cached_tokens * factor),
            round(self.reasoning_tokens * factor),
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _detail(usage: dict[str, Any], names: tuple[str, str], field: str) -> int:
    for name in names:
        details = usage.get(name)
        if isinstance(details, dict):
            return _int(details.get(field))
    return 0


def parse_usage(usage: Any) -> Usage | None:
    """A `usage` object of either dialect as Usage; None when it is not one."""
    if not isinstance(usage, dict):
        return None
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        inp, out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    elif "input_tokens" in usage or "output_tokens" in usage:
        inp, out = usage.get("input_tokens"), usage.get("output_tokens")
    else:
        return None
    return Usage(
        _int(inp),
        _int(out),
        _detail(usage, ("prompt_tokens_details", "input_tokens_details"), "cached_tokens"),
        _detail(usage, ("completion_tokens_details", "output_tokens_details"), "reasoning_tokens"),
    )


def usage_and_model(payload: Any) -> tuple[Usage | None, str | None]:
    """Usage and model of a response body or stream event, looking inside `response` too."""
    if not isinstance(payload, dict):
        return None, None
    usage = parse_usage(payload.get("usage"))
    model = payload.get("model")
    inner = payload.get("response")
    if isinstance(inner, dict):
        if usage is None:
            usage = parse_usage(inner.get("usage"))
        if not isinstance(model, str):
            model = inner.get("model")
    return usage, model if isinstance(model, str) and model else None


# Bodies up to this size are parsed whole; bigger ones (embeddings of long batches) are
# searched for their top-level "usage" and "model" instead of paying a full parse.
_FULL_PARSE_BYTES = 64 * 1024
_MODEL_FIELD = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


def meter_json_body(body: bytes) -> tuple[Usage | None, str | None]:
    """Usage and model of a whole JSON answer."""
    if len(body) <= _FULL_PARSE_BYTES:
        try:
            return usage_and_model(orjson.loads(body))
        except orjson.JSONDecodeError:
            return None, None
    usage: Usage | None = None
    # Inside JSON strings quotes are escaped, so a bare "usage": is a key, and the usage
    # object holds only numbers and small objects: its braces balance without strings.
    at = body.rfind(b'"usage"')
    start = body.find(b"{", at) if at >= 0 else -1
    if start >= 0:
        depth, end = 0, start
        for end in range(start, min(len(body), start + 4096)):
            char = body[end]
            if char == 0x7B:
                depth += 1
            elif char == 0x7D:
                depth -= 1
                if depth == 0:
                    break
        try:
            usage = parse_usage(orjson.loads(body[start : end + 1]))
        except orjson.JSONDecodeError:
            usage = None
    at = body.rfind(b'"model"')
    match = _MODEL_FIELD.match(body, at) if at >= 0 else None
    model = match.group(1).decode("utf-8", "replace") if match else None
    return usage, model


def _has_content(route: str, payload: dict[str, Any]) -> bool:
    if route == RESPONSES_ROUTE:
        kind = payload.get("type")
        return isinstance(kind, str) and kind.endswith(".delta")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        return False
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        if choice.get("text"):  # completions
            return True
        delta = choice.get("delta")
        if isinstance(delta, dict) and (
            delta.get("content")
            or delta.get("tool_calls")
            or delta.get("function_call")
            or delta.get("refusal")
            or delta.get("reasoning_content")
        ):
            return True
    return False


class StreamMeter:
    """Reads an SSE answer event by event: first content, model, usage; drops our usage chunk.

    With `strip_usage`, the gateway added `include_usage` for a client that did not ask,
    so the usage-only chunk (``choices: []``) is metered and then kept from the client.
    """

    __slots__ = ("has_content", "model", "route", "strip_usage", "usage")

    def __init__(self, route: str, *, strip_usage: bool) -> None:
        self.route = route
        self.strip_usage = strip_usage
        self.has_content = False
        self.model: str | None = None
        self.usage: Usage | None = None

    def keep(self, event: SseEvent) -> bool:
        """Meter one event; False when it must not reach the client."""
        data = event.data
        if not data or data == b"[DONE]":
            return True
        # Parsing every chunk is cheap, but skipping the ones that cannot matter is cheaper.
        needs_parse = not self.has_content or self.model is None or b'"usage"' in data
        if not needs_parse:
            return True
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return True
        if not isinstance(payload, dict):
            return True
        usage, model = usage_and_model(payload)
        if model is not None and self.model is None:
            self.model = model
        if not self.has_content and (
            self.route not in (CHAT_ROUTE, COMPLETIONS_ROUTE, RESPONSES_ROUTE)
            or _has_content(self.route, payload)
        ):
            self.has_content = True
        if usage is not None:
            self.usage = usage
            if self.strip_usage and payload.get("choices") == []:
                return False
        return True


@dataclass(slots=True)
class Exchange:
    """Everything measured about one request while the gateway handles it."""

    ts: float
    started_at: float  # perf_counter at arrival
    request_id: str
    trace_id: str = ""
    service: str = "unknown"
    version: str = ""
    route: str = "/"
    provider: str | None = None
    model: str | None = None
    user: str | None = None
    is_stream: bool = False
    status: int = 0
    error_class: str | None = None
    usage: Usage | None = None
    token_multiplier: float = 1.0
    guardrails: tuple[str, ...] = ()
    flags: str = ""  # the evaluated flags sent upstream, key=variant;…
    ttft_s: float | None = None
    upstream_wait_s: float = 0.0  # time awaiting the upstream (and injected latency)
    response_started: bool = False
    finished_at: float | None = None

    def _cost(self, prices: PriceTable, usage: Usage | None) -> float | None:
        """USD, or None when tokens were (or may have been) spent but cannot be priced."""
        if usage is not None:
            return prices.cost(
                self.model, usage.input_tokens, usage.output_tokens, usage.cached_tokens
            )
        if self.status >= 400 and self.error_class not in _MAY_HAVE_SPENT:
            return 0.0  # refused, or an error answer: no tokens were generated
        if self.model is None:
            return 0.0  # not a model call: model lists, files
        return None  # an answer without usage, or one cut short

    def overhead_s(self, now: float) -> float:
        """Gateway time so far, excluding what was spent waiting on the upstream."""
        return max(0.0, now - self.started_at - self.upstream_wait_s)

    def to_event(self, prices: PriceTable, now: float) -> RequestEvent:
        """The RequestEvent for this exchange (see `_cost` for when cost is unknown)."""
        end = self.finished_at if self.finished_at is not None else now
        usage = self.usage
        if usage is not None and self.token_multiplier != 1.0:
            usage = usage.scaled(self.token_multiplier)
        cost = self._cost(prices, usage)
        if usage is None:
            usage = _NO_USAGE
        return RequestEvent(
            ts=self.ts,
            service=self.service,
            version=self.version,
            route=self.route,
            status=self.status,
            latency_ms=(end - self.started_at) * 1000.0,
            request_id=self.request_id,
            trace_id=self.trace_id,
            model=self.model,
            provider=self.provider,
            error_class=self.error_class,
            ttft_ms=None if self.ttft_s is None else self.ttft_s * 1000.0,
            is_stream=self.is_stream,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=cost,
            guardrails=self.guardrails,
            flags=self.flags,
            user=self.user,
            overhead_ms=self.overhead_s(end) * 1000.0,
            source="gateway",
        )


_NO_USAGE = Usage()
# Failures after which the upstream may have generated (and billed) tokens nobody reported.
_MAY_HAVE_SPENT = frozenset({"client_disconnect", "timeout"})
