"""The alert rules the config implies, and the value each one reads at a moment.

Two families per service and SLO:

* a threshold rule, from the SLO's `alert` (the guide's table): the SLO's indicator over
  `window` above `above`, held for `for`. For ratio SLOs the indicator is the bad share
  (errors, or failures), for latency SLOs the SLO's percentile (ms), for averages the
  average, for rate SLOs the share of requests a guardrail triggered on;
* multi-window multi-burn-rate rules (SRE workbook), for ratio, latency and rate SLOs
  with `burn_rate_alerts`: one per `alerts.burn_rate_windows` entry, firing while the
  burn rate exceeds the entry's factor over both its long and its short window.

A window with fewer than `alerts.min_requests` eligible events gives no reading (None):
what happens then is the no-data policy's call (`alerting.state`), never a NaN.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from prodloop.config import BurnRateWindow, Config, Slo, ThresholdAlert
from prodloop.durations import format_duration, parse_duration
from prodloop.slo.budget import burn_rate, tally
from prodloop.slo.indicators import alert_indicator
from prodloop.telemetry.rollups import Aggregate

RuleKind = Literal["threshold", "burn_rate"]
BURN_RATE_KINDS = ("ratio", "latency", "rate")

_WORDS = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True, slots=True)
class Reading:
    """What a rule reads at one moment. `is_true` None: too little traffic to decide."""

    value: float | None  # threshold: the indicator; burn rate: the long window's burn rate
    is_true: bool | None
    short_value: float | None = None  # burn rate over the short window


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert rule for one service and SLO."""

    alertname: str
    kind: RuleKind
    service: str
    slo: Slo
    severity: str  # page | ticket
    labels: dict[str, str]
    fingerprint: str
    threshold: float  # threshold: in the indicator's unit; burn rate: the factor
    window_s: float  # threshold: the measuring window; burn rate: the long window
    short_window_s: float | None  # burn rate only
    for_s: float
    keep_firing_for_s: float
    runbook_url: str | None
    dashboard_url: str

    @property
    def windows_s(self) -> tuple[float, ...]:
        """The window lengths the rule reads: (window,) or (long, short)."""
        if self.short_window_s is None:
            return (self.window_s,)
        return (self.window_s, self.short_window_s)

    def read(self, windows: Mapping[float, Aggregate], min_requests: int) -> Reading:
        """The rule's value and condition from the aggregates of its windows (by length)."""
        if self.kind == "threshold":
            value = _guarded(self.slo, windows[self.window_s], min_requests, alert_indicator)
            return Reading(value, None if value is None else value > self.threshold)
        assert self.short_window_s is not None
        long = _guarded(self.slo, windows[self.window_s], min_requests, _burn)
        short = _guarded(self.slo, windows[self.short_window_s], min_requests, _burn)
        if long is None or short is None:
            return Reading(long, None, short)
        return Reading(long, long > self.threshold and short > self.threshold, short)

    def summary(self, value: float | None) -> str:
        """One line for people: what is wrong, how much, against what."""
        head = f"{self.service} {self.slo.name}"
        window = format_duration(self.window_s)
        if self.kind == "burn_rate":
            assert self.short_window_s is not None
            short = format_duration(self.short_window_s)
            burn = "no data" if value is None else f"{value:.1f}×"
            return (
                f"{head}: error budget burning {burn} over {window} and {short} "
                f"({self.severity} above {self.threshold:.1f}×)"
            )
        shown = "no data" if value is None else format_value(self.slo, value)
        return (
            f"{head}: {self.slo.indicator_words} {shown} over {window} "
            f"(threshold {format_value(self.slo, self.threshold)})"
        )


def _burn(slo: Slo, aggregate: Aggregate) -> float | None:
    return burn_rate(slo, tally(slo, aggregate))


def _guarded(
    slo: Slo,
    aggregate: Aggregate,
    min_requests: int,
    read: Callable[[Slo, Aggregate], float | None],
) -> float | None:
    """`read(slo, aggregate)` when the window has enough eligible events, else None."""
    if tally(slo, aggregate).eligible < max(min_requests, 1):
        return None
    return read(slo, aggregate)


def format_value(slo: Slo, value: float) -> str:
    """A value in the unit of the SLO's alert indicator: 5.20%, 2.63s, 850ms, $0.0031."""
    if slo.kind == "latency":
        return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"
    if slo.kind == "average":
        return f"${value:.4f}"
    return f"{value * 100:.2f}%"


def camel(name: str) -> str:
    """An SLO name as part of an alert name: "error-rate" → "ErrorRate"."""
    words = "".join(word[:1].upper() + word[1:] for word in _WORDS.findall(name))
    return words if words[:1].isalpha() else f"Slo{words}"


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity for an alert: a hash of its sorted labels."""
    encoded = json.dumps(dict(sorted(labels.items())), separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]


def runbook_url(config: Config, slo: Slo) -> str | None:
    """The SLO's runbook link, made absolute with alerts.runbook_base_url when relative."""
    if slo.runbook is None:
        return None
    base = config.alerts.runbook_base_url
    if base is None or "://" in slo.runbook:
        return slo.runbook
    return f"{base.rstrip('/')}/{slo.runbook.lstrip('/')}"


def dashboard_url(config: Config, service: str, slo: Slo) -> str:
    """The dashboard link sent with an alert, pointed at the service and SLO."""
    base = config.alerts.dashboard_url
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode({'service': service, 'slo': slo.name})}"


def _threshold_rule(config: Config, service: str, slo: Slo, alert: ThresholdAlert) -> AlertRule:
    name = f"{camel(slo.name)}AboveThreshold"
    labels = {
        "alertname": name,
        "service": service,
        "slo": slo.name,
        "severity": alert.severity,
        "kind": "threshold",
        "window": alert.window,
    }
    return AlertRule(
        alertname=name,
        kind="threshold",
        service=service,
        slo=slo,
        severity=alert.severity,
        labels=labels,
        fingerprint=fingerprint(labels),
        threshold=alert.above,
        window_s=parse_duration(alert.window),
        short_window_s=None,
        for_s=parse_duration(alert.for_),
        keep_firing_for_s=parse_duration(alert.keep_firing_for),
        runbook_url=runbook_url(config, slo),
        dashboard_url=dashboard_url(config, service, slo),
    )


def _burn_rate_rule(config: Config, service: str, slo: Slo, window: BurnRateWindow) -> AlertRule:
    name = f"{camel(slo.name)}BudgetBurn"
    labels = {
        "alertname": name,
        "service": service,
        "slo": slo.name,
        "severity": window.severity,
        "kind": "burn_rate",
        "window": window.long,
        "short_window": window.short,
    }
    return AlertRule(
        alertname=name,
        kind="burn_rate",
        service=service,
        slo=slo,
        severity=window.severity,
        labels=labels,
        fingerprint=fingerprint(labels),
        threshold=window.factor(config.slos.window_days),
        window_s=parse_duration(window.long),
        short_window_s=parse_duration(window.short),
        for_s=0.0,
        keep_firing_for_s=0.0,
        runbook_url=runbook_url(config, slo),
        dashboard_url=dashboard_url(config, service, slo),
    )


def rules_for(config: Config, service: str, slo: Slo) -> list[AlertRule]:
    """The rules guarding one SLO of one service: its threshold rule, then burn-rate rules."""
    rules = []
    if slo.alert is not None:
        rules.append(_threshold_rule(config, service, slo, slo.alert))
    if slo.burn_rate_alerts and slo.kind in BURN_RATE_KINDS:
        rules.extend(
            _burn_rate_rule(config, service, slo, window)
            for window in config.alerts.burn_rate_windows
        )
    return rules


def alert_rules(config: Config, services: Iterable[str] | None = None) -> list[AlertRule]:
    """Every rule for every service (default: the configured ones) and applicable SLO."""
    names = sorted(set(config.services if services is None else services))
    return [
        rule
        for service in names
        for slo in config.slos.objectives
        if slo.applies_to(service)
        for rule in rules_for(config, service, slo)
    ]


def rule_windows(config: Config) -> set[float]:
    """Every window length (seconds) any rule of the config reads."""
    lengths: set[float] = set()
    for slo in config.slos.objectives:
        for rule in rules_for(config, "", slo):
            lengths.update(rule.windows_s)
    return lengths
