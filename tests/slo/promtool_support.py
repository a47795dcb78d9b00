"""Synthetic traffic fed to both `promtool test rules` and prodloop's own evaluator.

A scenario is a list of RequestEvents in scenario seconds (0 = the start). Prometheus sees
it the way it would scrape prodloop: the events are replayed through prodloop's own
`Metrics` and every series is read every `step_s`, so the series names, labels and bucket
bounds are exactly those of `/metrics`. prodloop's evaluator sees the same events, shifted
to `T0`, written with `write_events`.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.utils import floatToGoString

from prodloop.config import Config
from prodloop.slo.export import prometheus_rules
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.metrics import Metrics, slo_latency_bounds_s

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: scenario second 0 for prodloop's evaluator
ROUTE = "/v1/chat/completions"
MODEL = "gpt-4o-mini"

# A firing alert as both sides report it: its name and its labels.
FiringAlert = tuple[str, frozenset[tuple[str, str]]]


def requests(
    start_s: float,
    end_s: float,
    per_minute: int,
    *,
    error_share: float = 0.0,
    error_class: str = "upstream_5xx",
    slow_share: float = 0.0,
    latency_ms: float = 300.0,
    slow_ms: float = 4000.0,
    service: str = "chat",
) -> list[RequestEvent]:
    """Requests evenly spaced over [start_s, end_s), with shares of errors and slow ones.

    Errors and slow requests are spread evenly too (every 1/share-th request), so any
    window holds the share up to one request. No request falls on a whole second, so
    none sits on a scrape or evaluation boundary.
    """
    gap = 60.0 / per_minute
    count = round((end_s - start_s) / gap)
    events = []
    for i in range(count):
        is_error = math.floor((i + 1) * error_share) > math.floor(i * error_share)
        is_slow = math.floor((i + 1) * slow_share) > math.floor(i * slow_share)
        events.append(
            RequestEvent(
                ts=start_s + (i + 0.5) * gap,
                service=service,
                version="v1",
                route=ROUTE,
                status=502 if is_error else 200,
                latency_ms=slow_ms if is_slow else latency_ms,
                model=MODEL,
                error_class=error_class if is_error else None,
                input_tokens=200,
                output_tokens=50,
                cost_usd=0.001,
            )
        )
    return events


def scraped_series(
    events: Sequence[RequestEvent], end_s: float, step_s: float, config: Config
) -> dict[str, list[float]]:
    """Every series prodloop exposes, read every `step_s` from 0 to `end_s` (inclusive).

    The scenario starts with prodloop already running, so every series it ever shows is
    at zero in the scrapes before its first request.
    """
    metrics = Metrics(extra_duration_buckets_s=slo_latency_bounds_s(config.slos))
    ordered = sorted(events, key=lambda event: event.ts)
    series: dict[str, list[float]] = {}
    steps = round(end_s / step_s) + 1
    position = 0
    for index in range(steps):
        now = index * step_s
        while position < len(ordered) and ordered[position].ts < now:
            metrics.observe(ordered[position])
            position += 1
        for family in metrics.registry.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = _series_text(sample.name, sample.labels)
                values = series.get(key)
                if values is None:
                    values = series[key] = [0.0] * index
                values.append(float(sample.value))
    return series


def _series_text(name: str, labels: Mapping[str, str]) -> str:
    inner = ",".join(
        f'{key}="{value}"'.replace("\\", "\\\\") for key, value in sorted(labels.items())
    )
    return f"{name}{{{inner}}}" if inner else name


def promtool_values(values: Sequence[float]) -> str:
    """Values in promtool's notation, runs of whole numbers growing evenly as ``a+bxn``."""
    tokens: list[str] = []
    i = 0
    while i < len(values):
        start = values[i]
        j = i
        if start == int(start) and i + 1 < len(values):
            step = values[i + 1] - start
            if step == int(step) and step >= 0:
                while j + 1 < len(values) and values[j + 1] - values[j] == step:
                    j += 1
        if j > i:
            tokens.append(f"{_number(start)}+{_number(step)}x{j - i}")
        else:
            tokens.append(_number(start))
        i = j + 1
    return " ".join(tokens)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def input_series(series: Mapping[str, Sequence[float]]) -> list[dict[str, str]]:
    return [{"series": name, "values": promtool_values(values)} for name, values in series.items()]


def rules_without_annotations(config: Config) -> dict[str, Any]:
    """The exported rules with their annotations left out.

    promtool compares annotations too, and they quote each alert's value; what these
    tests check is when alerts fire and with which labels.
    """
    rules = prometheus_rules(config)
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return rules


def duration_text(seconds: float) -> str:
    seconds = int(seconds)
    if seconds % 60:
        return f"{seconds}s"
    return f"{seconds // 60}m"


@dataclass(frozen=True)
class Expectation:
    """At `at_s`, exactly these alerts named `alertname` are firing (each as its labels)."""

    at_s: float
    alertname: str
    firing: tuple[Mapping[str, str], ...] = ()


def write_test_file(
    folder: Path,
    rules: Mapping[str, Any],
    series: Mapping[str, Sequence[float]],
    step_s: float,
    expectations: Iterable[Expectation],
    *,
    promql: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """A rule file and a `promtool test rules` file over `series`; the test file's path."""
    rule_file = folder / "rules.yml"
    rule_file.write_text(yaml.safe_dump(dict(rules), sort_keys=False))
    test: dict[str, Any] = {
        "interval": duration_text(step_s),
        "input_series": input_series(series),
        "alert_rule_test": [
            {
                "eval_time": duration_text(expectation.at_s),
                "alertname": expectation.alertname,
                "exp_alerts": [
                    {"exp_labels": {k: v for k, v in labels.items() if k != "alertname"}}
                    for labels in expectation.firing
                ],
            }
            for expectation in expectations
        ],
    }
    if promql:
        test["promql_expr_test"] = list(promql)
    path = folder / "test.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "rule_files": [rule_file.name],
                "evaluation_interval": duration_text(step_s),
                "tests": [test],
            },
            sort_keys=False,
            width=1_000_000,
        )
    )
    return path


def run_promtool_test(promtool: str, test_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "test", "rules", test_file.name],
        cwd=test_file.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )


def le(seconds: float) -> str:
    return str(floatToGoString(seconds))
