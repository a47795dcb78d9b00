"""The canary judge: per-metric checks of a canary, and the verdict they add up to.

At every analysis the rollout controller collects a `Sample` of the canary and one of the
stable version over the same window and calls `judge`. Each metric gives up to two
checks: *absolute* (the canary against the SLO's threshold) and *comparison* (the canary
against the stable version). A verdict fails when any check fails, is inconclusive when
some comparison cannot decide yet and none failed, and passes otherwise.

Every statistical test stays valid under repeated looks, and the verdict as a whole too:
α = 1 − confidence is split equally among the verdict's tests (Bonferroni), and at look k
a test may reject only at its share divided by k·(k+1) (`stats.alpha_at_look`, which sums
to the share over any number of looks). So the chance that a canary whose every rate and
latency distribution equals the stable version's (and is within the SLOs) is ever failed
by a test, over a whole rollout however many analyses it runs, is at most α, whatever
windows the controller passes — provided `look` counts every analysis of the rollout
(exactly for the exact tests; Mann-Whitney through its normal approximation).
The cost ratio is a threshold on an estimate, not a test (a `Sample` carries only sums),
and is covered by its minimum sample instead. The tests themselves:

- rates (errors, guardrail triggers, thumbs-down): Fisher's exact test, one-sided, for the
  comparison; an exact binomial test against the SLO's rate for the absolute check;
- latency: Mann-Whitney U (Kayenta's judge), one-sided, with an effect-size threshold on
  the median ratio; the tail by the share of requests slower than the pooled p95 (a
  quantile test: exact, because the pooled quantile treats both samples alike), with an
  effect-size threshold on the p95 ratio; the SLO's percentile as "the share slower than
  threshold_ms stays within 1 − percentile", by the binomial test;
- cost per request: the canary/stable ratio of means, and the mean against the SLO.

Below a metric's minimum sample a check is `no_data`, which fails the verdict by default
(as in Flagger) or leaves it inconclusive. Evidence that is overwhelming (p below
`overwhelming_p_value`, still within the look's α) fails a check even below the minimum
sample, so a canary that fails every request is stopped at the first analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from prodloop.errors import NotFoundError
from prodloop.releases.stats import (
    alpha_at_look,
    binomial_sf,
    fisher_exact_greater,
    mann_whitney_u,
    quantile,
)

if TYPE_CHECKING:
    from prodloop.config import Config

CheckKind = Literal["absolute", "comparison"]
CheckResult = Literal["pass", "fail", "no_data", "inconclusive"]
VerdictResult = Literal["pass", "fail", "inconclusive"]
NoDataPolicy = Literal["fail", "inconclusive"]

DEFAULT_METRICS = (
    "error_rate",
    "guardrail_rate",
    "latency_median",
    "latency_tail",
    "cost_per_request",
)


@dataclass(frozen=True)
class Sample:
    """What one version did over an analysis window."""

    requests: int
    errors: int  # requests that ended in a server error (telemetry.events.SERVER_ERRORS)
    guardrail_requests: int  # requests that triggered at least one guardrail
    latencies_ms: tuple[float, ...]  # raw latencies of the window (may be subsampled)
    cost_usd: float  # sum over the requests whose cost is known
    cost_known: int  # how many requests have a known cost
    thumbs_down: int | None = None  # None until feedback is collected
    feedback: int | None = None  # thumbs up + thumbs down


@dataclass(frozen=True)
class JudgePolicy:
    """Thresholds from the SLOs and the settings of the comparisons."""

    max_error_rate: float | None = 0.01
    latency_threshold_ms: float | None = 2000.0
    latency_percentile: float = 95.0
    max_cost_per_request_usd: float | None = 0.002
    max_guardrail_rate: float | None = None
    confidence: float = 0.98  # Kayenta's default; here for the whole verdict, all looks
    latency_effect_ratio: float = 1.2  # canary median (or p95) ≥ 1.2 × stable is meaningful
    rate_effect_ratio: float = 1.5  # canary rate ≥ 1.5 × stable is meaningful
    max_cost_ratio: float = 1.25
    min_requests: int = 10
    min_latency_samples: int = 10
    min_cost_samples: int = 20
    min_feedback: int = 20
    overwhelming_p_value: float = 1e-6
    no_data: NoDataPolicy = "fail"
    metrics: tuple[str, ...] = DEFAULT_METRICS

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError("confidence must lie in [0.5, 1)")
        unknown = [name for name in self.metrics if name not in METRIC_RULES]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRIC_RULES)}")

    @property
    def alpha(self) -> float:
        """The false-failure budget of each check over a whole rollout."""
        return 1.0 - self.confidence

    @classmethod
    def from_config(cls, config: Config, service: str, **overrides: Any) -> JudgePolicy:
        """The policy whose absolute thresholds are the strictest SLOs held for `service`."""
        if service not in config.services:
            raise NotFoundError(f"unknown service '{service}'", field="service")
        max_error_rate: float | None = None
        latency: tuple[float, float] | None = None
        max_cost: float | None = None
        max_guardrail: float | None = None
        for slo in config.slos.objectives:
            if not slo.applies_to(service):
                continue
            if slo.kind == "ratio" and slo.bad == "errors" and slo.objective is not None:
                max_error_rate = _lowest(max_error_rate, 1.0 - slo.objective)
            elif slo.kind == "latency" and slo.threshold_ms is not None:
                objective = slo.good_objective
                percentile = 100.0 * objective if objective is not None else slo.percentile
                if latency is None or (slo.threshold_ms, -percentile) < (
                    latency[0],
                    -latency[1],
                ):
                    latency = (slo.threshold_ms, percentile)
            elif slo.kind == "average" and slo.target is not None:
                max_cost = _lowest(max_cost, slo.target)
            elif slo.kind == "rate" and slo.target is not None:
                max_guardrail = _lowest(max_guardrail, slo.target)
        settings: dict[str, Any] = {
            "max_error_rate": max_error_rate,
            "latency_threshold_ms": latency[0] if latency else None,
            "latency_percentile": latency[1] if latency else 95.0,
            "max_cost_per_request_usd": max_cost,
            "max_guardrail_rate": max_guardrail,
        }
        settings.update(overrides)
        return cls(**settings)


def _lowest(current: float | None, candidate: float) -> float:
    return candidate if current is None else min(current, candidate)


@dataclass(frozen=True)
class Check:
    """One metric checked one way, with the figures and the sentence a person reads."""

    metric: str
    kind: CheckKind
    canary_value: float | None
    stable_value: float | None
    threshold: float | None
    test: str
    statistic: float | None
    p_value: float | None
    result: CheckResult
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """The judge's answer for one analysis."""

    result: VerdictResult
    checks: tuple[Check, ...]

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        """Checks that failed on their data (not for lack of it)."""
        return tuple(check for check in self.checks if check.result == "fail")

    @property
    def is_failed_on_evidence(self) -> bool:
        """True when the data shows a regression: roll back now, without waiting for a
        failure limit (a verdict failed only for lack of data does not set this)."""
        return bool(self.failed_checks)

    @property
    def reason(self) -> str:
        """The reasons of the checks that decided the verdict, in one line."""
        if self.result == "pass":
            return "every check passed"
        deciding = ("fail", "no_data") if self.result == "fail" else ("inconclusive", "no_data")
        return "; ".join(check.reason for check in self.checks if check.result in deciding)

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "reason": self.reason,
            "failed_on_evidence": self.is_failed_on_evidence,
            "checks": [check.to_dict() for check in self.checks],
        }


def judge(canary: Sample, stable: Sample, policy: JudgePolicy, *, look: int = 1) -> Verdict:
    """Judge the canary against the SLOs and the stable version, at analysis number `look`
    (1 for the rollout's first analysis, counting every analysis since)."""
    if look < 1:
        raise ValueError("looks are counted from 1")
    rules = [METRIC_RULES[name] for name in policy.metrics]
    test_count = sum(rule.test_count(policy) for rule in rules)
    this_look = Look(look, policy.alpha / max(1, test_count))
    checks: list[Check] = []
    for rule in rules:
        checks.extend(rule.check(canary, stable, policy, this_look))
    results = {check.result for check in checks}
    if "fail" in results or ("no_data" in results and policy.no_data == "fail"):
        return Verdict("fail", tuple(checks))
    if "inconclusive" in results or "no_data" in results:
        return Verdict("inconclusive", tuple(checks))
    return Verdict("pass", tuple(checks))


# --- the metrics -------------------------------------------------------------------------


def _percent(value: float) -> str:
    return f"{100.0 * value:.2g} %" if value < 0.1 else f"{100.0 * value:.1f} %"


def _level(policy: JudgePolicy) -> str:
    return f"{100.0 * policy.confidence:g} %"


def _p(value: float) -> str:
    return f"{value:.2g}"


CheckMetric = Callable[[Sample, Sample, JudgePolicy, "Look"], list[Check]]


@dataclass(frozen=True)
class MetricRule:
    """How one metric is checked, and how many statistical tests that takes (each gets an
    equal share of the verdict's α)."""

    check: CheckMetric
    test_count: Callable[[JudgePolicy], int]


@dataclass(frozen=True)
class Look:
    """One analysis of a rollout: its number and the α each statistical test may spend."""

    number: int
    alpha_per_test: float

    def rejects(self, p_value: float, enough_data: bool, policy: JudgePolicy) -> bool:
        """Reject at this look's share of the test's α; below the minimum sample only on
        overwhelming evidence (still within that share)."""
        level = alpha_at_look(self.alpha_per_test, self.number)
        if not enough_data:
            level = min(level, policy.overwhelming_p_value)
        return p_value <= level

    def absolute_result(
        self, p_value: float, enough_data: bool, policy: JudgePolicy
    ) -> Literal["pass", "fail", "no_data"]:
        """An absolute check fails when its test rejects "within the SLO"."""
        if self.rejects(p_value, enough_data, policy):
            return "fail"
        return "pass" if enough_data else "no_data"

    def comparison_result(
        self, is_meaningful: bool, p_value: float, enough_data: bool, policy: JudgePolicy
    ) -> CheckResult:
        """A comparison fails when the difference is both meaningful (past the effect-size
        threshold) and significant at this look; it is inconclusive when it is meaningful
        and would be significant at a single look, but not yet under repeated looks."""
        if is_meaningful and self.rejects(p_value, enough_data, policy):
            return "fail"
        if not enough_data:
            return "no_data"
        if is_meaningful and p_value <= self.alpha_per_test:
            return "inconclusive"
        return "pass"


def _no_data(metric: str, kind: CheckKind, test: str, threshold: float | None, why: str) -> Check:
    return Check(metric, kind, None, None, threshold, test, None, None, "no_data", why)


def _rate_rule(
    metric: str,
    label: str,
    events_of: Callable[[Sample], int | None],
    total_of: Callable[[Sample], int | None],
    min_total_of: Callable[[JudgePolicy], int],
    limit_of: Callable[[JudgePolicy], float | None],
) -> CheckMetric:
    """A metric that is a share of a count: an exact binomial test against its SLO limit
    and Fisher's exact test against the stable version. Left out while the canary has no
    such count at all (None: not collected)."""

    def rule(canary: Sample, stable: Sample, policy: JudgePolicy, look: Look) -> list[Check]:
        canary_events, canary_total = events_of(canary), total_of(canary)
        if canary_events is None or canary_total is None:
            return []
        stable_events, stable_total = events_of(stable) or 0, total_of(stable) or 0
        minimum = min_total_of(policy)
        checks: list[Check] = []
        limit = limit_of(policy)
        if limit is not None and canary_total == 0:
            checks.append(_no_data(metric, "absolute", "binomial", limit, f"no canary {label}"))
        elif limit is not None:
            rate = canary_events / canary_total
            p_value = binomial_sf(canary_events, canary_total, limit)
            result: CheckResult = look.absolute_result(p_value, canary_total >= minimum, policy)
            reason = {
                "fail": f"{label} {_percent(rate)} ({canary_events}/{canary_total}) is above "
                f"the SLO's {_percent(limit)} at the {_level(policy)} level "
                f"(binomial p = {_p(p_value)})",
                "no_data": f"{label}: {canary_total} canary requests, fewer than {minimum}",
                "pass": f"{label} {_percent(rate)} within the SLO's {_percent(limit)}",
            }[result]
            checks.append(
                Check(
                    metric,
                    "absolute",
                    rate,
                    None,
                    limit,
                    "binomial",
                    float(canary_events),
                    p_value,
                    result,
                    reason,
                )
            )
        if canary_total == 0 or stable_total == 0:
            who = "canary" if canary_total == 0 else "stable"
            checks.append(
                _no_data(metric, "comparison", "fisher_exact", None, f"{label}: no {who} data")
            )
            return checks
        canary_rate, stable_rate = canary_events / canary_total, stable_events / stable_total
        threshold = policy.rate_effect_ratio * stable_rate
        p_value = fisher_exact_greater(canary_events, canary_total, stable_events, stable_total)
        enough = canary_total >= minimum and stable_total >= minimum
        result = look.comparison_result(canary_rate > threshold, p_value, enough, policy)
        figures = (
            f"{label} {_percent(canary_rate)} vs stable {_percent(stable_rate)} "
            f"({canary_events}/{canary_total} vs {stable_events}/{stable_total})"
        )
        reason = {
            "fail": f"{figures}: Fisher's exact test rejects equality at the {_level(policy)} "
            f"level (p = {_p(p_value)}, look {look.number})",
            "no_data": f"{label}: fewer than {minimum} of the canary or the stable version",
            "inconclusive": f"{figures}: higher, not yet significant at look {look.number} "
            f"(p = {_p(p_value)})",
            "pass": f"{figures}: no meaningful increase (p = {_p(p_value)})",
        }[result]
        checks.append(
            Check(
                metric,
                "comparison",
                canary_rate,
                stable_rate,
                threshold,
                "fisher_exact",
                float(canary_events),
                p_value,
                result,
                reason,
            )
        )
        return checks

    return rule


_error_rate = _rate_rule(
    "error_rate",
    "error rate",
    lambda sample: sample.errors,
    lambda sample: sample.requests,
    lambda policy: policy.min_requests,
    lambda policy: policy.max_error_rate,
)
_guardrail_rate = _rate_rule(
    "guardrail_rate",
    "guardrail rate",
    lambda sample: sample.guardrail_requests,
    lambda sample: sample.requests,
    lambda policy: policy.min_requests,
    lambda policy: policy.max_guardrail_rate,
)
_thumbs_down_rate = _rate_rule(
    "thumbs_down_rate",
    "thumbs-down rate",
    lambda sample: sample.thumbs_down,
    lambda sample: sample.feedback,
    lambda policy: policy.min_feedback,
    lambda policy: None,
)


def _latency_median(canary: Sample, stable: Sample, policy: JudgePolicy, look: Look) -> list[Check]:
    """Mann-Whitney U, one-sided (the canary is slower), with the median ratio as effect."""
    metric, test, minimum = "latency_median", "mann_whitney_u", policy.min_latency_samples
    canary_ms, stable_ms = sorted(canary.latencies_ms), sorted(stable.latencies_ms)
    if not canary_ms or not stable_ms:
        who = "canary" if not canary_ms else "stable"
        return [_no_data(metric, "comparison", test, None, f"latency: no {who} latencies")]
    canary_median, stable_median = quantile(canary_ms, 0.5), quantile(stable_ms, 0.5)
    threshold = policy.latency_effect_ratio * stable_median
    outcome = mann_whitney_u(canary_ms, stable_ms, "greater")
    enough = len(canary_ms) >= minimum and len(stable_ms) >= minimum
    result = look.comparison_result(canary_median >= threshold, outcome.p_value, enough, policy)
    figures = f"median latency {canary_median:.0f} ms vs stable {stable_median:.0f} ms"
    reason = {
        "fail": f"{figures} (≥ {policy.latency_effect_ratio:g}×): Mann-Whitney U rejects "
        f"equality at the {_level(policy)} level (p = {_p(outcome.p_value)}, "
        f"look {look.number})",
        "no_data": f"latency: fewer than {minimum} latencies of the canary or the stable version",
        "inconclusive": f"{figures}: slower, not yet significant at look {look.number}",
        "pass": f"{figures}: no meaningful slowdown (p = {_p(outcome.p_value)})",
    }[result]
    return [
        Check(
            metric,
            "comparison",
            canary_median,
            stable_median,
            threshold,
            test,
            outcome.u,
            outcome.p_value,
            result,
            reason,
        )
    ]


def _latency_tail(canary: Sample, stable: Sample, policy: JudgePolicy, look: Look) -> list[Check]:
    """The SLO's percentile against its threshold, and the tail against the stable one."""
    metric, minimum = "latency_tail", policy.min_latency_samples
    canary_ms, stable_ms = sorted(canary.latencies_ms), sorted(stable.latencies_ms)
    share = policy.latency_percentile / 100.0
    label = f"p{policy.latency_percentile:g} latency"
    checks: list[Check] = []
    limit_ms = policy.latency_threshold_ms
    if limit_ms is not None and not canary_ms:
        checks.append(_no_data(metric, "absolute", "binomial", limit_ms, "no canary latencies"))
    elif limit_ms is not None:
        # "p95 ≤ 2 s" is "at most 5 % of requests slower than 2 s": a binomial question.
        slow = sum(1 for value in canary_ms if value > limit_ms)
        canary_p = quantile(canary_ms, share)
        p_value = binomial_sf(slow, len(canary_ms), 1.0 - share)
        result: CheckResult = look.absolute_result(p_value, len(canary_ms) >= minimum, policy)
        reason = {
            "fail": f"{label} {canary_p:.0f} ms is above the SLO's {limit_ms:g} ms: "
            f"{slow}/{len(canary_ms)} requests slower, more than {_percent(1.0 - share)} "
            f"at the {_level(policy)} level (binomial p = {_p(p_value)})",
            "no_data": f"{label}: {len(canary_ms)} canary latencies, fewer than {minimum}",
            "pass": f"{label} {canary_p:.0f} ms within the SLO's {limit_ms:g} ms",
        }[result]
        checks.append(
            Check(
                metric,
                "absolute",
                canary_p,
                None,
                limit_ms,
                "binomial",
                float(slow),
                p_value,
                result,
                reason,
            )
        )
    test = "quantile_exceedance"
    if not canary_ms or not stable_ms:
        who = "canary" if not canary_ms else "stable"
        checks.append(_no_data(metric, "comparison", test, None, f"{label}: no {who} latencies"))
        return checks
    # The pooled quantile treats both samples alike, so under equal distributions the
    # canary's count above it is hypergeometric and Fisher's test is exact.
    pooled_cut = quantile(sorted(canary_ms + stable_ms), share)
    canary_slow = sum(1 for value in canary_ms if value > pooled_cut)
    stable_slow = sum(1 for value in stable_ms if value > pooled_cut)
    p_value = fisher_exact_greater(canary_slow, len(canary_ms), stable_slow, len(stable_ms))
    canary_p, stable_p = quantile(canary_ms, share), quantile(stable_ms, share)
    threshold = policy.latency_effect_ratio * stable_p
    enough = len(canary_ms) >= minimum and len(stable_ms) >= minimum
    result = look.comparison_result(canary_p >= threshold, p_value, enough, policy)
    figures = (
        f"{label} {canary_p:.0f} ms vs stable {stable_p:.0f} ms "
        f"({_percent(canary_slow / len(canary_ms))} vs "
        f"{_percent(stable_slow / len(stable_ms))} slower than {pooled_cut:.0f} ms)"
    )
    reason = {
        "fail": f"{figures}: the tail is heavier at the {_level(policy)} level "
        f"(Fisher's exact p = {_p(p_value)}, look {look.number})",
        "no_data": f"{label}: fewer than {minimum} latencies of the canary or the stable version",
        "inconclusive": f"{figures}: heavier, not yet significant at look {look.number}",
        "pass": f"{figures}: no meaningful slowdown of the tail (p = {_p(p_value)})",
    }[result]
    checks.append(
        Check(
            metric,
            "comparison",
            canary_p,
            stable_p,
            threshold,
            test,
            float(canary_slow),
            p_value,
            result,
            reason,
        )
    )
    return checks


def _cost_per_request(
    canary: Sample, stable: Sample, policy: JudgePolicy, look: Look
) -> list[Check]:
    """Mean cost per request against the SLO, and as a ratio to the stable version's."""
    del look  # the ratio is a threshold on an estimate, not a test
    checks: list[Check] = []
    minimum = policy.min_cost_samples
    canary_mean = canary.cost_usd / canary.cost_known if canary.cost_known else None
    stable_mean = stable.cost_usd / stable.cost_known if stable.cost_known else None
    limit = policy.max_cost_per_request_usd
    if limit is not None:
        if canary_mean is None or canary.cost_known < minimum:
            checks.append(
                _no_data(
                    "cost_per_request",
                    "absolute",
                    "mean",
                    limit,
                    f"cost per request: {canary.cost_known} canary costs known, "
                    f"fewer than {minimum}",
                )
            )
        else:
            is_over = canary_mean > limit
            verb = "is above" if is_over else "within"
            checks.append(
                Check(
                    "cost_per_request",
                    "absolute",
                    canary_mean,
                    None,
                    limit,
                    "mean",
                    canary_mean,
                    None,
                    "fail" if is_over else "pass",
                    f"cost per request ${canary_mean:.5f} {verb} the SLO's ${limit:g}",
                )
            )
    if (
        canary_mean is None
        or stable_mean is None
        or min(canary.cost_known, stable.cost_known) < minimum
    ):
        checks.append(
            _no_data(
                "cost_per_request",
                "comparison",
                "ratio",
                policy.max_cost_ratio,
                f"cost per request: fewer than {minimum} known costs of the canary or the "
                "stable version",
            )
        )
        return checks
    ratio = canary_mean / stable_mean if stable_mean > 0 else (1.0 if canary_mean == 0 else 1e9)
    is_over = ratio > policy.max_cost_ratio
    sign = ">" if is_over else "≤"
    checks.append(
        Check(
            "cost_per_request",
            "comparison",
            canary_mean,
            stable_mean,
            policy.max_cost_ratio,
            "ratio",
            ratio,
            None,
            "fail" if is_over else "pass",
            f"cost per request ${canary_mean:.5f} vs stable ${stable_mean:.5f}: "
            f"{ratio:.2f}× {sign} {policy.max_cost_ratio:g}×",
        )
    )
    return checks


# The metrics the judge knows, by name. Adding a metric is one entry here (and its name in
# JudgePolicy.metrics to judge it by default).
METRIC_RULES: dict[str, MetricRule] = {
    "error_rate": MetricRule(_error_rate, lambda p: 1 + (p.max_error_rate is not None)),
    "guardrail_rate": MetricRule(_guardrail_rate, lambda p: 1 + (p.max_guardrail_rate is not None)),
    "latency_median": MetricRule(_latency_median, lambda p: 1),
    "latency_tail": MetricRule(_latency_tail, lambda p: 1 + (p.latency_threshold_ms is not None)),
    "cost_per_request": MetricRule(_cost_per_request, lambda p: 0),
    "thumbs_down_rate": MetricRule(_thumbs_down_rate, lambda p: 1),
}


def metric_names() -> Sequence[str]:
    """Every metric the judge can check."""
    return tuple(METRIC_RULES)
