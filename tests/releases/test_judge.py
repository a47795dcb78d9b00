"""The canary judge: identical canaries pass, clear regressions fail naming their metric."""

from __future__ import annotations

import json
import math
import random

import pytest

from prodloop.config import Config
from prodloop.errors import NotFoundError
from prodloop.releases.judge import (
    DEFAULT_METRICS,
    Check,
    JudgePolicy,
    Sample,
    Verdict,
    judge,
    metric_names,
)

_Z95 = 1.6448536269514722


def traffic(
    seed: int,
    requests: int,
    *,
    error_rate: float = 0.005,
    p50_ms: float = 400.0,
    p95_ms: float = 1500.0,
    cost_usd: float = 0.001,
    guardrail_rate: float = 0.01,
) -> Sample:
    """A window of requests drawn like the fake upstream's "realistic" profile."""
    rnd = random.Random(seed)
    sigma = math.log(p95_ms / p50_ms) / _Z95
    latencies = tuple(p50_ms * math.exp(sigma * rnd.gauss(0.0, 1.0)) for _ in range(requests))
    errors = sum(rnd.random() < error_rate for _ in range(requests))
    guardrails = sum(rnd.random() < guardrail_rate for _ in range(requests))
    costs = [cost_usd * math.exp(0.25 * rnd.gauss(0.0, 1.0)) for _ in range(requests)]
    return Sample(requests, errors, guardrails, latencies, sum(costs), requests)


def failed_metrics(verdict: Verdict) -> set[str]:
    return {check.metric for check in verdict.checks if check.result == "fail"}


def test_identical_samples_pass() -> None:
    sample = traffic(1, 400)
    verdict = judge(sample, sample, JudgePolicy())
    assert verdict.result == "pass"
    assert {check.metric for check in verdict.checks} == set(DEFAULT_METRICS)
    assert verdict.reason == "every check passed"


def test_a_canary_like_the_stable_version_passes() -> None:
    verdict = judge(traffic(2, 400), traffic(3, 2000), JudgePolicy(), look=5)
    assert verdict.result == "pass", verdict.reason


def test_five_percent_errors_fail_on_error_rate() -> None:
    canary = Sample(400, 20, 4, traffic(4, 400).latencies_ms, 0.4, 400)
    stable = Sample(2000, 10, 20, traffic(5, 2000).latencies_ms, 2.0, 2000)
    verdict = judge(canary, stable, JudgePolicy(), look=3)
    assert verdict.result == "fail"
    assert failed_metrics(verdict) == {"error_rate"}
    assert verdict.is_failed_on_evidence
    comparison = next(
        c for c in verdict.checks if c.metric == "error_rate" and c.kind == "comparison"
    )
    assert comparison.test == "fisher_exact"
    assert comparison.canary_value == pytest.approx(0.05)
    assert comparison.stable_value == pytest.approx(0.005)
    assert comparison.p_value is not None and comparison.p_value < 1e-6
    assert "error rate 5 % vs stable 0.5 %" in comparison.reason
    assert "rejects equality at the 98 % level" in comparison.reason


def test_slower_p95_fails_on_the_latency_tail() -> None:
    canary = traffic(6, 1500, p95_ms=2250.0)
    verdict = judge(canary, traffic(7, 3000), JudgePolicy(), look=3)
    assert verdict.result == "fail", verdict.reason
    assert "latency_tail" in failed_metrics(verdict)
    assert failed_metrics(verdict) <= {"latency_tail", "latency_median"}


def test_a_slower_canary_fails_mann_whitney() -> None:
    canary = traffic(8, 500, p50_ms=600.0, p95_ms=2250.0)
    verdict = judge(canary, traffic(9, 2000), JudgePolicy(latency_threshold_ms=None), look=2)
    median = next(c for c in verdict.checks if c.metric == "latency_median")
    assert median.result == "fail"
    assert median.test == "mann_whitney_u"
    assert median.canary_value is not None and median.stable_value is not None
    assert median.canary_value >= 1.2 * median.stable_value


def test_a_small_slowdown_below_the_effect_size_passes() -> None:
    # 10 % slower everywhere: significant with this much data, but not meaningful.
    canary = traffic(10, 3000, p50_ms=440.0, p95_ms=1650.0)
    verdict = judge(canary, traffic(11, 3000), JudgePolicy(), look=1)
    median = next(c for c in verdict.checks if c.metric == "latency_median")
    assert median.p_value is not None and median.p_value < 0.001
    assert median.result == "pass"


def test_double_cost_fails_on_cost_per_request() -> None:
    canary = traffic(12, 400, cost_usd=0.0018)
    verdict = judge(canary, traffic(13, 2000, cost_usd=0.0009), JudgePolicy())
    assert failed_metrics(verdict) == {"cost_per_request"}
    ratio = next(
        c for c in verdict.checks if c.metric == "cost_per_request" and c.kind == "comparison"
    )
    assert ratio.statistic == pytest.approx(2.0, rel=0.1)
    assert "> 1.25×" in ratio.reason


def test_the_slo_thresholds_fail_a_canary_that_is_as_bad_as_stable() -> None:
    stable = traffic(14, 2000, error_rate=0.04, cost_usd=0.003)
    verdict = judge(traffic(15, 1000, error_rate=0.04, cost_usd=0.003), stable, JudgePolicy())
    absolute = {c.metric for c in verdict.checks if c.kind == "absolute" and c.result == "fail"}
    assert absolute == {"error_rate", "cost_per_request"}
    assert not [c for c in verdict.checks if c.kind == "comparison" and c.result == "fail"]


def test_below_the_minimum_sample_is_no_data_and_fails_by_default() -> None:
    canary = traffic(16, 5)
    verdict = judge(canary, traffic(17, 2000), JudgePolicy())
    assert verdict.result == "fail"
    assert not verdict.is_failed_on_evidence
    assert {c.result for c in verdict.checks} == {"no_data"}
    assert "fewer than" in verdict.reason


def test_no_data_can_be_inconclusive_instead() -> None:
    verdict = judge(traffic(16, 5), traffic(17, 2000), JudgePolicy(no_data="inconclusive"))
    assert verdict.result == "inconclusive"


def test_a_canary_without_traffic_is_no_data() -> None:
    empty = Sample(0, 0, 0, (), 0.0, 0)
    verdict = judge(empty, traffic(18, 100), JudgePolicy())
    assert verdict.result == "fail"
    assert all(c.result == "no_data" for c in verdict.checks)


def test_overwhelming_evidence_fails_below_the_minimum_sample() -> None:
    every_request_fails = Sample(6, 6, 0, (50.0,) * 6, 0.0, 0)
    verdict = judge(every_request_fails, traffic(19, 114), JudgePolicy(), look=1)
    assert verdict.is_failed_on_evidence
    assert failed_metrics(verdict) == {"error_rate"}


def test_suggestive_but_unproven_regression_is_inconclusive() -> None:
    canary = Sample(300, 6, 3, traffic(20, 300).latencies_ms, 0.3, 300)
    stable = Sample(3000, 10, 30, traffic(21, 3000).latencies_ms, 3.0, 3000)
    verdict = judge(canary, stable, JudgePolicy(max_error_rate=None), look=20)
    error = next(c for c in verdict.checks if c.metric == "error_rate")
    assert error.result == "inconclusive", error.reason
    assert verdict.result == "inconclusive"


def test_later_looks_need_stronger_evidence() -> None:
    canary = Sample(300, 7, 3, traffic(22, 300).latencies_ms, 0.3, 300)
    stable = Sample(3000, 10, 30, traffic(23, 3000).latencies_ms, 3.0, 3000)
    policy = JudgePolicy(max_error_rate=None)
    assert "error_rate" in failed_metrics(judge(canary, stable, policy, look=1))
    assert "error_rate" not in failed_metrics(judge(canary, stable, policy, look=30))


def test_thumbs_down_rate_is_one_more_metric() -> None:
    policy = JudgePolicy(metrics=(*DEFAULT_METRICS, "thumbs_down_rate"))
    base = traffic(24, 400)
    canary = Sample(**{**base.__dict__, "thumbs_down": 40, "feedback": 100})
    stable = Sample(**{**base.__dict__, "thumbs_down": 100, "feedback": 1000})
    assert failed_metrics(judge(canary, stable, policy)) == {"thumbs_down_rate"}
    # Without feedback collected, the metric is left out rather than failed.
    assert judge(base, base, policy).result == "pass"
    assert "thumbs_down_rate" in metric_names()


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metrics"):
        JudgePolicy(metrics=("latency", "nonsense"))


def test_policy_from_the_services_slos() -> None:
    config = Config.model_validate(
        {
            "services": {"chat": {"stable": "v1", "versions": {"v1": {"upstream": "http://x"}}}},
            "slos": {
                "objectives": [
                    {"name": "errors", "kind": "ratio", "objective": 0.995},
                    {"name": "p99", "kind": "latency", "percentile": 99, "threshold_ms": 3000},
                    {"name": "cost", "kind": "average", "target": 0.004},
                    {"name": "guard", "kind": "rate", "target": 0.02},
                ]
            },
        }
    )
    policy = JudgePolicy.from_config(config, "chat")
    assert policy.max_error_rate == pytest.approx(0.005)
    assert (policy.latency_threshold_ms, policy.latency_percentile) == (3000, 99)
    assert policy.max_cost_per_request_usd == 0.004
    assert policy.max_guardrail_rate == 0.02
    assert policy.confidence == 0.98
    with pytest.raises(NotFoundError):
        JudgePolicy.from_config(config, "nope")


def test_policy_from_the_guides_defaults() -> None:
    config = Config.model_validate(
        {"services": {"chat": {"stable": "v1", "versions": {"v1": {"upstream": "http://x"}}}}}
    )
    policy = JudgePolicy.from_config(config, "chat", no_data="inconclusive")
    assert policy.max_error_rate == pytest.approx(0.01)
    assert policy.latency_threshold_ms == 2000
    assert policy.latency_percentile == 95
    assert policy.max_cost_per_request_usd == 0.002
    assert policy.max_guardrail_rate is None
    assert policy.no_data == "inconclusive"


def test_verdict_to_dict_is_json() -> None:
    verdict = judge(traffic(25, 200, error_rate=0.2), traffic(26, 2000), JudgePolicy())
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["result"] == "fail"
    assert data["failed_on_evidence"] is True
    assert {"metric", "kind", "test", "p_value", "result", "reason"} <= set(data["checks"][0])
    check = verdict.checks[0]
    assert Check(**check.to_dict()) == check


def test_identical_canaries_are_rarely_failed_over_a_whole_rollout() -> None:
    """The verdict's false-failure rate over repeated looks stays within 1 − confidence."""
    policy = JudgePolicy(confidence=0.9, min_cost_samples=10)
    rnd = random.Random(20261127)
    rollouts, looks, failed = 60, 10, 0
    for _ in range(rollouts):
        windows = [traffic(rnd.randrange(2**32), 10 + 30 * (k > 2)) for k in range(looks)]
        stables = [traffic(rnd.randrange(2**32), 100) for _ in range(looks)]
        for look in range(1, looks + 1):
            canary = _merge(windows[:look])
            stable = _merge(stables[:look])
            if judge(canary, stable, policy, look=look).is_failed_on_evidence:
                failed += 1
                break
    assert failed / rollouts <= policy.alpha


def _merge(samples: list[Sample]) -> Sample:
    return Sample(
        requests=sum(s.requests for s in samples),
        errors=sum(s.errors for s in samples),
        guardrail_requests=sum(s.guardrail_requests for s in samples),
        latencies_ms=tuple(v for s in samples for v in s.latencies_ms),
        cost_usd=sum(s.cost_usd for s in samples),
        cost_known=sum(s.cost_known for s in samples),
    )
