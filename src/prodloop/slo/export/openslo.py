"""OpenSLO v1 documents for prodloop's SLOs: Service, SLI, SLO, AlertPolicy, targets.

One SLI and one SLO per configured service and SLO, with Prometheus queries over the
counters prodloop exposes (``counter: true``: the queries return raw counters). Every
SLO budgets by occurrences over its rolling window. Alerts become AlertPolicies with one
burn-rate condition each:

* a burn-rate rule: its factor over its long window (OpenSLO conditions have one window;
  the short one is kept in the annotation ``prodloop/short-window``);
* a threshold rule on a ratio or rate SLO: the threshold over the allowed share, which
  is the same condition stated as a burn rate (3 % errors on a 99 % SLO is a burn of 3);
* a threshold rule on an average: the threshold over the target (a burn of 1.5 for
  $0.003 on a $0.002 target); the SLO counts spend against the spend its target allows,
  so its good ratio is the share of that allowance left, held at ≥ 0;
* a threshold rule on a latency SLO ("p95 above 2.5 s"): OpenSLO has no percentile
  condition, so it gets an alert-only SLO of its own (95 % of requests within 2.5 s),
  whose burn rate above 1 is exactly that condition.

Names follow RFC 1123 (lowercase letters, digits and "-", at most 63 characters).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml

from prodloop.alerting.paging import match_route
from prodloop.alerting.rules import AlertRule, format_value, rules_for
from prodloop.config import Config, Slo
from prodloop.errors import ValidationError
from prodloop.slo.budget import allowed_share
from prodloop.slo.export.promql import (
    Sli,
    Terms,
    counters,
    number,
    prom_duration,
    quote,
    sli_of,
)
from prodloop.telemetry.rollups import DAY_S

API_VERSION = "openslo/v1"
Document = dict[str, Any]

_NAME_INVALID = re.compile(r"[^a-z0-9-]+")
_MAX_NAME = 63


def object_name(*parts: str) -> str:
    """An RFC 1123 name from free text, shortened with a hash when longer than 63."""
    text = _NAME_INVALID.sub("-", "-".join(parts).lower()).strip("-") or "x"
    text = re.sub(r"-{2,}", "-", text)
    if len(text) <= _MAX_NAME:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: _MAX_NAME - 9].rstrip('-')}-{digest}"


def shorthand(seconds: float, *, field: str) -> str:
    """An OpenSLO duration shorthand (whole minutes, hours, days or weeks)."""
    if seconds == 0:
        return "0m"
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    raise ValidationError(
        f"{seconds:g}s is not a whole number of minutes, the finest OpenSLO duration",
        field=field,
    )


def _burn(value: float) -> float:
    # A burn rate for people and other tools: 3.0, not 2.9999999999999973.
    return float(f"{value:.10g}")


def _metric(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def _service_filter(service: str) -> tuple[str, ...]:
    return (f"service={quote(service)}",)


def _scaled(terms: Terms, factor: float, extra: tuple[str, ...]) -> str:
    return f"{number(factor)} * ({counters(terms, extra)})"


def _ratio_metric(slo: Slo, sli: Sli, service: str) -> dict[str, Any]:
    extra = _service_filter(service)
    if slo.kind == "average":
        assert slo.target is not None
        total = _scaled(sli.eligible, slo.target, extra)
    else:
        total = counters(sli.eligible, extra)
    return {
        "counter": True,
        "bad": _metric(counters(sli.bad, extra)),
        "total": _metric(total),
    }


def _sli_description(slo: Slo) -> str:
    if slo.kind == "average":
        return (
            "bad: token cost spent (USD); total: the spend the target allows "
            f"(${slo.target:g} per request with a known cost)"
        )
    if slo.kind == "latency":
        return f"bad: requests slower than {slo.threshold_ms:g} ms; total: requests"
    if slo.kind == "rate":
        return "bad: requests a guardrail triggered on; total: requests"
    which = "server-side errors" if slo.bad == "errors" else "requests that did not succeed"
    return f"bad: {which}; total: requests"


def _objective(slo: Slo) -> dict[str, Any]:
    if slo.kind == "average":
        return {"displayName": f"cost per request ≤ ${slo.target:g}", "target": 0.0}
    target = slo.good_objective
    assert target is not None
    return {"displayName": slo.description or slo.name, "target": target}


def _condition_description(rule: AlertRule) -> str:
    slo = rule.slo
    head = f"{rule.service} {slo.name}"
    if rule.kind == "burn_rate":
        assert rule.short_window_s is not None
        return (
            f"{head}: error budget burning above {_burn(rule.threshold):g}× over "
            f"{prom_duration(rule.window_s)} and {prom_duration(rule.short_window_s)}"
        )
    held = f" for {prom_duration(rule.for_s)}" if rule.for_s > 0 else ""
    return (
        f"{head}: {slo.indicator_words} above {format_value(slo, rule.threshold)} "
        f"over {prom_duration(rule.window_s)}{held}"
    )


def _alert_condition(name: str, rule: AlertRule, threshold: float, lookback_s: float) -> Document:
    field = f"slos.objectives.{rule.slo.name}.alert"
    return {
        "kind": "AlertCondition",
        "metadata": {"name": name},
        "spec": {
            "description": _condition_description(rule),
            "severity": rule.severity,
            "condition": {
                "kind": "burnrate",
                "op": "gt",
                "threshold": threshold,
                "lookbackWindow": shorthand(lookback_s, field=field),
                "alertAfter": shorthand(rule.for_s, field=field),
            },
        },
    }


def _targets(config: Config, rule: AlertRule) -> list[str]:
    """Names of the notification targets a rule's alerts are routed to."""
    paging = config.paging
    index = match_route(paging.routes, rule.labels)
    if index is None:
        return ["prodloop"]
    route = paging.routes[index]
    names = list(route.notifiers)
    if route.escalation_policy is not None:
        names.append(f"escalation-{route.escalation_policy}")
    return names or ["prodloop"]


def _target_document(config: Config, name: str) -> Document:
    notifier = config.paging.notifiers.get(name)
    target: str
    if notifier is not None:
        target, description = notifier.kind, f"prodloop notifier '{name}' ({notifier.kind})"
    elif name.startswith("escalation-"):
        policy = name.removeprefix("escalation-")
        target, description = "escalation-policy", f"prodloop escalation policy '{policy}'"
    else:
        target, description = "prodloop", "stored and shown by prodloop; no route matches"
    return {
        "apiVersion": API_VERSION,
        "kind": "AlertNotificationTarget",
        "metadata": {"name": object_name(name)},
        "spec": {"target": target, "description": description},
    }


class _Builder:
    """Collects the documents of every service and SLO, each target once."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.window = shorthand(config.slos.window_days * DAY_S, field="slos.window_days")
        self.documents: list[Document] = []
        self.policies: list[Document] = []
        self.targets: list[str] = []

    def service(self, name: str) -> None:
        self.documents.append(
            {
                "apiVersion": API_VERSION,
                "kind": "Service",
                "metadata": {"name": object_name(name), "displayName": name},
                "spec": {"description": f"prodloop service '{name}'"},
            }
        )

    def slo(self, service: str, slo: Slo) -> None:
        base = object_name(service, slo.name)
        policies = []
        alert_only: list[tuple[Slo, AlertRule]] = []
        for rule in rules_for(self.config, service, slo):
            if rule.kind == "threshold" and slo.kind == "latency":
                alert_only.append((_alert_only_slo(slo, rule), rule))
                continue
            policies.append(self.policy(base, rule, *_as_burn_rate(slo, rule)))
        self.add_slo(base, service, slo, slo.description, policies)
        for alert_slo, rule in alert_only:
            name = object_name(service, alert_slo.name)
            policy = self.policy(name, rule, 1.0, rule.window_s)
            self.add_slo(name, service, alert_slo, alert_slo.description, [policy], alert_only=True)

    def add_slo(
        self,
        name: str,
        service: str,
        slo: Slo,
        description: str,
        policies: list[str],
        *,
        alert_only: bool = False,
    ) -> None:
        annotations = {"prodloop/slo": slo.name, "prodloop/kind": slo.kind}
        if alert_only:
            annotations["prodloop/alert-only"] = "true"
        self.documents.append(
            {
                "apiVersion": API_VERSION,
                "kind": "SLI",
                "metadata": {"name": name},
                "spec": {
                    "description": _sli_description(slo),
                    "ratioMetric": _ratio_metric(slo, sli_of(slo), service),
                },
            }
        )
        spec: dict[str, Any] = {
            "description": description[:1050],
            "service": object_name(service),
            "indicatorRef": name,
            "timeWindow": [{"duration": self.window, "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [_objective(slo)],
        }
        if policies:
            spec["alertPolicies"] = [{"alertPolicyRef": policy} for policy in policies]
        self.documents.append(
            {
                "apiVersion": API_VERSION,
                "kind": "SLO",
                "metadata": {"name": name, "displayName": f"{service} {slo.name}",
                             "annotations": annotations},
                "spec": spec,
            }
        )  # fmt: skip
        # Each SLO's alert policies follow it.
        self.documents.extend(self.policies)
        self.policies.clear()

    def policy(self, base: str, rule: AlertRule, threshold: float, lookback_s: float) -> str:
        if rule.kind == "burn_rate":
            assert rule.short_window_s is not None
            suffix = f"burn-{rule.labels['window']}-{rule.labels['short_window']}"
        else:
            suffix = "threshold"
        name = object_name(base, suffix)
        annotations = {"prodloop/alertname": rule.alertname}
        if rule.short_window_s is not None:
            annotations["prodloop/short-window"] = rule.labels["short_window"]
        if rule.keep_firing_for_s > 0:
            annotations["prodloop/keep-firing-for"] = prom_duration(rule.keep_firing_for_s)
        if rule.runbook_url:
            annotations["prodloop/runbook-url"] = rule.runbook_url
        targets = _targets(self.config, rule)
        for target in targets:
            if target not in self.targets:
                self.targets.append(target)
        route = match_route(self.config.paging.routes, rule.labels)
        send_resolved = route is not None and self.config.paging.routes[route].send_resolved
        self.policies.append(
            {
                "apiVersion": API_VERSION,
                "kind": "AlertPolicy",
                "metadata": {"name": name, "annotations": annotations},
                "spec": {
                    "description": f"{rule.alertname} ({rule.severity})",
                    "alertWhenBreaching": True,
                    "alertWhenResolved": send_resolved,
                    "alertWhenNoData": self.config.alerts.no_data == "alerting",
                    "conditions": [
                        _alert_condition(object_name(name, "condition"), rule, threshold,
                                         lookback_s)
                    ],
                    "notificationTargets": [{"targetRef": object_name(t)} for t in targets],
                },
            }
        )  # fmt: skip
        return name


def _as_burn_rate(slo: Slo, rule: AlertRule) -> tuple[float, float]:
    """A rule as an OpenSLO burn-rate condition: (threshold, lookback window seconds)."""
    if rule.kind == "burn_rate":
        return _burn(rule.threshold), rule.window_s
    return _burn(rule.threshold / allowed_share(slo)), rule.window_s


def _alert_only_slo(slo: Slo, rule: AlertRule) -> Slo:
    """The SLO whose burn above 1 is a latency threshold rule's condition."""
    above_ms = rule.threshold
    return Slo(
        name=f"{slo.name}-alert",
        kind="latency",
        services=slo.services,
        description=(
            f"alert-only: p{slo.percentile:g} latency within {above_ms / 1000:g} s "
            f"({rule.alertname} fires when it is not, for {shorthand(rule.for_s, field='for')})"
        ),
        objective=slo.good_objective,
        percentile=slo.percentile,
        threshold_ms=above_ms,
    )


def openslo_documents(config: Config) -> list[Document]:
    """Every document, Services first and notification targets last."""
    services = sorted(config.services)
    if not services:
        raise ValidationError(
            "OpenSLO describes the SLOs of named services, and the config names none "
            "(add them under `services`)",
            field="services",
        )
    builder = _Builder(config)
    for service in services:
        builder.service(service)
    for service in services:
        for slo in config.slos.objectives:
            if slo.applies_to(service):
                builder.slo(service, slo)
    documents = builder.documents
    documents.extend(_target_document(config, name) for name in builder.targets)
    return documents


def render_openslo(config: Config) -> str:
    """The documents as one multi-document YAML stream."""
    header = (
        "# OpenSLO v1 documents for prodloop's SLOs (`prodloop slo export --format openslo`).\n"
    )
    return header + yaml.safe_dump_all(
        openslo_documents(config), sort_keys=False, allow_unicode=True, width=4096
    )
