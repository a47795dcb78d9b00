"""A Grafana dashboard over prodloop's metrics and the exported SLO rules.

The dashboard imports as is: it has no fixed data source (a ``datasource`` variable picks
any Prometheus one) and a ``service`` variable filled from the metrics. Latency, errors,
cost and guardrail panels query the raw metrics; the budget and burn-rate panels read the
series the exported rules record (`prodloop slo export --format prometheus`), and each
SLO threshold is drawn on its panel as a dashed line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from prodloop.config import Config, Slo
from prodloop.slo.export.prometheus import BUDGET_REMAINING, burn_rate_record
from prodloop.slo.export.promql import (
    COST,
    COST_UNKNOWN,
    ERRORS,
    GUARDRAIL_REQUESTS,
    GUARDRAIL_TRIGGERS,
    REQUESTS,
    any_of,
    latency_quantile,
    prom_duration,
)
from prodloop.slo.windows import BURN_RATE_WINDOWS
from prodloop.telemetry.events import SERVER_ERRORS

SCHEMA_VERSION = 39
UID = "prodloop-slos"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SERVICE = 'service=~"$service"'
RATE = "$__rate_interval"
WIDTH = 24  # Grafana's grid is 24 columns wide

Panel = dict[str, Any]


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend,
        "range": True,
        "editorMode": "code",
    }


def _thresholds(
    lines: Sequence[float], *, base: str = "green", above: str = "red"
) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": base, "value": None}]
    steps.extend({"color": above, "value": value} for value in sorted(set(lines)))
    return {"mode": "absolute", "steps": steps}


def _timeseries(
    title: str,
    description: str,
    targets: Sequence[tuple[str, str]],
    *,
    unit: str,
    lines: Sequence[float] = (),
    minimum: float | None = 0,
) -> Panel:
    """A time series panel; `lines` are thresholds drawn as dashed lines."""
    defaults: dict[str, Any] = {
        "unit": unit,
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "thresholdsStyle": {"mode": "dashed" if lines else "off"},
        },
        "color": {"mode": "palette-classic"},
        "thresholds": _thresholds(lines),
    }
    if minimum is not None:
        defaults["min"] = minimum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            _target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)
        ],
    }


def _budget_stat(config: Config) -> Panel:
    return {
        "type": "stat",
        "title": f"Error budget remaining ({config.slos.window_days} days)",
        "description": (
            "Share of each SLO's error budget left over its rolling window: 100 % untouched, "
            "0 % spent, below 0 overspent. Recorded by the exported Prometheus rules."
        ),
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {
                "unit": "percentunit",
                "decimals": 1,
                "color": {"mode": "thresholds"},
                "thresholds": {
                    "mode": "absolute",
                    "steps": [
                        {"color": "red", "value": None},
                        {"color": "orange", "value": 0},
                        {"color": "green", "value": 0.25},
                    ],
                },
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
            "justifyMode": "auto",
            "orientation": "auto",
        },
        "targets": [_target(f"{BUDGET_REMAINING}{{{SERVICE}}}", "{{service}} {{slo}}", "A")],
    }


def _slos(config: Config, *kinds: str) -> list[Slo]:
    return [slo for slo in config.slos.objectives if slo.kind in kinds]


def _per_request(numerator: str, denominator: str) -> str:
    return f"{numerator}\n/\n{denominator}"


def _sum_rate(metric: str, matchers: str = SERVICE, by: str = "service") -> str:
    return f"sum by ({by}) (rate({metric}{{{matchers}}}[{RATE}]))"


def dashboard_panels(config: Config) -> list[Panel]:
    """The panels, top to bottom, without their positions."""
    latency_lines = [
        slo.threshold_ms / 1000.0 for slo in _slos(config, "latency") if slo.threshold_ms
    ]
    error_lines = [
        1.0 - slo.objective
        for slo in _slos(config, "ratio")
        if slo.bad == "errors" and slo.objective is not None
    ]
    cost_lines = [slo.target for slo in _slos(config, "average") if slo.target is not None]
    guardrail_lines = [slo.target for slo in _slos(config, "rate") if slo.target is not None]
    page_factors = [
        window.factor(config.slos.window_days)
        for window in config.alerts.burn_rate_windows
        if window.severity == "page"
    ]
    server_errors = f"{SERVICE}, error_class=~{any_of(sorted(SERVER_ERRORS))}"
    known_cost = f"({_sum_rate(REQUESTS)} - {_sum_rate(COST_UNKNOWN)})"
    burn_windows = [prom_duration(seconds) for _, seconds in BURN_RATE_WINDOWS]
    return [
        _budget_stat(config),
        _timeseries(
            "Latency p50 / p95",
            "GenAI operation duration at the 50th and 95th percentiles, from the histogram.",
            [
                (latency_quantile(0.5, RATE, extra=(SERVICE,)), "{{service}} p50"),
                (latency_quantile(0.95, RATE, extra=(SERVICE,)), "{{service}} p95"),
            ],
            unit="s",
            lines=latency_lines,
        ),
        _timeseries(
            "Error rate",
            "Share of requests that failed on the server side (5xx, unreachable upstream, "
            "timeouts, injected faults, prodloop's own errors).",
            [(_per_request(_sum_rate(ERRORS, server_errors), _sum_rate(REQUESTS)), "{{service}}")],
            unit="percentunit",
            lines=error_lines,
        ),
        _timeseries(
            "Token cost per request",
            "Average token cost (USD) of the requests whose model has a known price.",
            [(_per_request(_sum_rate(COST), known_cost), "{{service}}")],
            unit="currencyUSD",
            lines=cost_lines,
        ),
        _timeseries(
            "Guardrail triggers",
            "Share of requests a guardrail triggered on, and triggers per second by guardrail.",
            [
                (
                    _per_request(_sum_rate(GUARDRAIL_REQUESTS), _sum_rate(REQUESTS)),
                    "{{service}} share of requests",
                ),
                (
                    _sum_rate(GUARDRAIL_TRIGGERS, by="service, guardrail"),
                    "{{service}} {{guardrail}} /s",
                ),
            ],
            unit="short",
            lines=guardrail_lines,
        ),
        _timeseries(
            "Requests",
            "Requests per second, whatever their outcome.",
            [(_sum_rate(REQUESTS), "{{service}} req/s")],
            unit="reqps",
        ),
        _timeseries(
            "Error budget remaining",
            "Each SLO's budget left over its window, over time (recorded every 5 minutes).",
            [(f"{BUDGET_REMAINING}{{{SERVICE}}}", "{{service}} {{slo}}")],
            unit="percentunit",
            lines=[0.0],
            minimum=None,
        ),
        _timeseries(
            "Burn rates",
            "How fast each SLO spends its budget (1 = exactly on budget) over "
            + ", ".join(burn_windows)
            + "; the dashed lines are the paging factors.",
            [
                (
                    f"{burn_rate_record(window)}{{{SERVICE}}}",
                    f"{{{{service}}}} {{{{slo}}}} {window}",
                )
                for window in burn_windows
            ],
            unit="short",
            lines=page_factors,
        ),
        _timeseries(
            "Alerts firing",
            "prodloop's SLO alerts firing in Prometheus, by name and severity.",
            [
                (
                    f'count by (alertname, severity) (ALERTS{{alertstate="firing", {SERVICE}}})',
                    "{{alertname}} ({{severity}})",
                )
            ],
            unit="short",
        ),
    ]


def _place(panels: list[Panel]) -> list[Panel]:
    """Ids and positions: the budget stat across the top, then two panels a row."""
    placed = []
    y = 0
    column = 0
    for index, panel in enumerate(panels, start=1):
        full = panel["type"] == "stat"
        width, height = (WIDTH, 5) if full else (WIDTH // 2, 8)
        if full or column + width > WIDTH:
            if column:
                y += 8
            column = 0
        panel = {"id": index, "gridPos": {"h": height, "w": width, "x": column, "y": y}, **panel}
        placed.append(panel)
        column += width
        if full or column >= WIDTH:
            y += height
            column = 0
    return placed


def _templating() -> dict[str, Any]:
    services = "label_values(prodloop_requests_total, service)"
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "refresh": 1,
                "regex": "",
                "options": [],
                "includeAll": False,
                "multi": False,
            },
            {
                "name": "service",
                "label": "Service",
                "type": "query",
                "datasource": DATASOURCE,
                "definition": services,
                "query": {
                    "query": services,
                    "refId": "PrometheusVariableQueryEditor-VariableQuery",
                },
                "current": {},
                "hide": 0,
                "refresh": 2,
                "regex": "",
                "sort": 1,
                "options": [],
                "includeAll": True,
                "allValue": ".*",
                "multi": True,
            },
        ]
    }


def grafana_dashboard(config: Config) -> dict[str, Any]:
    """The dashboard model, as Grafana's "Import dashboard" takes it."""
    return {
        "id": None,
        "uid": UID,
        "title": "prodloop SLOs",
        "description": "Latency, errors, token cost, guardrails, error budgets and burn rates.",
        "tags": ["prodloop", "slo", "llm"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": _templating(),
        "panels": _place(dashboard_panels(config)),
    }


def render_grafana_dashboard(config: Config) -> str:
    """The dashboard as JSON text."""
    return json.dumps(grafana_dashboard(config), indent=2, ensure_ascii=False) + "\n"
