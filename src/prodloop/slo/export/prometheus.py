"""Prometheus recording and alerting rules equivalent to prodloop's own evaluator.

The alerts are translated from the evaluator's rules (`prodloop.alerting.rules`), so they
carry the same names, labels, thresholds, `for` and `keep_firing_for`; what each one reads
is recorded per SLO and window first. One group per SLO holds its recordings and then its
alerts, so an alert always reads the recordings of the same evaluation (groups run
concurrently, and an alert reading another group's recording would lag it by up to one
interval). Two more groups record per-service SLIs for dashboards and, less often, each
SLO's budget over its whole window.

Semantics kept from the evaluator:

* a window with fewer than ``alerts.min_requests`` eligible events decides nothing, and
  the no-data policy applies: ``ok`` (the condition is false), ``alerting`` (true), or
  ``keep`` (a firing alert keeps firing; Prometheus cannot freeze a pending timer, so a
  pending alert resets);
* burn rate = bad share ÷ (1 − objective), compared with the window's factor
  (``BurnRateWindow.factor``) over the long and the short window;
* latency SLOs count a request as bad when it is slower than ``threshold_ms``, read from
  the histogram bucket at that bound (`Metrics` adds every SLO threshold as a bucket).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote as url_quote

import yaml

from prodloop.alerting.rules import AlertRule, rules_for
from prodloop.config import Config, Slo
from prodloop.slo.budget import allowed_share
from prodloop.slo.export.promql import (
    COST,
    COST_UNKNOWN,
    GUARDRAIL_REQUESTS,
    REQUESTS,
    Series,
    latency_quantile,
    number,
    prom_duration,
    quote,
    service_matchers,
    sli_of,
)
from prodloop.slo.windows import BURN_RATE_WINDOWS
from prodloop.telemetry.rollups import DAY_S

Rule = dict[str, Any]
Group = dict[str, Any]

SLI_GROUP = "prodloop-slis"
BUDGET_GROUP = "prodloop-slo-budgets"
BUDGET_INTERVAL = "5m"


def errors_ratio_record(window: str) -> str:
    """Bad share of an SLO's eligible events over `window` (ratio, latency, rate SLOs)."""
    return f"prodloop:slo_errors:ratio_rate{window}"


def average_record(window: str) -> str:
    """An average SLO's average over `window` (cost per request, USD)."""
    return f"prodloop:slo_average:rate{window}"


def burn_rate_record(window: str) -> str:
    """Burn rate over `window`: bad share ÷ allowed share (1 spends the budget on time)."""
    return f"prodloop:slo_burn_rate:rate{window}"


def eligible_record(window: str) -> str:
    """Events an SLO counts in `window` (average: requests with a known cost)."""
    return f"prodloop:slo_eligible:increase{window}"


def latency_record(percentile: float, window: str) -> str:
    """A latency SLO's percentile (seconds) over `window`."""
    return f"prodloop:slo_latency_seconds:p{percentile:g}_rate{window}".replace(".", "_")


BUDGET_REMAINING = "prodloop:slo_error_budget:remaining"


def indicator_record(slo: Slo, window: str) -> str:
    """The recording a threshold alert of `slo` compares with its `above`."""
    if slo.kind == "latency":
        return latency_record(slo.percentile, window)
    if slo.kind == "average":
        return average_record(window)
    return errors_ratio_record(window)


def _allowed(slo: Slo) -> str:
    # Written as prodloop computes it, so Prometheus divides by the very same double.
    if slo.kind == "average":
        return number(allowed_share(slo))
    assert slo.good_objective is not None
    return f"(1 - {number(slo.good_objective)})"


def slo_windows(config: Config, slo: Slo) -> list[float]:
    """Every window (seconds) recorded for an SLO: its alerts' and `slo status`' burn rates."""
    lengths = {length for rule in rules_for(config, "", slo) for length in rule.windows_s}
    lengths.update(seconds for _, seconds in BURN_RATE_WINDOWS)
    return sorted(lengths)


def _on(selector: str, slo: Slo) -> str:
    return f"{selector}{{slo={quote(slo.name)}}}"


def _slo_recordings(config: Config, slo: Slo) -> list[Rule]:
    sli = sli_of(slo)
    labels = {"slo": slo.name}
    rules: list[Rule] = []
    latency_windows = {
        rule.window_s for rule in rules_for(config, "", slo) if rule.kind == "threshold"
    }
    for seconds in slo_windows(config, slo):
        window = prom_duration(seconds)
        share = average_record(window) if slo.kind == "average" else errors_ratio_record(window)
        rules.append({"record": share, "expr": sli.ratio(window), "labels": labels})
        rules.append(
            {
                "record": burn_rate_record(window),
                "expr": f"{_on(share, slo)} / {_allowed(slo)}",
                "labels": labels,
            }
        )
        rules.append(
            {
                "record": eligible_record(window),
                "expr": sli.eligible_increase(window),
                "labels": labels,
            }
        )
        if slo.kind == "latency" and seconds in latency_windows:
            quantile = latency_quantile(slo.percentile / 100.0, window, extra=service_matchers(slo))
            rules.append(
                {
                    "record": latency_record(slo.percentile, window),
                    "expr": quantile,
                    "labels": labels,
                }
            )
    return rules


def _enough(slo: Slo, window: str, min_requests: int) -> str:
    # The evaluator decides nothing below max(min_requests, 1) eligible events.
    return f"{_on(eligible_record(window), slo)} >= {max(min_requests, 1)}"


def _too_few(slo: Slo, window: str, min_requests: int) -> str:
    return f"{_on(eligible_record(window), slo)} < {max(min_requests, 1)}"


def alert_expr(config: Config, rule: AlertRule) -> str:
    """The PromQL condition of one of the evaluator's rules, for every service at once."""
    slo = rule.slo
    min_requests = config.alerts.min_requests
    windows = [prom_duration(seconds) for seconds in rule.windows_s]
    if rule.kind == "threshold":
        threshold = rule.threshold / 1000.0 if slo.kind == "latency" else rule.threshold
        conditions = [f"{_on(indicator_record(slo, windows[0]), slo)} > {number(threshold)}"]
    else:
        conditions = [
            f"{_on(burn_rate_record(window), slo)} > {number(rule.threshold)}" for window in windows
        ]
    conditions.extend(_enough(slo, window, min_requests) for window in windows)
    expr = "\nand on (service, slo)\n".join(conditions)
    policy = config.alerts.no_data
    if policy == "ok":
        return expr
    too_few = " or ".join(f"({_too_few(slo, window, min_requests)})" for window in windows)
    if policy == "alerting":
        # A configured service without any series yet has no traffic at all either.
        absent = [
            f"absent({eligible_record(windows[0])}"
            f"{{slo={quote(slo.name)}, service={quote(service)}}})"
            for service in sorted(config.services)
            if slo.applies_to(service)
        ]
        missing = "".join(f"\nor\n{text}" for text in absent)
        return f"(\n{expr}\n)\nor on (service, slo)\n({too_few}){missing}"
    # keep: a firing alert keeps firing while its windows hold too little traffic.
    matchers = ", ".join(
        f"{name}={quote(value)}"
        for name, value in (("alertstate", "firing"), *_static_labels(rule).items())
    )
    matchers = f"alertname={quote(rule.alertname)}, {matchers}"
    kept = (
        f"max without (alertname, alertstate) (ALERTS{{{matchers}}})\n"
        f"and on (service, slo)\n({too_few})"
    )
    return f"(\n{expr}\n)\nor on (service, slo)\n(\n{kept}\n)"


def _static_labels(rule: AlertRule) -> dict[str, str]:
    """The rule's labels but the ones the expression or Prometheus itself supplies."""
    return {k: v for k, v in rule.labels.items() if k not in ("alertname", "service")}


def _value_template(slo: Slo, kind: str) -> str:
    if kind == "burn_rate":
        return '{{ printf "%.1f" $value }}×'
    if slo.kind == "latency":
        return "{{ $value | humanizeDuration }}"
    if slo.kind == "average":
        return '${{ printf "%.4f" $value }}'
    return "{{ $value | humanizePercentage }}"


def _summary(rule: AlertRule) -> str:
    slo = rule.slo
    head = f"{{{{ $labels.service }}}} {slo.name}"
    value = _value_template(slo, rule.kind)
    window = prom_duration(rule.window_s)
    if rule.kind == "burn_rate":
        assert rule.short_window_s is not None
        short = prom_duration(rule.short_window_s)
        return (
            f"{head}: error budget burning {value} over {window} and {short} "
            f"({rule.severity} above {rule.threshold:.1f}×)"
        )
    return (
        f"{head}: {slo.indicator_words} {value} over {window} "
        f"(threshold {_threshold_words(slo, rule.threshold)})"
    )


def _threshold_words(slo: Slo, threshold: float) -> str:
    if slo.kind == "latency":
        return f"{threshold / 1000:g}s"
    if slo.kind == "average":
        return f"${threshold:g}"
    return f"{threshold * 100:g}%"


def _dashboard(config: Config, slo: Slo) -> str:
    # As alerting.rules.dashboard_url builds it, with the service filled in per alert.
    base = config.alerts.dashboard_url
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}service={{{{ $labels.service | urlquery }}}}&slo={url_quote(slo.name)}"


def alerting_rule(config: Config, rule: AlertRule) -> Rule:
    """One Prometheus alerting rule for one of the evaluator's rules."""
    entry: Rule = {"alert": rule.alertname, "expr": alert_expr(config, rule)}
    if rule.for_s > 0:
        entry["for"] = prom_duration(rule.for_s)
    if rule.keep_firing_for_s > 0:
        entry["keep_firing_for"] = prom_duration(rule.keep_firing_for_s)
    entry["labels"] = _static_labels(rule)
    annotations = {"summary": _summary(rule), "dashboard": _dashboard(config, rule.slo)}
    if rule.slo.description:
        annotations["description"] = rule.slo.description
    if rule.runbook_url is not None:
        annotations["runbook_url"] = rule.runbook_url
    entry["annotations"] = annotations
    return entry


def slo_group(config: Config, slo: Slo) -> Group:
    """An SLO's recordings, then its alerts."""
    alerts = [alerting_rule(config, rule) for rule in rules_for(config, "", slo)]
    return {"name": f"prodloop-slo-{slo.name}", "rules": [*_slo_recordings(config, slo), *alerts]}


def sli_group() -> Group:
    """Per-service SLIs every dashboard wants, whatever the SLOs."""
    requests = Series(REQUESTS)
    known_cost = (
        f"sum by (service) (rate({REQUESTS}[1h])) - sum by (service) (rate({COST_UNKNOWN}[1h]))"
    )
    return {
        "name": SLI_GROUP,
        "rules": [
            {
                "record": "prodloop:requests:rate5m",
                "expr": f"sum by (service) (rate({requests.selector()}[5m]))",
            },
            {"record": "prodloop:latency_seconds:p50_rate5m", "expr": latency_quantile(0.5, "5m")},
            {"record": "prodloop:latency_seconds:p95_rate5m", "expr": latency_quantile(0.95, "5m")},
            {
                "record": "prodloop:cost_per_request_usd:avg_rate1h",
                "expr": f"sum by (service) (rate({COST}[1h]))\n/\n({known_cost})",
            },
            {
                "record": "prodloop:guardrail_requests:ratio_rate5m",
                "expr": (
                    f"sum by (service) (rate({GUARDRAIL_REQUESTS}[5m]))\n/\n"
                    f"sum by (service) (rate({REQUESTS}[5m]))"
                ),
            },
        ],
    }


def budget_group(config: Config) -> Group:
    """Each SLO's share and budget left over its whole window, recorded every 5 minutes."""
    days = config.slos.window_days
    window = prom_duration(days * DAY_S)
    rules: list[Rule] = []
    for slo in config.slos.objectives:
        labels = {"slo": slo.name}
        share = average_record(window) if slo.kind == "average" else errors_ratio_record(window)
        rules.append({"record": share, "expr": sli_of(slo).ratio(window), "labels": labels})
        rules.append(
            {
                "record": BUDGET_REMAINING,
                "expr": f"1 - {_on(share, slo)} / {_allowed(slo)}",
                "labels": labels,
            }
        )
    return {"name": BUDGET_GROUP, "interval": BUDGET_INTERVAL, "rules": rules}


def prometheus_rules(config: Config) -> dict[str, Any]:
    """The rule file (as data): SLIs, one group per SLO, and the budgets."""
    groups = [sli_group(), *(slo_group(config, slo) for slo in config.slos.objectives)]
    groups.append(budget_group(config))
    return {"groups": groups}


class _Literal(str):
    """A multi-line string YAML writes as a block, so expressions stay readable."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal)


def _blocks(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _blocks(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_blocks(value) for value in node]
    if isinstance(node, str) and "\n" in node:
        return _Literal(node)
    return node


HEADER = """\
# Prometheus rules for prodloop's SLOs, written by `prodloop slo export --format prometheus`.
# They read the metrics prodloop serves on /metrics and fire the alerts prodloop's own
# evaluator fires, with the same names and labels. Check them with `promtool check rules`.
"""


def render_prometheus_rules(config: Config) -> str:
    """The rule file as YAML text, ready for `rule_files`."""
    body = yaml.dump(
        _blocks(prometheus_rules(config)),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=4096,
    )
    return HEADER + body
