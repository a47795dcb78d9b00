"""prodloop.yaml as pydantic models: the one settings registry.

Every setting has its default here and a one-line description. The guide's targets are
the defaults. Secrets never appear literally: fields that hold them take an environment
reference such as ``${OPENAI_API_KEY}`` and resolve it at load time. ``PRODLOOP_*``
environment variables override settings (``PRODLOOP_GATEWAY__PORT=9000`` sets
``gateway.port``; ``PRODLOOP_DATABASE_URL`` sets ``store.url``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel, Field, model_validator

from prodloop.config.base import ENV_PREFIX, FieldError, Secret, SecretRef, StrictModel, duration_s
from prodloop.config.feedback import AnalyticsSettings, FeedbackSettings
from prodloop.config.incidents import Incidents
from prodloop.config.launch import Experiments, Grooming, Launch, Reviews
from prodloop.config.paging import (
    EscalationLevel,
    EscalationPolicy,
    Notifier,
    Override,
    Paging,
    Person,
    Route,
    Schedule,
)
from prodloop.config.releases import Releases
from prodloop.config.sections import (
    ControlConfig,
    FaultRule,
    Faults,
    GatewayConfig,
    Guardrail,
    Price,
    RateLimit,
    Service,
    StoreConfig,
    TelemetryConfig,
    Version,
)
from prodloop.config.slo import (
    AlertSettings,
    BurnRateWindow,
    Slo,
    SloSettings,
    ThresholdAlert,
    guide_slos,
)
from prodloop.config.statuspage import StatusComponent, StatusPage
from prodloop.durations import parse_duration
from prodloop.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "AlertSettings",
    "AnalyticsSettings",
    "BurnRateWindow",
    "Config",
    "ControlConfig",
    "EscalationLevel",
    "EscalationPolicy",
    "FaultRule",
    "Faults",
    "FeedbackSettings",
    "GatewayConfig",
    "Guardrail",
    "Incidents",
    "Notifier",
    "Override",
    "Paging",
    "Person",
    "Price",
    "RateLimit",
    "Releases",
    "Route",
    "Schedule",
    "Secret",
    "SecretRef",
    "Service",
    "Slo",
    "SloSettings",
    "StatusComponent",
    "StatusPage",
    "StoreConfig",
    "TelemetryConfig",
    "ThresholdAlert",
    "Version",
    "duration_s",
    "guide_slos",
    "iter_settings",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_FILE = "prodloop.yaml"


class Config(StrictModel):
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
    slos: SloSettings = Field(default_factory=SloSettings, description="service level objectives")
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="alert evaluation")
    paging: Paging = Field(default_factory=Paging, description="notifiers, on-call, escalation")
    releases: Releases = Field(default_factory=Releases, description="canary rollouts")
    incidents: Incidents = Field(
        default_factory=Incidents, description="incidents, status updates, post-mortems"
    )
    statuspage: StatusPage = Field(default_factory=StatusPage, description="the public status page")
    feedback: FeedbackSettings = Field(
        default_factory=FeedbackSettings, description="user feedback, triage and the backlog"
    )
    analytics: AnalyticsSettings = Field(
        default_factory=AnalyticsSettings, description="product analytics events"
    )
    reviews: Reviews = Field(default_factory=Reviews, description="weekly and daily reviews")
    grooming: Grooming = Field(default_factory=Grooming, description="backlog grooming")
    experiments: Experiments = Field(
        default_factory=Experiments, description="A/B tests on feature flags"
    )
    launch: Launch = Field(
        default_factory=Launch, description="the launch checklist, GA and the exit criteria"
    )

    @model_validator(mode="after")
    def _references_exist(self) -> Config:
        gw = self.gateway
        if gw.default_service is not None and gw.default_service not in self.services:
            raise FieldError(
                f"'{gw.default_service}' is not among services", "gateway", "default_service"
            )
        for i, rule in enumerate(self.guardrails):
            for j, name in enumerate(rule.services):
                if name not in self.services:
                    raise FieldError(f"unknown service '{name}'", "guardrails", i, "services", j)
        for i, fault in enumerate(self.faults.rules):
            if fault.service not in self.services:
                raise FieldError(
                    f"unknown service '{fault.service}'", "faults", "rules", i, "service"
                )
        for name in self.statuspage.components:
            if name not in self.services:
                raise FieldError(
                    f"unknown service '{name}' (each component is a service under `services`)",
                    "statuspage",
                    "components",
                    name,
                )
        for i, name in enumerate(self.reviews.notifiers):
            if name not in self.paging.notifiers:
                raise FieldError(f"unknown notifier '{name}'", "reviews", "notifiers", i)
        for field_name in ("service", "staging_service"):
            name = getattr(self.launch, field_name)
            if name is not None and name not in self.services:
                raise FieldError(f"unknown service '{name}'", "launch", field_name)
        for i, name in enumerate(self.feedback.support.notifiers):
            if name not in self.paging.notifiers:
                raise FieldError(
                    f"unknown notifier '{name}'", "feedback", "support", "notifiers", i
                )
        tick_s = self.control.tick_interval_s
        for i, slo in enumerate(self.slos.objectives):
            where = ("slos", "objectives", i)
            for j, name in enumerate(slo.services):
                if name not in self.services:
                    raise FieldError(f"unknown service '{name}'", *where, "services", j)
            if slo.alert is not None and parse_duration(slo.alert.window) < tick_s:
                raise FieldError(
                    f"{slo.alert.window} is shorter than the evaluation interval "
                    f"control.tick_interval_s ({tick_s:g}s)",
                    *where,
                    "alert",
                    "window",
                )
        for i, window in enumerate(self.alerts.burn_rate_windows):
            if parse_duration(window.short) < tick_s:
                raise FieldError(
                    f"{window.short} is shorter than the evaluation interval "
                    f"control.tick_interval_s ({tick_s:g}s)",
                    "alerts",
                    "burn_rate_windows",
                    i,
                    "short",
                )
        return self

    def missing_secrets(self) -> list[str]:
        """Dotted paths of secret references whose environment variable is unset."""
        return [
            f"{path} (${{{ref.env_name}}})"
            for path, ref in _secret_refs(self, "")
            if ref.value is None
        ]


def _secret_refs(node: object, path: str) -> list[tuple[str, SecretRef]]:
    if isinstance(node, SecretRef):
        return [(path, node)]
    children: list[tuple[str, object]] = []
    if isinstance(node, BaseModel):
        children = [(name, getattr(node, name)) for name in type(node).model_fields]
    elif isinstance(node, dict):
        children = [(str(key), value) for key, value in node.items()]
    elif isinstance(node, list | tuple):
        children = [(str(i), value) for i, value in enumerate(node)]
    found: list[tuple[str, SecretRef]] = []
    for name, child in children:
        found.extend(_secret_refs(child, f"{path}.{name}" if path else name))
    return found


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
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            loc += cause.loc
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
    if isinstance(annotation, type) and issubclass(annotation, StrictModel):
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
