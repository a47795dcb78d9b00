"""The statistics of experiments: an always-valid sequential test and the SRM check.

- `msprt`: the mixture sequential probability ratio test (Johari, Pekelis and Walsh,
  "Always valid inference", as Optimizely runs it) for the difference of two means or
  proportions, with the normal approximation. Its p-value and confidence interval stay
  valid however often they are looked at, so an experiment can be checked every day
  and stopped the day it is significant.
- `quantile_sample`: a quantile (p95) with its standard error taken from the
  distribution-free order-statistic interval (the one SciPy's ``quantile_test`` gives),
  so a difference of quantiles goes through the same test.
- `srm_check`: Pearson's chi-square goodness of fit of the users each variant got
  against the split the flag is configured with (a sample ratio mismatch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prodloop.releases.stats import normal_sf, quantile

# The mixing distribution of the mSPRT is N(0, τ²) on the difference, with τ this many
# standard deviations of one observation: effects of about this size are found fastest.
MIXTURE_EFFECT = 0.1
Z_95 = 1.959963984540054  # the two-sided 95 % point of the standard normal
_GAMMA_EPS = 1e-15
_GAMMA_ITERATIONS = 10_000
_PMF_FLOOR = 1e-18  # binomial terms smaller than this share of the mode's are left out


@dataclass(frozen=True, slots=True)
class Sample:
    """One variant's estimate: `n` observations, the `value` and the variance of one
    observation, so that the estimate's variance is ``unit_variance / n``."""

    n: int
    value: float
    unit_variance: float

    @property
    def variance(self) -> float:
        """The variance of the estimate itself."""
        return self.unit_variance / self.n if self.n > 0 else math.inf


def mean_sample(values: Sequence[float]) -> Sample:
    """The mean of `values` with their sample variance (n − 1 in the denominator)."""
    n = len(values)
    if n == 0:
        return Sample(0, math.nan, math.nan)
    mean = math.fsum(values) / n
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return Sample(n, mean, variance)


def proportion_sample(successes: int, trials: int) -> Sample:
    """A share of successes; the variance is that of the 0/1 values (n − 1 denominator)."""
    if trials == 0:
        return Sample(0, math.nan, math.nan)
    share = successes / trials
    variance = share * (1 - share) * trials / (trials - 1) if trials > 1 else 0.0
    return Sample(trials, share, variance)


def _binomial_pmf_window(n: int, p: float) -> tuple[int, list[float]]:
    """Binomial(n, p) probabilities from the first index that matters to the last."""
    mode = min(n, math.floor((n + 1) * p))
    log_mode = (
        math.lgamma(n + 1) - math.lgamma(mode + 1) - math.lgamma(n - mode + 1)
        + mode * math.log(p) + (n - mode) * math.log1p(-p)
    )  # fmt: skip
    peak = math.exp(log_mode)
    below: list[float] = []
    term, k = peak, mode
    while k > 0:
        term *= k * (1 - p) / ((n - k + 1) * p)
        k -= 1
        if term < peak * _PMF_FLOOR:
            break
        below.append(term)
    above: list[float] = []
    term, k = peak, mode
    while k < n:
        term *= (n - k) * p / ((k + 1) * (1 - p))
        k += 1
        if term < peak * _PMF_FLOOR:
            break
        above.append(term)
    return mode - len(below), [*reversed(below), peak, *above]


def quantile_interval(
    values: Sequence[float], q: float, confidence: float = 0.95
) -> tuple[float, float]:
    """The distribution-free two-sided interval of the q-quantile: a pair of order
    statistics chosen with the Binomial(n, q) law, as SciPy's ``quantile_test`` does.
    An end that the sample is too small to give is NaN."""
    if not 0 < q < 1 or not 0 < confidence < 1:
        raise ValueError("q and confidence must lie strictly between 0 and 1")
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2
    first, pmf = _binomial_pmf_window(n, q)
    # The smallest k with P(X ≤ k) ≥ tail, and the smallest k with P(X > k) ≤ tail.
    low_k, high_k = first + len(pmf) - 1, n
    cumulative = 0.0
    for offset, mass in enumerate(pmf):
        cumulative += mass
        if cumulative >= tail:
            low_k = first + offset
            break
    cumulative = 0.0
    for offset in range(len(pmf) - 1, -1, -1):
        if cumulative + pmf[offset] > tail:
            high_k = first + offset
            break
        cumulative += pmf[offset]
    low_index, high_index = low_k - 1, high_k
    low = ordered[low_index] if low_index >= 0 else math.nan
    high = ordered[high_index] if high_index < n else math.nan
    return low, high


def quantile_sample(values: Sequence[float], q: float = 0.95) -> Sample:
    """The q-quantile with a standard error of (interval width) / (2 · 1.96), from the
    95 % order-statistic interval; the interval is consistent for the quantile's spread
    without assuming a distribution, which latencies and costs never follow."""
    n = len(values)
    if n == 0:
        return Sample(0, math.nan, math.nan)
    value = quantile(sorted(values), q)
    low, high = quantile_interval(values, q)
    if math.isnan(low) or math.isnan(high):
        return Sample(n, value, math.inf)
    standard_error = (high - low) / (2 * Z_95)
    return Sample(n, value, standard_error**2 * n)


def welch_z(control: Sample, treatment: Sample) -> tuple[float, float]:
    """Welch's statistic for treatment − control and its fixed-sample two-sided p-value
    (normal approximation). Only valid when the sample size was fixed in advance."""
    variance = control.variance + treatment.variance
    if not variance > 0 or math.isinf(variance):
        return 0.0, 1.0
    z = (treatment.value - control.value) / math.sqrt(variance)
    return z, min(1.0, 2 * normal_sf(abs(z)))


def mixture_variance(control: Sample, treatment: Sample, effect: float = MIXTURE_EFFECT) -> float:
    """τ² of the mixing distribution: `effect` pooled standard deviations, squared."""
    pooled = (control.n * control.unit_variance + treatment.n * treatment.unit_variance) / (
        control.n + treatment.n
    )
    return (effect**2) * pooled


def log_likelihood_ratio(difference: float, variance: float, tau2: float) -> float:
    """log Λ of the normal mSPRT: the data's likelihood averaged over N(0, τ²) effects,
    over its likelihood under no effect."""
    return 0.5 * math.log(variance / (variance + tau2)) + (difference**2) * tau2 / (
        2 * variance * (variance + tau2)
    )


def always_valid_half_width(variance: float, tau2: float, alpha: float) -> float:
    """Half the width of the (1 − α) confidence sequence: the differences the mSPRT
    would not reject at level α (Λ < 1/α), around the estimate."""
    return math.sqrt(
        variance * (variance + tau2) / tau2 * (2 * math.log(1 / alpha)
                                               + math.log((variance + tau2) / variance))
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """treatment − control: the estimate, its always-valid interval and p-value."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    z: float
    is_significant: bool


def msprt(
    control: Sample, treatment: Sample, alpha: float, *, effect: float = MIXTURE_EFFECT
) -> SequentialResult:
    """The mSPRT of "no difference" at level α; valid at every look, planned or not."""
    difference = treatment.value - control.value
    variance = control.variance + treatment.variance
    tau2 = mixture_variance(control, treatment, effect) if variance > 0 else 0.0
    if not (variance > 0 and tau2 > 0) or math.isinf(variance) or math.isnan(variance):
        return SequentialResult(difference, -math.inf, math.inf, 1.0, 0.0, False)
    log_lr = log_likelihood_ratio(difference, variance, tau2)
    p_value = min(1.0, math.exp(-log_lr))
    half = always_valid_half_width(variance, tau2, alpha)
    z = difference / math.sqrt(variance)
    return SequentialResult(
        difference, difference - half, difference + half, p_value, z, p_value <= alpha
    )


def always_valid_interval(sample: Sample, alpha: float) -> tuple[float, float]:
    """One variant's (1 − α) confidence sequence for its value, with the same mixture."""
    variance = sample.variance
    tau2 = (MIXTURE_EFFECT**2) * sample.unit_variance
    if not (variance > 0 and tau2 > 0) or math.isinf(variance):
        return -math.inf, math.inf
    half = always_valid_half_width(variance, tau2, alpha)
    return sample.value - half, sample.value + half


def _lower_gamma_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    denominator = a
    for _ in range(_GAMMA_ITERATIONS):
        denominator += 1
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _GAMMA_EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_gamma_fraction(a: float, x: float) -> float:
    # Lentz's method on the continued fraction of Γ(a, x).
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, _GAMMA_ITERATIONS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < _GAMMA_EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(statistic: float, df: int) -> float:
    """P(X > statistic) for X ~ χ²(df): the regularised upper incomplete gamma Q(df/2, x/2)."""
    if df < 1:
        raise ValueError("a chi-square needs at least one degree of freedom")
    if statistic <= 0:
        return 1.0
    a, x = df / 2, statistic / 2
    if x < a + 1:
        return max(0.0, 1.0 - _lower_gamma_series(a, x))
    return min(1.0, _upper_gamma_fraction(a, x))


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Observed and expected units per variant, Pearson's χ² and its p-value."""

    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float
    p_value: float
    is_mismatch: bool


def srm_check(
    observed: Mapping[str, int], weights: Mapping[str, float], threshold: float
) -> SrmResult:
    """Do the variants' unit counts fit the configured weights? A mismatch below the
    `threshold` p-value means the assignment, not the product, differs between variants."""
    names = [name for name in weights if weights[name] > 0]
    counts = {name: int(observed.get(name, 0)) for name in names}
    total = sum(counts.values())
    weight_sum = sum(weights[name] for name in names)
    expected = {name: total * weights[name] / weight_sum for name in names}
    if total == 0 or len(names) < 2:
        return SrmResult(counts, expected, 0.0, 1.0, False)
    statistic = math.fsum((counts[n] - expected[n]) ** 2 / expected[n] for n in names)
    p_value = chi2_sf(statistic, len(names) - 1)
    return SrmResult(counts, expected, statistic, p_value, p_value < threshold)
