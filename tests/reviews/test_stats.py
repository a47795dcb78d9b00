"""The experiment statistics against SciPy and against simulated experiments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from prodloop.reviews.stats import (
    Sample,
    chi2_sf,
    log_likelihood_ratio,
    mean_sample,
    mixture_variance,
    msprt,
    proportion_sample,
    quantile_interval,
    quantile_sample,
    srm_check,
    welch_z,
)

ALPHA = 0.05
LOOKS = 14  # an experiment read every day for two weeks


def test_welch_statistic_and_fixed_sample_p_value_match_scipy() -> None:
    rng = np.random.default_rng(7)
    for control, treatment in [
        (rng.lognormal(6.0, 0.5, 400), rng.lognormal(6.05, 0.6, 350)),
        (rng.normal(0.002, 0.0005, 40), rng.normal(0.0021, 0.0007, 55)),
        ((rng.random(3000) < 0.10).astype(float), (rng.random(2900) < 0.12).astype(float)),
    ]:
        z, p_value = welch_z(mean_sample(list(control)), mean_sample(list(treatment)))
        welch = stats.ttest_ind(treatment, control, equal_var=False)
        assert z == pytest.approx(welch.statistic, rel=1e-9)
        assert p_value == pytest.approx(2 * stats.norm.sf(abs(welch.statistic)), rel=1e-9)
        # With hundreds of observations the normal and t p-values agree to the third digit.
        if len(control) > 300:
            assert p_value == pytest.approx(welch.pvalue, abs=1e-3)


def test_a_proportion_is_the_mean_of_its_zeros_and_ones() -> None:
    ones = [1.0] * 37 + [0.0] * 263
    assert proportion_sample(37, 300) == pytest.approx(mean_sample(ones))
    assert proportion_sample(37, 300).value == pytest.approx(37 / 300)
    assert proportion_sample(37, 300).unit_variance == pytest.approx(np.var(ones, ddof=1))


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 20])
def test_chi_square_tail_matches_scipy(df: int) -> None:
    for statistic in (0.001, 0.3, 1.0, 2.5, 6.63, 10.83, 25.0, 60.0, 120.0):
        expected = stats.chi2.sf(statistic, df)
        assert chi2_sf(statistic, df) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_srm_statistic_and_p_value_match_scipy_chisquare() -> None:
    observed = {"off": 3410, "on": 3290, "blue": 3300}
    weights = {"off": 34.0, "on": 33.0, "blue": 33.0}
    result = srm_check(observed, weights, 0.001)
    expected = [10_000 * w / 100 for w in weights.values()]
    scipy_result = stats.chisquare(list(observed.values()), f_exp=expected)
    assert result.statistic == pytest.approx(scipy_result.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(scipy_result.pvalue, rel=1e-9)
    assert result.expected == pytest.approx({"off": 3400.0, "on": 3300.0, "blue": 3300.0})


def test_srm_flags_a_55_45_split_of_a_50_50_flag_and_not_a_fair_one() -> None:
    skewed = srm_check({"on": 5500, "off": 4500}, {"on": 50.0, "off": 50.0}, 0.001)
    assert skewed.is_mismatch and skewed.statistic == pytest.approx(100.0)
    assert skewed.p_value == pytest.approx(stats.chi2.sf(100.0, 1), rel=1e-9)
    fair = srm_check({"on": 5000, "off": 5000}, {"on": 50.0, "off": 50.0}, 0.001)
    assert not fair.is_mismatch and fair.p_value == 1.0
    # Fair coin flips: SRM is flagged about once in a thousand, so never in these 200.
    rng = np.random.default_rng(11)
    flagged = sum(
        srm_check(
            {"on": int(n), "off": 10_000 - int(n)}, {"on": 50.0, "off": 50.0}, 0.001
        ).is_mismatch
        for n in rng.binomial(10_000, 0.5, 200)
    )
    assert flagged == 0
    # A 90/10 split is what a 90/10 flag should give.
    assert not srm_check({"on": 9030, "off": 970}, {"on": 90.0, "off": 10.0}, 0.001).is_mismatch


@pytest.mark.parametrize("n", [5, 19, 20, 59, 100, 101, 1000, 4321])
def test_quantile_interval_matches_scipy_quantile_test(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.lognormal(6.0, 0.8, n)
    for q in (0.5, 0.95):
        low, high = quantile_interval(list(values), q)
        scipy_ci = stats.quantile_test(values, q=0, p=q).confidence_interval(0.95)
        assert low == pytest.approx(scipy_ci.low, nan_ok=True)
        assert high == pytest.approx(scipy_ci.high, nan_ok=True)


def test_p95_sample_is_numpys_quantile_with_the_intervals_spread() -> None:
    values = list(np.random.default_rng(3).lognormal(6.0, 0.5, 2000))
    sample = quantile_sample(values)
    assert sample.value == pytest.approx(np.quantile(values, 0.95))
    low, high = stats.quantile_test(np.array(values), q=0, p=0.95).confidence_interval()
    assert math.sqrt(sample.variance) == pytest.approx((high - low) / (2 * 1.959963984540054))


def test_mixture_likelihood_ratio_matches_numerical_integration() -> None:
    # Λ = ∫ N(d; θ, V) N(θ; 0, τ²) dθ / N(d; 0, V), integrated by SciPy.
    for difference, variance, tau2 in [(0.01, 4e-5, 9e-4), (-0.3, 0.02, 0.05), (0.0, 1.0, 0.1)]:
        sd = math.sqrt(variance)
        numerator, _ = integrate.quad(
            lambda theta, d=difference, s=sd, t=tau2: (
                stats.norm.pdf(d, theta, s) * stats.norm.pdf(theta, 0, math.sqrt(t))
            ),
            difference - 40 * (sd + math.sqrt(tau2)),
            difference + 40 * (sd + math.sqrt(tau2)),
            points=[0.0, difference],
        )
        expected = numerator / stats.norm.pdf(difference, 0, sd)
        assert math.exp(log_likelihood_ratio(difference, variance, tau2)) == pytest.approx(
            expected, rel=1e-7
        )


def test_always_valid_interval_ends_are_where_the_test_starts_rejecting() -> None:
    control, treatment = proportion_sample(520, 5000), proportion_sample(650, 5000)
    result = msprt(control, treatment, ALPHA)
    variance = control.variance + treatment.variance
    tau2 = mixture_variance(control, treatment)
    for end in (result.ci_low, result.ci_high):
        # Testing "the difference is `end`" gives Λ = 1/α exactly at the interval's ends.
        assert log_likelihood_ratio(result.difference - end, variance, tau2) == pytest.approx(
            math.log(1 / ALPHA)
        )
    assert result.p_value == pytest.approx(
        math.exp(-log_likelihood_ratio(result.difference, variance, tau2))
    )
    assert result.ci_low > 0 and result.is_significant and result.p_value < ALPHA
    # Wider than the fixed-sample 95 % interval: the price of reading it every day.
    fixed = 1.959963984540054 * math.sqrt(variance)
    assert result.ci_high - result.difference > fixed


def _daily_proportions(
    rng: np.random.Generator, rates: tuple[float, float], users_per_day: int
) -> list[tuple[Sample, Sample]]:
    daily = rng.binomial(users_per_day, rates, size=(LOOKS, 2)).cumsum(axis=0)
    trials = users_per_day * np.arange(1, LOOKS + 1)
    return [
        (proportion_sample(int(c), int(n)), proportion_sample(int(t), int(n)))
        for (c, t), n in zip(daily, trials, strict=True)
    ]


def test_aa_proportions_checked_every_day_declare_a_winner_at_most_5_percent() -> None:
    rng = np.random.default_rng(2026)
    experiments, winners, covered = 400, 0, 0
    for _ in range(experiments):
        looks = [msprt(c, t, ALPHA) for c, t in _daily_proportions(rng, (0.1, 0.1), 150)]
        winners += any(look.is_significant for look in looks)
        covered += all(look.ci_low <= 0 <= look.ci_high for look in looks)
    assert winners / experiments <= 0.05
    assert covered / experiments >= 0.95


def test_aa_means_and_p95_checked_every_day_declare_a_winner_at_most_5_percent() -> None:
    rng = np.random.default_rng(48)
    experiments, mean_winners, p95_winners = 150, 0, 0
    for _ in range(experiments):
        control, treatment = rng.lognormal(6.0, 0.7, (2, LOOKS * 120))
        mean_hit = p95_hit = False
        for day in range(1, LOOKS + 1):
            a, b = list(control[: day * 120]), list(treatment[: day * 120])
            mean_hit |= msprt(mean_sample(a), mean_sample(b), ALPHA).is_significant
            p95_hit |= msprt(quantile_sample(a), quantile_sample(b), ALPHA).is_significant
        mean_winners += mean_hit
        p95_winners += p95_hit
    assert mean_winners / experiments <= 0.05
    assert p95_winners / experiments <= 0.05


def test_a_real_effect_is_found_within_two_weeks() -> None:
    rng = np.random.default_rng(5)
    found_on: list[int] = []
    for _ in range(100):
        looks = _daily_proportions(rng, (0.10, 0.13), 300)
        day = next((i for i, (c, t) in enumerate(looks, 1) if msprt(c, t, ALPHA).is_significant),
                   None)  # fmt: skip
        if day is not None:
            found_on.append(day)
            assert msprt(*looks[day - 1], ALPHA).difference > 0
    assert len(found_on) >= 90  # power of the daily-read test over two weeks
