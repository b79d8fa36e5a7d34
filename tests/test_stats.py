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
