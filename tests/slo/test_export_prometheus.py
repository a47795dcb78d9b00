"""The exported Prometheus rules: promtool accepts them and they fire when they should."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from prodloop.alerting.rules import alert_rules
from prodloop.config import Config, parse_config
from prodloop.slo.export import prometheus_rules, render_prometheus_rules
from prodloop.telemetry.metrics import Metrics, duration_buckets_s, slo_latency_bounds_s
from tests.slo.promtool_support import (
    Expectation,
    requests,
    rules_without_annotations,
    run_promtool_test,
    scraped_series,
    write_test_file,
)
from tests.support import require_binary

SERVICES = """
services:
  chat:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
  search:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
"""

# Every SLO kind, a restricted SLO, an odd percentile and every alert option.
RICH = (
    SERVICES
    + """
alerts:
  min_requests: 5
  no_data: keep
  runbook_base_url: https://example.com/runbooks
slos:
  window_days: 28
  objectives:
    - {name: availability, kind: ratio, bad: failures, objective: 0.999}
    - name: slow "tail"
      kind: latency
      percentile: 99.9
      threshold_ms: 1500
      services: [search]
      alert: {above: 4000, window: 10m, for: 2m, keep_firing_for: 15m, severity: ticket}
      runbook: latency.md
    - name: guardrails
      kind: rate
      target: 0.05
      alert: {above: 0.2, window: 30m}
    - {name: cost, kind: average, target: 0.01, alert: {above: 0.02, window: 1h}}
"""
)


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool")


def chat_config(extra: str = "") -> Config:
    return parse_config(
        """
services:
  chat:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
"""
        + extra,
        environ={},
    )


def check_rules(promtool: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    return subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("extra", ["", SERVICES, RICH], ids=["defaults", "services", "rich"])
def test_promtool_accepts_the_rules(promtool: str, tmp_path: Path, extra: str) -> None:
    config = parse_config(extra, environ={})
    checked = check_rules(promtool, render_prometheus_rules(config), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    count = sum(len(group["rules"]) for group in prometheus_rules(config)["groups"])
    assert f"SUCCESS: {count} rules found" in checked.stdout


@pytest.mark.parametrize("policy", ["ok", "alerting", "keep"])
def test_every_no_data_policy_gives_valid_rules(promtool: str, tmp_path: Path, policy: str) -> None:
    config = parse_config(SERVICES + f"alerts: {{no_data: {policy}}}\n", environ={})
    checked = check_rules(promtool, render_prometheus_rules(config), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alerts_are_the_evaluators_rules_with_the_same_names_and_labels() -> None:
    config = parse_config(RICH, environ={})
    exported = [
        rule for group in prometheus_rules(config)["groups"] for rule in group["rules"]
        if "alert" in rule
    ]  # fmt: skip
    ours = {(rule["alert"], tuple(sorted(rule["labels"].items()))) for rule in exported}
    theirs = {
        (rule.alertname, tuple(sorted((k, v) for k, v in rule.labels.items() if k not in
                                      ("alertname", "service"))))
        for rule in alert_rules(config)
    }  # fmt: skip
    assert ours == theirs
    assert len(exported) == len(ours)
    slow = next(rule for rule in exported if rule["alert"] == "SlowTailAboveThreshold")
    assert slow["for"] == "2m"
    assert slow["keep_firing_for"] == "15m"
    assert slow["labels"]["severity"] == "ticket"
    assert slow["annotations"]["runbook_url"] == "https://example.com/runbooks/latency.md"
    assert 'service=~"search"' in yaml.safe_dump(prometheus_rules(config))
    burn = next(rule for rule in exported if rule["alert"] == "AvailabilityBudgetBurn")
    assert "for" not in burn
    # 28-day window: 2 % of the budget in 1 h is a burn of 13.44.
    assert 'prodloop:slo_burn_rate:rate1h{slo="availability"} > 13.44' in burn["expr"]


def test_rules_read_the_bucket_at_each_latency_threshold_and_metrics_expose_it() -> None:
    config = parse_config(RICH, environ={})
    text = render_prometheus_rules(config)
    used = {float(value) for value in re.findall(r'le="([0-9.e+-]+)"', text)}
    assert used == {1.5}
    # The threshold alert's 4 s is compared with a quantile: a boundary keeps it exact.
    assert slo_latency_bounds_s(config.slos) == (1.5, 4.0)
    buckets = duration_buckets_s(slo_latency_bounds_s(config.slos))
    assert {1.5, 4.0} <= set(buckets)
    exposed = Metrics(extra_duration_buckets_s=slo_latency_bounds_s(config.slos)).render()
    assert b"gen_ai_client_operation_duration_seconds" in exposed
    defaults = parse_config("", environ={})
    assert slo_latency_bounds_s(defaults.slos) == (2.0, 2.5)


def test_rendered_file_is_the_rule_data_with_a_header() -> None:
    config = chat_config()
    text = render_prometheus_rules(config)
    assert text.startswith("# Prometheus rules for prodloop's SLOs")
    assert yaml.safe_load(text) == prometheus_rules(config)
    names = [group["name"] for group in prometheus_rules(config)["groups"]]
    assert names == [
        "prodloop-slis",
        "prodloop-slo-latency-p95",
        "prodloop-slo-error-rate",
        "prodloop-slo-cost-per-request",
        "prodloop-slo-success-rate",
        "prodloop-slo-budgets",
    ]


def burn(severity: str, window: str, short: str, slo: str) -> dict[str, str]:
    return {
        "service": "chat", "slo": slo, "severity": severity, "kind": "burn_rate",
        "window": window, "short_window": short,
    }  # fmt: skip


def threshold(slo: str, window: str = "5m") -> dict[str, str]:
    return {"service": "chat", "slo": slo, "severity": "page", "kind": "threshold",
            "window": window}  # fmt: skip


SUCCESS_PAGE_1H = burn("page", "1h", "5m", "success-rate")
SUCCESS_PAGE_6H = burn("page", "6h", "30m", "success-rate")
SUCCESS_TICKET_1D = burn("ticket", "1d", "2h", "success-rate")
SUCCESS_TICKET_3D = burn("ticket", "3d", "6h", "success-rate")
ERRORS_PAGE_1H = burn("page", "1h", "5m", "error-rate")
ERRORS_PAGE_6H = burn("page", "6h", "30m", "error-rate")
ERRORS_TICKET_1D = burn("ticket", "1d", "2h", "error-rate")
ERRORS_TICKET_3D = burn("ticket", "3d", "6h", "error-rate")

MINUTE = 60.0
HEALTHY_S = 60 * MINUTE  # an hour of healthy traffic before each incident
PER_MINUTE = 30


def run_scenario(
    promtool: str, tmp_path: Path, events: list, end_s: float, expectations: list[Expectation]
) -> None:
    config = chat_config()
    series = scraped_series(events, end_s, MINUTE, config)
    test_file = write_test_file(
        tmp_path, rules_without_annotations(config), series, MINUTE, expectations
    )
    result = run_promtool_test(promtool, test_file)
    assert result.returncode == 0, result.stdout + result.stderr


def at(minute: float, alertname: str, *firing: dict[str, str]) -> Expectation:
    return Expectation(minute * MINUTE, alertname, firing)


def test_full_outage_pages_within_five_minutes(promtool: str, tmp_path: Path) -> None:
    events = requests(0, HEALTHY_S, PER_MINUTE) + requests(
        HEALTHY_S, HEALTHY_S + 30 * MINUTE, PER_MINUTE, error_share=1.0
    )
    # Minute 60 + k: the 1 h window holds k/60 errors, and the 6 h, 1 d and 3 d windows
    # (only 60 + k minutes of history) k/(60 + k).
    run_scenario(promtool, tmp_path, events, 90 * MINUTE, [
        at(60, "SuccessRateBudgetBurn"),
        at(61, "SuccessRateBudgetBurn", SUCCESS_TICKET_1D, SUCCESS_TICKET_3D),
        at(61, "ErrorRateBudgetBurn", ERRORS_TICKET_3D),
        at(62, "SuccessRateBudgetBurn", SUCCESS_PAGE_6H, SUCCESS_TICKET_1D, SUCCESS_TICKET_3D),
        at(64, "SuccessRateBudgetBurn", SUCCESS_PAGE_6H, SUCCESS_TICKET_1D, SUCCESS_TICKET_3D),
        at(64, "ErrorRateBudgetBurn", ERRORS_PAGE_6H, ERRORS_TICKET_1D, ERRORS_TICKET_3D),
        # 5/60 of an hour at 100 % errors is a burn of 16.7 > 14.4 on a 99.5 % SLO.
        at(65, "SuccessRateBudgetBurn", SUCCESS_PAGE_1H, SUCCESS_PAGE_6H, SUCCESS_TICKET_1D,
           SUCCESS_TICKET_3D),
        # Pending from minute 61, firing once it has held for 5 minutes.
        at(65, "ErrorRateAboveThreshold"),
        at(66, "ErrorRateAboveThreshold", threshold("error-rate")),
        at(68, "ErrorRateBudgetBurn", ERRORS_PAGE_6H, ERRORS_TICKET_1D, ERRORS_TICKET_3D),
        at(69, "ErrorRateBudgetBurn", ERRORS_PAGE_1H, ERRORS_PAGE_6H, ERRORS_TICKET_1D,
           ERRORS_TICKET_3D),
        at(69, "LatencyP95AboveThreshold"),
        at(69, "CostPerRequestAboveThreshold"),
    ])  # fmt: skip


def test_five_percent_outage_pages_through_the_threshold_rule(
    promtool: str, tmp_path: Path
) -> None:
    events = requests(0, HEALTHY_S, PER_MINUTE) + requests(
        HEALTHY_S, HEALTHY_S + 30 * MINUTE, PER_MINUTE, error_share=0.05
    )
    # 1.5 errors a minute: the 5 m error rate is 2.7 % after 3 minutes, 4 % after 4.
    run_scenario(promtool, tmp_path, events, 90 * MINUTE, [
        at(64, "ErrorRateAboveThreshold"),
        at(68, "ErrorRateAboveThreshold"),
        at(69, "ErrorRateAboveThreshold", threshold("error-rate")),
        at(75, "SuccessRateBudgetBurn", SUCCESS_TICKET_3D),
        at(75, "ErrorRateBudgetBurn"),
        at(89, "SuccessRateBudgetBurn", SUCCESS_TICKET_1D, SUCCESS_TICKET_3D),
        at(89, "ErrorRateBudgetBurn", ERRORS_TICKET_3D),
    ])  # fmt: skip


def test_one_percent_errors_never_page(promtool: str, tmp_path: Path) -> None:
    events = requests(0, 6 * 60 * MINUTE, PER_MINUTE, error_share=0.01)
    # A burn of 2 on the 99.5 % SLO is a ticket (over 3 d and 6 h), never a page; 1 %
    # errors on the 99 % SLO spend its budget exactly on time, which is not above 1.
    expectations = []
    for minute in (30, 120, 240, 360):
        expectations += [
            at(minute, "SuccessRateBudgetBurn", SUCCESS_TICKET_3D),
            at(minute, "ErrorRateBudgetBurn"),
            at(minute, "ErrorRateAboveThreshold"),
        ]
    run_scenario(promtool, tmp_path, events, 360 * MINUTE, expectations)


def test_p95_over_the_threshold_pages_after_five_minutes(promtool: str, tmp_path: Path) -> None:
    events = (
        requests(0, HEALTHY_S, PER_MINUTE)
        + requests(HEALTHY_S, 80 * MINUTE, PER_MINUTE, slow_share=0.1, slow_ms=4000.0)
        + requests(80 * MINUTE, 90 * MINUTE, PER_MINUTE)
    )
    # 10 % of requests take 4 s: p95 is over 2.5 s once 6 % of the 5 m window is slow.
    run_scenario(promtool, tmp_path, events, 90 * MINUTE, [
        at(63, "LatencyP95AboveThreshold"),
        at(67, "LatencyP95AboveThreshold"),
        at(68, "LatencyP95AboveThreshold", threshold("latency-p95")),
        at(68, "LatencyP95BudgetBurn"),
        # Recovered at minute 80: at 83 only 4 % of the 5 m window is slow.
        at(82, "LatencyP95AboveThreshold", threshold("latency-p95")),
        at(83, "LatencyP95AboveThreshold"),
    ])  # fmt: skip


def test_budget_and_burn_rate_recordings(promtool: str, tmp_path: Path) -> None:
    config = chat_config()
    events = requests(0, 120 * MINUTE, PER_MINUTE, error_share=0.01)
    series = scraped_series(events, 120 * MINUTE, MINUTE, config)
    slo = 'service="chat",slo="success-rate"'

    def rounded(metric: str, labels: str, scale: int, value: int) -> dict[str, object]:
        # promtool compares values exactly, and recordings hold float sums of rates.
        return {
            "eval_time": "120m",
            "expr": f"round({metric}{{{labels}}} * {scale})",
            "exp_samples": [{"labels": f"{{{labels}}}", "value": value}],
        }

    promql = [
        rounded("prodloop:slo_errors:ratio_rate1h", slo, 10000, 100),
        # 1 % failures against the 0.5 % a 99.5 % SLO allows: a burn rate of 2 ...
        rounded("prodloop:slo_burn_rate:rate1h", slo, 1000, 2000),
        # ... which has spent the budget of its whole window twice over.
        rounded("prodloop:slo_error_budget:remaining", slo, 1000, -1000),
        rounded("prodloop:cost_per_request_usd:avg_rate1h", 'service="chat"', 1000000, 1000),
    ]
    test_file = write_test_file(
        tmp_path, rules_without_annotations(config), series, MINUTE, [], promql=promql
    )
    result = run_promtool_test(promtool, test_file)
    assert result.returncode == 0, result.stdout + result.stderr
