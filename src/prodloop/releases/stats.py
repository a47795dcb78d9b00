"""The statistics the canary judge uses: rank and exact count tests, in pure Python.

- `mann_whitney_u`: the Mann-Whitney U test with the normal approximation, tie
  correction and continuity correction (the same figures as SciPy's
  ``mannwhitneyu(..., method="asymptotic")``).
- `fisher_exact_greater`: Fisher's exact test, one-sided, that the first of two
  proportions is the larger. Exact at every sample size, so it needs no minimum sample
  to be valid.
- `binomial_sf`: the upper tail of a binomial, for "is this rate above a threshold".
- `alpha_at_look`: an alpha-spending sequence that keeps any test valid under repeated
  looks (see its docstring for the guarantee).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Alternative = Literal["two-sided", "greater", "less"]

# Summing a tail stops once a term adds less than this share of the sum so far.
_TAIL_PRECISION = 1e-17


@dataclass(frozen=True)
class MannWhitneyResult:
    """U of the first sample, its z-score and the p-value of the chosen alternative."""

    u: float
    z: float
    p_value: float


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Ranks (1-based, ties share their mean rank) and the size of every group of ties."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    tie_sizes: list[int] = []
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        mean_rank = (start + end) / 2.0 + 1.0
        for position in range(start, end + 1):
            result[order[position]] = mean_rank
        tie_sizes.append(end - start + 1)
        start = end + 1
    return result, tie_sizes


def mann_whitney_u(
    x: Sequence[float],
    y: Sequence[float],
    alternative: Alternative = "two-sided",
    *,
    use_continuity: bool = True,
) -> MannWhitneyResult:
    """Mann-Whitney U test of x against y ("greater": x tends to be larger than y).

    U is the first sample's statistic (pairs where x beats y, ties counting one half).
    Both samples must be non-empty; when every value is tied the p-value is 1.
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    rank_of, tie_sizes = ranks([*x, *y])
    u1 = sum(rank_of[:n1]) - n1 * (n1 + 1) / 2.0
    u2 = n1 * n2 - u1
    n = n1 + n2
    mean_u = n1 * n2 / 2.0
    tie_term = sum(t**3 - t for t in tie_sizes) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if variance <= 0:
        return MannWhitneyResult(u=u1, z=0.0, p_value=1.0)
    sd = math.sqrt(variance)
    correction = 0.5 if use_continuity else 0.0
    if alternative == "greater":
        z = (u1 - mean_u - correction) / sd
        p_value = normal_sf(z)
    elif alternative == "less":
        z = (u2 - mean_u - correction) / sd
        p_value = normal_sf(z)
        z = -z
    else:
        z = (max(u1, u2) - mean_u - correction) / sd
        p_value = min(1.0, 2.0 * normal_sf(z))
        z = z if u1 >= u2 else -z
    return MannWhitneyResult(u=u1, z=z, p_value=p_value)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def binomial_sf(successes: int, trials: int, p: float) -> float:
    """P(X ≥ successes) for X ~ Binomial(trials, p)."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for k in range(successes, trials + 1):
        term = math.exp(_log_choose(trials, k) + k * log_p + (trials - k) * log_q)
        total += term
        if k > trials * p and term < total * _TAIL_PRECISION:
            break
    return min(1.0, total)


def fisher_exact_greater(
    first_events: int, first_total: int, second_events: int, second_total: int
) -> float:
    """One-sided Fisher's exact p-value that the first proportion exceeds the second.

    Conditional on the events of both samples together, the first sample's count is
    hypergeometric when both proportions are equal; the p-value is its upper tail.
    """
    if not (0 <= first_events <= first_total and 0 <= second_events <= second_total):
        raise ValueError("event counts must lie between 0 and their totals")
    population = first_total + second_total
    events = first_events + second_events
    if first_events == 0 or population == 0:
        return 1.0
    highest = min(events, first_total)
    log_denominator = _log_choose(population, first_total)
    mean = first_total * events / population
    total = 0.0
    for k in range(first_events, highest + 1):
        term = math.exp(
            _log_choose(events, k)
            + _log_choose(population - events, first_total - k)
            - log_denominator
        )
        total += term
        if k > mean and term < total * _TAIL_PRECISION:
            break
    return min(1.0, total)


def alpha_at_look(alpha: float, look: int) -> float:
    """The share of `alpha` a test may spend at look `look` (1, 2, …): α / (look·(look+1)).

    The shares add up to α over any number of looks (1/2 + 1/6 + 1/12 + … = 1), so by the
    union bound the chance that a test ever rejects a true null hypothesis, however often
    it is looked at and however the looks' samples overlap, is at most α. No number of
    looks has to be planned in advance.
    """
    if look < 1:
        raise ValueError("looks are counted from 1")
    return alpha / (look * (look + 1))


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1) of already sorted values, linearly interpolated."""
    if not sorted_values:
        raise ValueError("no values")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    weight = position - low
    return sorted_values[low] * (1.0 - weight) + sorted_values[high] * weight
