"""The data plane's sections: store, gateway, control plane, telemetry, services, prices,
guardrails and fault injection."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from prodloop.config.base import Secret, StrictModel


class StoreConfig(StrictModel):
    url: str = Field(
        "sqlite:///.prodloop/prodloop.db",
        description="SQLAlchemy URL of the store: SQLite (default) or postgresql+psycopg://…",
    )


class RateLimit(StrictModel):
    requests_per_s: float = Field(0.0, ge=0, description="sustained rate; 0 turns the limit off")
    burst: int = Field(0, ge=0, description="bucket size; 0 means twice the rate, at least 1")


class GatewayConfig(StrictModel):
    host: str = Field("127.0.0.1", description="address the gateway listens on")
    port: int = Field(8080, ge=1, le=65535, description="port of the gateway (data plane)")
    default_service: str | None = Field(
        None, description="service for requests that name none (by key or /s/{service}/ prefix)"
    )
    require_key: bool = Field(True, description="refuse requests without a valid gateway key (401)")
    keys: list[Secret] = Field(
        default_factory=list,
        description="gateway keys valid for every service (env references)",
    )
    max_body_bytes: int = Field(
        20 * 1024 * 1024, gt=0, description="largest request body accepted (413 above)"
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="upstream connect timeout (502)")
    read_timeout_s: float = Field(
        120.0, gt=0, description="upstream silence allowed between bytes (504 above)"
    )
    max_connections: int = Field(
        256, gt=0, description="pooled keep-alive connections per upstream host"
    )
    per_key_limit: RateLimit = Field(
        default_factory=RateLimit, description="rate limit per gateway key (429)"
    )
    per_user_limit: RateLimit = Field(
        default_factory=RateLimit,
        description="rate limit per end user (OpenAI `user` field or x-prodloop-user) (429)",
    )
    guardrail_header: str = Field(
        "x-guardrail-triggered",
        description="response header an upstream sets to report guardrail triggers (comma list)",
    )
    flags: list[str] = Field(
        default_factory=list,
        description="feature flags evaluated per request and passed upstream in flag_header",
    )
    flag_header: str = Field(
        "x-prodloop-flags",
        description="request header carrying the evaluated flags upstream (key=variant;…)",
    )


class ControlConfig(StrictModel):
    host: str = Field("127.0.0.1", description="address the control plane listens on")
    port: int = Field(8765, ge=1, le=65535, description="port of the control plane (API, /metrics)")
    api_tokens: list[Secret] = Field(
        default_factory=list, description="bearer tokens for /api/v1 (env references)"
    )
    ingest_keys: list[Secret] = Field(
        default_factory=list,
        description="write-only public keys for SDK, OTLP and ingest endpoints (env references)",
    )
    max_ingest_bytes: int = Field(
        5 * 1024 * 1024, gt=0, description="largest ingest request body (413 above)"
    )
    ingest_limit: RateLimit = Field(
        default_factory=lambda: RateLimit(requests_per_s=50.0, burst=200),
        description="rate limit per ingest key (429)",
    )
    tick_interval_s: float = Field(5.0, gt=0, description="how often the loop evaluates")


class TelemetryConfig(StrictModel):
    queue_size: int = Field(
        100_000, gt=0, description="events buffered in memory; a full queue drops and counts"
    )
    batch_size: int = Field(2000, gt=0, description="events written per batch")
    flush_interval_s: float = Field(0.5, gt=0, description="longest wait before a batch is written")
    raw_retention_days: float = Field(14, gt=0, description="days raw request events are kept")
    minute_rollup_retention_days: float = Field(
        90, gt=0, description="days per-minute rollups are kept (hourly rollups are kept longer)"
    )
    hour_rollup_retention_days: float = Field(
        400, gt=0, description="days per-hour rollups are kept"
    )


class Version(StrictModel):
    upstream: str = Field(description="base URL of this version's upstream, e.g. …/v1")
    api_key: Secret | None = Field(
        None, description="provider key the gateway adds upstream (env reference)"
    )
    weight: float = Field(
        100.0, ge=0, description="share of traffic (the stable version only, for now)"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers sent upstream")

    @field_validator("upstream")
    @classmethod
    def _upstream_is_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class Service(StrictModel):
    stable: str = Field(description="name of the version that takes traffic")
    versions: dict[str, Version] = Field(description="the deployable versions of this service")
    keys: list[Secret] = Field(
        default_factory=list, description="gateway keys that select this service (env references)"
    )
    require_signed: bool = Field(
        False,
        description="refuse a deploy unless its artifact carries an Ed25519 signature that "
        "verifies with PRODLOOP_SIGNING_PUBLIC_KEY",
    )

    @model_validator(mode="after")
    def _stable_exists(self) -> Service:
        if self.stable not in self.versions:
            raise ValueError(f"stable version '{self.stable}' is not among versions")
        return self


class Price(StrictModel):
    match: str = Field(description="regular expression matched against the model name")
    input_per_mtok: float = Field(ge=0, description="USD per million input tokens")
    output_per_mtok: float = Field(ge=0, description="USD per million output tokens")
    cached_input_per_mtok: float | None = Field(
        None, ge=0, description="USD per million cached input tokens (defaults to input price)"
    )

    @field_validator("match")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


GuardrailKind = Literal["max_prompt_chars", "max_tokens", "blocked_pattern", "pii"]
PiiKind = Literal["email", "phone", "card"]


def _all_pii_kinds() -> list[PiiKind]:
    return ["email", "phone", "card"]


class Guardrail(StrictModel):
    name: str = Field(description="name recorded on every trigger")
    kind: GuardrailKind = Field(description="max_prompt_chars | max_tokens | blocked_pattern | pii")
    action: Literal["block", "flag"] = Field("flag", description="block (400) or flag and pass")
    limit: int | None = Field(None, gt=0, description="for max_prompt_chars and max_tokens")
    pattern: str | None = Field(None, description="for blocked_pattern: a regular expression")
    detect: list[PiiKind] = Field(
        default_factory=_all_pii_kinds, description="for pii: what to find"
    )
    services: list[str] = Field(
        default_factory=list, description="services the rule applies to (all when empty)"
    )

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Guardrail:
        if self.kind in ("max_prompt_chars", "max_tokens") and self.limit is None:
            raise ValueError(f"a {self.kind} guardrail needs 'limit'")
        if self.kind == "blocked_pattern":
            if not self.pattern:
                raise ValueError("a blocked_pattern guardrail needs 'pattern'")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from exc
        return self


class FaultRule(StrictModel):
    service: str = Field(description="service the fault applies to")
    version: str | None = Field(None, description="version (all versions when empty)")
    latency_ms: float = Field(0.0, ge=0, description="latency added before the upstream call")
    error_rate: float = Field(
        0.0, ge=0, le=1, description="share of requests answered with an error"
    )
    error_status: int = Field(503, ge=500, le=599, description="status of injected errors")
    token_multiplier: float = Field(1.0, ge=0, description="factor applied to reported tokens")


class Faults(StrictModel):
    enabled: bool = Field(False, description="fault injection is off unless this is true")
    rules: list[FaultRule] = Field(default_factory=list, description="faults per service/version")
