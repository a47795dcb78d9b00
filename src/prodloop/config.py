"""prodloop.yaml as pydantic models: the one settings registry.

Every setting has its default here and a one-line description. The guide's targets are
the defaults. Secrets never appear literally: fields that hold them take an environment
reference such as ``${OPENAI_API_KEY}`` and resolve it at load time. ``PRODLOOP_*``
environment variables override settings (``PRODLOOP_GATEWAY__PORT=9000`` sets
``gateway.port``; ``PRODLOOP_DATABASE_URL`` sets ``store.url``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from prodloop.errors import ConfigError

DEFAULT_CONFIG_FILE = "prodloop.yaml"
ENV_PREFIX = "PRODLOOP_"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class _Model(BaseModel):
    # Unknown keys are typos far more often than intent, so they are errors.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_ref(value: object, *, what: str) -> str:
    if not isinstance(value, str) or not _ENV_REF.match(value):
        raise ValueError(
            f"{what} must be an environment reference like ${{MY_SECRET}}, not a literal value"
        )
    return value


class SecretRef(_Model):
    """An environment reference and, once resolved, its value (never printed)."""

    ref: str
    value: SecretStr | None = None

    @property
    def env_name(self) -> str:
        match = _ENV_REF.match(self.ref)
        assert match is not None
        return match.group(1)

    def get(self) -> str | None:
        return self.value.get_secret_value() if self.value is not None else None


def _to_secret_ref(value: object, info: pydantic.ValidationInfo) -> object:
    if isinstance(value, SecretRef):
        return value
    ref = _env_ref(value, what="a secret")
    context = info.context if isinstance(info.context, dict) else {}
    environ: Mapping[str, str] = context.get("environ", os.environ)
    return {"ref": ref, "value": environ.get(ref[2:-1])}


Secret = Annotated[SecretRef, pydantic.BeforeValidator(_to_secret_ref)]


class StoreConfig(_Model):
    url: str = Field(
        "sqlite:///.prodloop/prodloop.db",
        description="SQLAlchemy URL of the store: SQLite (default) or postgresql+psycopg://…",
    )


class RateLimit(_Model):
    requests_per_s: float = Field(0.0, ge=0, description="sustained rate; 0 turns the limit off")
    burst: int = Field(0, ge=0, description="bucket size; 0 means twice the rate, at least 1")


class GatewayConfig(_Model):
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


class ControlConfig(_Model):
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


class TelemetryConfig(_Model):
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


class Version(_Model):
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


class Service(_Model):
    stable: str = Field(description="name of the version that takes traffic")
    versions: dict[str, Version] = Field(description="the deployable versions of this service")
    keys: list[Secret] = Field(
        default_factory=list, description="gateway keys that select this service (env references)"
    )

    @model_validator(mode="after")
    def _stable_exists(self) -> Service:
        if self.stable not in self.versions:
            raise ValueError(f"stable version '{self.stable}' is not among versions")
        return self


class Price(_Model):
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


class Guardrail(_Model):
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


class FaultRule(_Model):
    service: str = Field(description="service the fault applies to")
    version: str | None = Field(None, description="version (all versions when empty)")
    latency_ms: float = Field(0.0, ge=0, description="latency added before the upstream call")
    error_rate: float = Field(
        0.0, ge=0, le=1, description="share of requests answered with an error"
    )
    error_status: int = Field(503, ge=500, le=599, description="status of injected errors")
    token_multiplier: float = Field(1.0, ge=0, description="factor applied to reported tokens")


class Faults(_Model):
    enabled: bool = Field(False, description="fault injection is off unless this is true")
    rules: list[FaultRule] = Field(default_factory=list, description="faults per service/version")


class LatencySlo(_Model):
    objective_ms: float = Field(2000.0, gt=0, description="p95 latency target (ms)")
    percentile: float = Field(95.0, gt=0, lt=100, description="which percentile")
    alert_ms: float = Field(2500.0, gt=0, description="alert when the percentile exceeds this")
    alert_for: str = Field("5m", description="…for this long")


class ErrorRateSlo(_Model):
    objective: float = Field(0.01, gt=0, lt=1, description="error rate target (share)")
    alert: float = Field(0.03, gt=0, lt=1, description="alert when the error rate exceeds this")
    alert_for: str = Field("5m", description="…for this long")


class CostSlo(_Model):
    objective_usd: float = Field(0.002, gt=0, description="token cost per request target (USD)")
    alert_usd: float = Field(0.003, gt=0, description="alert when the average exceeds this")
    alert_window: str = Field("1h", description="…averaged over this window")


class SuccessRateSlo(_Model):
    objective: float = Field(0.995, gt=0, lt=1, description="success rate target (share)")


class Slos(_Model):
    window_days: int = Field(30, gt=0, description="rolling window the SLOs are held over")
    latency: LatencySlo = Field(default_factory=LatencySlo, description="p95 latency SLO")
    error_rate: ErrorRateSlo = Field(default_factory=ErrorRateSlo, description="error rate SLO")
    cost: CostSlo = Field(default_factory=CostSlo, description="token cost per request SLO")
    success_rate: SuccessRateSlo = Field(
        default_factory=SuccessRateSlo, description="success rate SLO"
    )


class Config(_Model):
    store: StoreConfig = Field(default_factory=StoreConfig, description="where data is kept")
    gateway: GatewayConfig = Field(default_factory=GatewayConfig, description="the data plane")
    control: ControlConfig = Field(default_factory=ControlConfig, description="API and loop")
    telemetry: TelemetryConfig = Field(
        default_factory=TelemetryConfig, description="event pipeline and retention"
    )
    services: dict[str, Service] = Field(
        default_factory=dict, description="the LLM services the gateway fronts"
    )
    pricing: list[Price] = Field(
        default_factory=list, description="price overrides, checked before the built-in table"
    )
    guardrails: list[Guardrail] = Field(
        default_factory=list, description="request-side checks recorded by name"
    )
    faults: Faults = Field(default_factory=Faults, description="fault injection for drills")
    slos: Slos = Field(default_factory=Slos, description="service level objectives")

    @model_validator(mode="after")
    def _references_exist(self) -> Config:
        gw = self.gateway
        if gw.default_service is not None and gw.default_service not in self.services:
            raise ValueError(
                f"gateway.default_service '{gw.default_service}' is not among services"
            )
        for rule in self.guardrails:
            for name in rule.services:
                if name not in self.services:
                    raise ValueError(f"guardrail '{rule.name}' names unknown service '{name}'")
        for fault in self.faults.rules:
            if fault.service not in self.services:
                raise ValueError(f"fault names unknown service '{fault.service}'")
        return self

    def missing_secrets(self) -> list[str]:
        """Dotted paths of secret references whose environment variable is unset."""
        missing: list[str] = []

        def check(path: str, ref: SecretRef | None) -> None:
            if ref is not None and ref.value is None:
                missing.append(f"{path} (${{{ref.env_name}}})")

        for i, ref in enumerate(self.gateway.keys):
            check(f"gateway.keys.{i}", ref)
        for i, ref in enumerate(self.control.api_tokens):
            check(f"control.api_tokens.{i}", ref)
        for i, ref in enumerate(self.control.ingest_keys):
            check(f"control.ingest_keys.{i}", ref)
        for name, service in self.services.items():
            for i, ref in enumerate(service.keys):
                check(f"services.{name}.keys.{i}", ref)
            for vname, version in service.versions.items():
                check(f"services.{name}.versions.{vname}.api_key", version.api_key)
        return missing


# --- loading ---------------------------------------------------------------------------


def _line_index(
    node: yaml.Node, path: tuple[str | int, ...] = ()
) -> dict[tuple[str | int, ...], int]:
    """Map every key path of a YAML document to its 1-based line number."""
    lines: dict[tuple[str | int, ...], int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, str(key_node.value))
            lines.update(_line_index(value_node, key))
            lines[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_line_index(item, (*path, i)))
    return lines


def _nearest_line(
    lines: Mapping[tuple[str | int, ...], int], loc: tuple[str | int, ...]
) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "PRODLOOP_CONFIG":
            continue
        if name == "PRODLOOP_DATABASE_URL":
            data.setdefault("store", {})["url"] = value
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) < 2 or parts[0] not in Config.model_fields:
            continue  # not a setting (e.g. a secret named PRODLOOP_API_TOKEN)
        target = data
        for part in parts[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = {}
                target[part] = existing
            target = existing
        target[parts[-1]] = yaml.safe_load(value) if value else value


def parse_config(
    text: str,
    *,
    path: str = DEFAULT_CONFIG_FILE,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Parse prodloop.yaml text; errors name the field and its line."""
    environ = os.environ if environ is None else environ
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", line=line, path=path) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of settings", line=1, path=path)
    lines = _line_index(node) if node is not None else {}
    _apply_env_overrides(data, environ)
    try:
        return Config.model_validate(data, context={"environ": environ})
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        field = ".".join(str(part) for part in loc) or None
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        raise ConfigError(message, field=field, line=_nearest_line(lines, loc), path=path) from exc


def config_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("PRODLOOP_CONFIG") or DEFAULT_CONFIG_FILE)


def load_config(explicit: str | None = None, *, required: bool = False) -> Config:
    """Load prodloop.yaml (or PRODLOOP_CONFIG); built-in defaults when there is none."""
    path = config_path(explicit)
    if not path.exists():
        if required or explicit:
            raise ConfigError(f"no config file at {path} (run `prodloop init`)", path=str(path))
        return parse_config("", path=str(path))
    return parse_config(path.read_text(encoding="utf-8"), path=str(path))


def _nested_model(annotation: object) -> tuple[str, type[BaseModel]] | None:
    """The model a field holds directly, in a dict or in a list, with its path marker."""
    if isinstance(annotation, type) and issubclass(annotation, _Model):
        return "", annotation
    origin = getattr(annotation, "__origin__", None)
    args: tuple[object, ...] = getattr(annotation, "__args__", ())
    if origin is dict and len(args) == 2:
        inner = _nested_model(args[1])
        return (".<name>", inner[1]) if inner else None
    if origin is list and args:
        inner = _nested_model(args[0])
        return ("[]", inner[1]) if inner else None
    return None


def iter_settings(
    model: type[BaseModel] = Config, prefix: str = "", instance: BaseModel | None = None
) -> list[tuple[str, str, str]]:
    """Every setting as (dotted name, default, description), for docs and the docs test."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        nested = _nested_model(field.annotation)
        if instance is not None:
            value: object = getattr(instance, name)
        elif field.is_required():
            value = "required"
        else:
            value = field.get_default(call_default_factory=True)
        default = "" if nested else ("required" if value == "required" else repr(value))
        rows.append((dotted, default, field.description or ""))
        if nested is not None and nested[1] is not SecretRef:
            child = value if nested[0] == "" and isinstance(value, BaseModel) else None
            rows.extend(iter_settings(nested[1], dotted + nested[0] + ".", child))
    return rows
