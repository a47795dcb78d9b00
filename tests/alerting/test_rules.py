"""The rule set the config implies, and what each rule reads from its windows."""

from __future__ import annotations

import pytest

from prodloop.alerting.rules import AlertRule, alert_rules, camel, fingerprint, rule_windows
from prodloop.config import parse_config
from prodloop.telemetry.rollups import Aggregate
from tests.slo.traffic import config_text, minute_aggregate


def _by_name(rules: list[AlertRule]) -> dict[tuple[str, str], AlertRule]:
    return {(rule.alertname, rule.labels.get("window", "")): rule for rule in rules}


def test_the_guides_rules_for_one_service() -> None:
    config = parse_config(config_text("sqlite://"), environ={})
    rules = alert_rules(config)

    # 3 threshold rules (latency, errors, cost) + 4 burn-rate rules for each of the three
    # SLOs that count good and bad requests (not the cost average)
    assert len(rules) == 3 + 3 * 4
    by_name = _by_name(rules)
    latency = by_name[("LatencyP95AboveThreshold", "5m")]
    assert (latency.threshold, latency.window_s, latency.for_s) == (2500, 300, 300)
    assert latency.labels == {
        "alertname": "LatencyP95AboveThreshold",
        "service": "chat",
        "slo": "latency-p95",
        "severity": "page",
        "kind": "threshold",
        "window": "5m",
    }
    cost = by_name[("CostPerRequestAboveThreshold", "1h")]
    assert (cost.threshold, cost.window_s, cost.for_s) == (0.003, 3600, 0)
    factors = {
        rule.labels["window"]: (rule.threshold, rule.labels["short_window"], rule.severity)
        for rule in rules
        if rule.alertname == "ErrorRateBudgetBurn"
    }
    assert factors == {
        "1h": (pytest.approx(14.4), "5m", "page"),
        "6h": (pytest.approx(6.0), "30m", "page"),
        "1d": (pytest.approx(3.0), "2h", "ticket"),
        "3d": (pytest.approx(1.0), "6h", "ticket"),
    }
    assert not any(rule.alertname.startswith("CostPerRequestBudget") for rule in rules)


def test_burn_rate_factors_scale_with_the_slo_window() -> None:
    config = parse_config(config_text("sqlite://", "slos:\n  window_days: 28\n"), environ={})
    page = _by_name(alert_rules(config))[("SuccessRateBudgetBurn", "1h")]
    assert page.threshold == pytest.approx(0.02 * 28 * 24)  # 13.44×


def test_rules_cover_every_service_an_slo_applies_to() -> None:
    config = parse_config(
        config_text(
            "sqlite://",
            "slos:\n  objectives:\n"
            "    - {name: errors, kind: ratio, objective: 0.99, services: [chat],"
            " alert: {above: 0.05}}\n"
            "    - {name: guardrails, kind: rate, target: 0.1, burn_rate_alerts: false,"
            " alert: {above: 0.2, window: 10m, for: 0s}}\n",
        ),
        environ={},
    )
    rules = alert_rules(config, ["chat", "search"])
    assert sorted({(r.service, r.alertname) for r in rules}) == [
        ("chat", "ErrorsAboveThreshold"),
        ("chat", "ErrorsBudgetBurn"),
        ("chat", "GuardrailsAboveThreshold"),
        ("search", "GuardrailsAboveThreshold"),
    ]
    assert rule_windows(config) == {300, 600, 3600, 6 * 3600, 86400, 3 * 86400, 1800, 7200}


def test_fingerprints_are_stable_and_distinct() -> None:
    config = parse_config(config_text("sqlite://"), environ={})
    first = [rule.fingerprint for rule in alert_rules(config, ["chat", "search"])]
    again = [rule.fingerprint for rule in alert_rules(config, ["search", "chat"])]
    assert first == again
    assert len(set(first)) == len(first)
    assert fingerprint({"b": "2", "a": "1"}) == fingerprint({"a": "1", "b": "2"})
    assert len(first[0]) == 16


def test_links_runbooks_and_alert_names() -> None:
    config = parse_config(
        config_text(
            "sqlite://",
            "alerts:\n  runbook_base_url: https://git.example.com/app/blob/main/\n"
            "  dashboard_url: https://prodloop.example.com/slos?team=ai\n",
        ),
        environ={},
    )
    rule = _by_name(alert_rules(config))[("ErrorRateAboveThreshold", "5m")]
    assert rule.runbook_url == "https://git.example.com/app/blob/main/ops/runbooks/rollback.md"
    assert rule.dashboard_url == (
        "https://prodloop.example.com/slos?team=ai&service=chat&slo=error-rate"
    )
    assert camel("latency-p95") == "LatencyP95"
    assert camel("99th percentile") == "Slo99thPercentile"


def _window(per_minute: int, errors: int = 0, slow: int = 0) -> Aggregate:
    return minute_aggregate(per_minute, errors=errors, slow=slow)


def test_threshold_rules_read_their_indicator() -> None:
    config = parse_config(config_text("sqlite://"), environ={})
    rules = _by_name(alert_rules(config))
    errors = rules[("ErrorRateAboveThreshold", "5m")]
    reading = errors.read({300: _window(100, errors=4)}, min_requests=10)
    assert (reading.value, reading.is_true) == (0.04, True)
    assert errors.read({300: _window(100, errors=3)}, 10).is_true is False  # 3 % is not above
    latency = rules[("LatencyP95AboveThreshold", "5m")]
    slow = latency.read({300: _window(100, slow=6)}, 10)
    assert slow.is_true and slow.value == pytest.approx(3000, rel=0.01)
    assert latency.read({300: _window(100, slow=5)}, 10).is_true is False  # p95 is the 95th
    cost = rules[("CostPerRequestAboveThreshold", "1h")]
    assert cost.read({3600: _window(100)}, 10).value == pytest.approx(0.001)


def test_burn_rate_rules_need_both_windows() -> None:
    config = parse_config(config_text("sqlite://"), environ={})
    page = _by_name(alert_rules(config))[("SuccessRateBudgetBurn", "1h")]
    hot, cold = _window(1000, errors=80), _window(1000, errors=10)
    both = page.read({3600: hot, 300: hot}, 10)
    assert both.is_true and both.value == pytest.approx(16.0)  # 8 % ÷ 0.5 %
    assert page.read({3600: hot, 300: cold}, 10).is_true is False  # recovered: short is cold
    assert page.read({3600: cold, 300: hot}, 10).is_true is False  # a spike: long is cold


def test_too_little_traffic_gives_no_reading_never_nan() -> None:
    config = parse_config(config_text("sqlite://"), environ={})
    rules = _by_name(alert_rules(config))
    errors = rules[("ErrorRateAboveThreshold", "5m")]
    assert errors.read({300: Aggregate()}, 0).value is None  # zero traffic, even with no guard
    few = errors.read({300: _window(9, errors=9)}, 10)
    assert (few.value, few.is_true) == (None, None)
    page = rules[("ErrorRateBudgetBurn", "1h")]
    short_empty = page.read({3600: _window(1000, errors=500), 300: Aggregate()}, 10)
    assert short_empty.is_true is None and short_empty.value == pytest.approx(50.0)
    assert "no data" in errors.summary(None)
