"""The judge's statistics against textbook values, SciPy (when installed) and simulation."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodloop.releases.stats import (
    alpha_at_look,
    binomial_sf,
    fisher_exact_greater,
    mann_whitney_u,
    quantile,
    ranks,
)

# SciPy's documentation example (Conover): ages of males and females at some event.
MALES = [19, 22, 16, 29, 24]
FEMALES = [20, 11, 17, 12]


def test_mann_whitney_matches_the_textbook_example() -> None:
    result = mann_whitney_u(MALES, FEMALES)
    assert result.u == 17.0
    # SciPy: mannwhitneyu(males, females, method="asymptotic").pvalue
    assert result.p_value == pytest.approx(0.11134688653314041, rel=1e-12)


def test_mann_whitney_one_sided_is_half_the_two_sided_tail() -> None:
    greater = mann_whitney_u(MALES, FEMALES, "greater")
    less = mann_whitney_u(MALES, FEMALES, "less")
    assert greater.p_value == pytest.approx(0.11134688653314041 / 2, rel=1e-12)
    # z = (U − n1·n2/2 − ½) / σ with σ² = n1·n2·(n + 1)/12
    assert greater.z == pytest.approx((17 - 10 - 0.5) / math.sqrt(5 * 4 * 10 / 12))
    assert less.p_value > 0.9


def test_mann_whitney_tie_correction_by_hand() -> None:
    x, y = [1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 4.0, 4.0, 5.0]
    # Ranks: 1→1, the three 2s→3, the two 3s→5.5, the two 4s→7.5, 5→9.
    u = (1 + 3 + 3 + 5.5) - 4 * 5 / 2
    ties = (3**3 - 3) + (2**3 - 2) + (2**3 - 2)
    sigma = math.sqrt(4 * 5 / 12 * (10 - ties / (9 * 8)))
    z = (abs(u - 10) - 0.5) / sigma
    result = mann_whitney_u(x, y)
    assert result.u == u
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)


def test_mann_whitney_all_tied_gives_no_evidence() -> None:
    assert mann_whitney_u([5.0, 5.0], [5.0, 5.0, 5.0]).p_value == 1.0
    with pytest.raises(ValueError):
        mann_whitney_u([], [1.0])


def test_mann_whitney_agrees_with_scipy_when_installed() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rnd = random.Random(3)
    x = [round(rnd.lognormvariate(6, 0.8)) for _ in range(40)]
    y = [round(rnd.lognormvariate(6.2, 0.8)) for _ in range(55)]
    for alternative in ("two-sided", "greater", "less"):
        expected = scipy_stats.mannwhitneyu(x, y, alternative=alternative, method="asymptotic")
        result = mann_whitney_u(x, y, alternative)
        assert result.u == expected.statistic
        assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_ranks_share_the_mean_rank_of_ties() -> None:
    assert ranks([10.0, 20.0, 10.0, 30.0]) == ([1.5, 3.0, 1.5, 4.0], [2, 1, 1])


def test_fisher_exact_matches_the_lady_tasting_tea() -> None:
    # Fisher's own example: 3 of 4 cups right; P = (16 + 1) / 70.
    assert fisher_exact_greater(3, 4, 1, 4) == pytest.approx(17 / 70, rel=1e-12)
    # [[3, 7], [1, 9]]: P(X ≥ 3) for the hypergeometric(20, 4, 10)
    expected = (4 * math.comb(16, 7) + math.comb(16, 6)) / math.comb(20, 10)
    assert fisher_exact_greater(3, 10, 1, 10) == pytest.approx(expected, rel=1e-12)
    assert fisher_exact_greater(0, 10, 5, 10) == 1.0


def test_binomial_tail_matches_the_sum_of_terms() -> None:
    expected = sum(math.comb(20, k) * 0.1**k * 0.9 ** (20 - k) for k in range(5, 21))
    assert binomial_sf(5, 20, 0.1) == pytest.approx(expected, rel=1e-12)
    assert binomial_sf(0, 20, 0.1) == 1.0
    assert binomial_sf(21, 20, 0.1) == 0.0
    assert binomial_sf(10, 10, 0.01) == pytest.approx(1e-20, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=1, max_value=30),
)
def test_fisher_exact_is_a_probability_that_grows_with_the_first_count(
    a: int, c: int, n1: int, n2: int
) -> None:
    a, c = min(a, n1), min(c, n2)
    p_value = fisher_exact_greater(a, n1, c, n2)
    assert 0.0 <= p_value <= 1.0
    if a < n1:
        assert fisher_exact_greater(a + 1, n1, c, n2) <= p_value + 1e-12


def test_alpha_spending_adds_up_to_alpha() -> None:
    assert alpha_at_look(0.02, 1) == 0.01
    assert sum(alpha_at_look(0.02, k) for k in range(1, 10_000)) == pytest.approx(0.02, rel=1e-3)
    with pytest.raises(ValueError):
        alpha_at_look(0.02, 0)


def test_quantile_interpolates() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([7.0], 0.95) == 7.0


def _rejects_under_repeated_looks(
    rnd: random.Random, looks: int, per_look: int, alpha: float, *, spend: bool
) -> bool:
    """One rollout with equal error rates, analysed cumulatively at every look."""
    canary = [0, 0]
    stable = [0, 0]
    for look in range(1, looks + 1):
        for _ in range(per_look):
            canary[0] += rnd.random() < 0.05
            stable[0] += rnd.random() < 0.05
        canary[1] += per_look
        stable[1] += per_look * 4
        stable[0] += sum(rnd.random() < 0.05 for _ in range(per_look * 3))
        p_value = fisher_exact_greater(canary[0], canary[1], stable[0], stable[1])
        level = alpha_at_look(alpha, look) if spend else alpha
        if p_value <= level:
            return True
    return False


def test_false_positive_rate_under_repeated_looks_stays_within_alpha() -> None:
    rnd = random.Random(20261127)
    alpha, looks, runs = 0.05, 20, 400
    spent = sum(
        _rejects_under_repeated_looks(rnd, looks, 20, alpha, spend=True) for _ in range(runs)
    )
    naive = sum(
        _rejects_under_repeated_looks(rnd, looks, 20, alpha, spend=False) for _ in range(runs)
    )
    assert spent / runs <= alpha
    # Testing every look at the full α is what the spending protects against.
    assert naive / runs > alpha
