"""The shapes of what the API accepts and answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prodloop.errors import ValidationError
from prodloop.telemetry.events import ERROR_CLASSES, RequestEvent
from prodloop.telemetry.pricing import PriceTable

_INT32 = 2**31 - 1  # token columns are 32-bit integers on PostgreSQL
_LAST_TS = 253_402_300_800.0  # year 10000: later times cannot be bucketed or shown
_MAX_MS = 1e9  # about 11.5 days; longer is a unit mistake, not a request


def parse_timestamp(value: object, *, field: str) -> float:
    """Unix seconds from a number or an ISO 8601 string (UTC when no offset is given)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = datetime.fromisoformat(text)
            except ValueError as exc:
                raise ValidationError(
                    f"not a time: {value!r} (use Unix seconds or ISO 8601)", field=field
                ) from exc
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp()
    else:
        raise ValidationError("must be Unix seconds or an ISO 8601 time", field=field)
    if not math.isfinite(seconds) or not 0 < seconds < _LAST_TS:
        raise ValidationError("must be a time between 1970 and the year 10000", field=field)
    return seconds


class EventIn(BaseModel):
    """One request event as the SDK (or any HTTP client) reports it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    ts: float = Field(description="when the request started: Unix seconds or ISO 8601")
    service: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=128)
    route: str = Field(min_length=1, max_length=256, description='e.g. "chat"')
    status: int = Field(ge=0, le=599, description="HTTP status, or 0 when there is none")
    latency_ms: float = Field(ge=0, le=_MAX_MS)
    request_id: str = Field("", max_length=64)
    trace_id: str = Field("", max_length=32)
    model: str | None = Field(None, max_length=256)
    provider: str | None = Field(None, max_length=64)
    error_class: str | None = Field(None, description="None for a success; see ERROR_CLASSES")
    ttft_ms: float | None = Field(None, ge=0, le=_MAX_MS)
    is_stream: bool = False
    input_tokens: int = Field(0, ge=0, le=_INT32)
    output_tokens: int = Field(0, ge=0, le=_INT32)
    cached_tokens: int = Field(0, ge=0, le=_INT32)
    reasoning_tokens: int = Field(0, ge=0, le=_INT32)
    cost_usd: float | None = Field(
        None, ge=0, description="computed from the price table when left out"
    )
    guardrails: list[str] = Field(default_factory=list, max_length=64)
    user: str | None = Field(None, max_length=256)
    overhead_ms: float | None = Field(None, ge=0, le=_MAX_MS)
    source: Literal["sdk", "gateway", "otlp"] = "sdk"

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> float:
        try:
            return parse_timestamp(value, field="ts")
        except ValidationError as exc:
            raise ValueError(exc.message) from exc

    @field_validator("error_class")
    @classmethod
    def _known_error_class(cls, value: str | None) -> str | None:
        if value is not None and value not in ERROR_CLASSES:
            raise ValueError(f"must be one of {', '.join(ERROR_CLASSES)}")
        return value

    @field_validator("guardrails")
    @classmethod
    def _guardrail_names(cls, names: list[str]) -> list[str]:
        for name in names:
            # Names are stored comma-separated.
            if not name or "," in name or len(name) > 128:
                raise ValueError("guardrail names are 1-128 characters without commas")
        return names

    def to_event(self, prices: PriceTable) -> RequestEvent:
        data = self.model_dump()
        if data["cost_usd"] is None:
            data["cost_usd"] = prices.cost(
                self.model, self.input_tokens, self.output_tokens, self.cached_tokens
            )
        data["guardrails"] = tuple(self.guardrails)
        return RequestEvent(**data)


_EVENTS = pydantic.TypeAdapter(list[EventIn])


def _where(loc: tuple[int | str, ...]) -> str:
    text = "events"
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validate_events(payload: Any, prices: PriceTable) -> list[RequestEvent]:
    """Events from a JSON list (or {"events": [...]}); all of them valid or none taken."""
    if isinstance(payload, dict) and set(payload) == {"events"}:
        payload = payload["events"]
    if not isinstance(payload, list):
        raise ValidationError(
            'the body must be a JSON list of events, or {"events": [...]}', field="events"
        )
    try:
        items = _EVENTS.validate_python(payload)
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = tuple(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        if loc and isinstance(loc[0], int):
            message = f"event {loc[0]}: {message}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problems)"
        raise ValidationError(message, field=_where(loc)) from exc
    return [item.to_event(prices) for item in items]


class IngestResult(BaseModel):
    accepted: int = Field(description="events queued for the store")
    dropped: int = Field(description="events lost because the telemetry queue was full")


class SliResponse(BaseModel):
    start: float = Field(description="window start, Unix seconds")
    end: float = Field(description="window end, Unix seconds")
    rows: list[dict[str, Any]] = Field(description="one row per group")
