"""Intervals against closed forms: a constant difference has a zero-width interval, a normal
sample's bootstrap interval is within 5% of the analytic t interval, the t interval is the
textbook one, and the log-ratio interval matches the delta method on a hand case."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from qsrbench.stats import (bootstrap_mean, overlap, paired_bootstrap, paired_values, ratio_interval,
                            t_interval)


def test_a_constant_paired_difference_has_a_zero_width_interval():
    a = [30.1, 28.4, 33.0, 25.2, 31.7]
    i = paired_bootstrap(a, [x + 0.25 for x in a])
    assert i.estimate == pytest.approx(-0.25) and i.low == pytest.approx(-0.25) and i.high == pytest.approx(-0.25)
    assert not i.contains(0.0)


def test_bootstrap_of_a_normal_sample_matches_the_analytic_interval():
    x = np.random.default_rng(7).normal(10.0, 2.0, size=400)
    boot = bootstrap_mean(x)
    half = st.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    assert boot.estimate == pytest.approx(x.mean())
    assert (boot.high - boot.low) == pytest.approx(2 * half, rel=0.05)
    assert boot.low == pytest.approx(x.mean() - half, abs=0.05 * half)


def test_bootstrap_is_deterministic_and_pairs_by_name():
    x = [1.0, 2.0, 4.0, 8.0]
    assert bootstrap_mean(x) == bootstrap_mean(x)
    a, b = paired_values({"x": 1.0, "y": 2.0, "z": 5.0}, {"y": 1.0, "x": 0.5})
    assert (a, b) == ([1.0, 2.0], [0.5, 1.0])
    with pytest.raises(ValueError, match="equal lengths"):
        paired_bootstrap([1.0], [1.0, 2.0])


def test_t_interval_by_hand():
    # mean 2, s = 1, n = 3: half width = t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    i = t_interval([1.0, 2.0, 3.0])
    assert (i.estimate, i.low, i.high) == pytest.approx((2.0, 2.0 - 2.484138, 2.0 + 2.484138), abs=1e-6)
    one = t_interval([5.0])
    assert one.estimate == 5.0 and math.isinf(one.low) and math.isinf(one.high)


def test_ratio_interval_delta_method_by_hand():
    num, den = [10.0, 12.0], [20.0, 22.0]
    i = ratio_interval(num, den)
    # r = 11/21; var(log r) ≈ s1²/(n1 m1²) + s2²/(n2 m2²) = 2/(2·121) + 2/(2·441)
    va, vb = 2 / (2 * 121), 2 / (2 * 441)
    df = (va + vb) ** 2 / (va ** 2 + vb ** 2)
    t = st.t.ppf(0.975, df)
    r = 11 / 21
    assert i.estimate == pytest.approx(r)
    assert i.low == pytest.approx(r * math.exp(-t * math.sqrt(va + vb)))
    assert i.high == pytest.approx(r * math.exp(t * math.sqrt(va + vb)))
    assert ratio_interval([5.0, 5.0], [10.0, 10.0]).low == pytest.approx(0.5)  # no spread: exact


def test_overlap():
    assert overlap(t_interval([1.0, 2.0, 3.0]), t_interval([4.0, 4.1, 4.2]))
    assert not overlap(t_interval([1.0, 1.01, 1.02]), t_interval([4.0, 4.01, 4.02]))


def test_above_chance_is_the_binomial_bound():
    """Binomial(500, 0.1): mean 50, sd 6.7; its 0.999 quantile is 72 (scipy), so 72 correct is
    still a possible guesser and 73 is not; a chance-level 10% (50) never passes."""
    from qsrbench.stats import above_chance

    assert st.binom.ppf(0.999, 500, 0.1) == 72
    assert not above_chance(50, 500, 0.1) and not above_chance(72, 500, 0.1)
    assert above_chance(73, 500, 0.1)


def test_welch_interval_and_detectable_difference_by_hand():
    from qsrbench.stats import detectable_difference, welch_interval

    # a = (1, 2, 3), b = (2, 4, 6): d = -2; va = 1/3, vb = 4/3; df = (5/3)^2 / ((1/9 + 16/9) / 2) = 2.941
    i = welch_interval([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    df = (5 / 3) ** 2 / ((1 / 9 + 16 / 9) / 2)
    half = st.t.ppf(0.975, df) * math.sqrt(5 / 3)
    assert (i.estimate, i.low, i.high) == pytest.approx((-2.0, -2.0 - half, -2.0 + half))
    # n = 6, std 1: t(0.975, 10) · sqrt(2/6) = 2.2281389 · 0.5773503 = 1.2864166
    assert detectable_difference(1.0, 6) == pytest.approx(1.2864166, abs=1e-6)


def test_rank_correlation_hand_cases_with_ties():
    """Spearman with ties = Pearson of mid-ranks. x = (1, 2, 2, 3) → ranks (1, 2.5, 2.5, 4);
    y = (1, 3, 2, 4) → ranks (1, 3, 2, 4). Centred: (-1.5, 0, 0, 1.5) and (-1.5, 0.5, -0.5, 1.5):
    Σ products 4.5, Σ squares 4.5 and 5 → ρ = 4.5 / sqrt(22.5) = 0.9487. Kendall τ-b: pairs
    (i<j) concordant 5, discordant 0, one tie in x only: τ-b = 5 / sqrt((6 - 1)(6 - 0)) = 0.9129."""
    from qsrbench.stats import rank_correlation

    x, y = [1, 2, 2, 3], [1, 3, 2, 4]
    rho = rank_correlation(x, y, resamples=200)
    assert rho.estimate == pytest.approx(4.5 / math.sqrt(22.5))
    tau = rank_correlation(x, y, "kendall", resamples=200)
    assert tau.estimate == pytest.approx(5 / math.sqrt(30))
    assert rank_correlation([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]).estimate == pytest.approx(-1.0)
    perfect = rank_correlation(list(range(20)), [v * v for v in range(20)], resamples=500)
    assert perfect.low == perfect.high == perfect.estimate == pytest.approx(1.0)  # monotone: every resample 1
    with pytest.raises(ValueError, match="at least 3"):
        rank_correlation([1, 2], [1, 2])


def test_rank_correlation_interval_covers_a_known_population_value():
    """Bivariate normal with correlation r has Spearman ρ = (6/π) asin(r/2) (Pearson 1907):
    for r = 0.6, ρ = 0.5829; 300 pairs give an interval that contains it, of half-width about
    1.96 · (1 - ρ²) · sqrt(1.06 / (n - 3)) (Fieller, Hartley and Pearson 1957: the Fisher-z of ρ
    has variance 1.06 / (n - 3)), within 25 %."""
    from qsrbench.stats import rank_correlation

    rng = np.random.default_rng(3)
    n, r = 300, 0.6
    z = rng.standard_normal((n, 2))
    x, y = z[:, 0], r * z[:, 0] + math.sqrt(1 - r * r) * z[:, 1]
    rho = rank_correlation(x, y, resamples=4000)
    truth = 6 / math.pi * math.asin(r / 2)
    assert rho.low < truth < rho.high
    half = 1.96 * (1 - truth ** 2) * math.sqrt(1.06 / (n - 3))
    assert (rho.high - rho.low) / 2 == pytest.approx(half, rel=0.25)
