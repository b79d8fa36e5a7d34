"""Uncertainty of compared numbers: bootstrap intervals over images, t intervals over seeds.

Conventions (stated on every leaderboard that uses them):

* A set's PSNR/SSIM is the mean of its per-image values. Its uncertainty is a percentile
  bootstrap over the images: ``RESAMPLES`` resamples with replacement, a fixed-seed
  ``numpy.random.PCG64`` generator, the 2.5 % and 97.5 % quantiles of the resampled means.
* A difference of two results on the same images (a quantized model minus its FP model) is
  *paired*: the bootstrap resamples the per-image differences, so image difficulty cancels.
* A difference to a published number treats the publication as exact: the interval is the
  bootstrap interval of the measured mean minus the claim.
* A rank correlation (Spearman's ρ, Kendall's τ-b; ties share their mean rank) over ``n`` pairs
  has a percentile-bootstrap interval over the pairs (resampled with replacement, ranked again).
* Over seeds (NAS), the interval is Student's t: ``mean ± t(0.975, n-1) · s / sqrt(n)``.
* A ratio of two means over seeds (search time against DARTS's) has the delta-method interval
  on the log scale, ``r · exp(± t · sqrt(s1²/(n1 m1²) + s2²/(n2 m2²)))``, with Welch's degrees
  of freedom.

An interval describes the sampling of images (or seeds), not a measurement error of a fixed
model on a fixed set: it says how far another set of the same kind could move the number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _st

__all__ = ["RESAMPLES", "SEED", "LEVEL", "Interval", "bootstrap_mean", "paired_bootstrap",
           "t_interval", "ratio_interval", "overlap", "paired_values", "above_chance", "welch_interval",
           "detectable_difference", "rank_correlation"]

RESAMPLES = 10_000
SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided interval at ``level``; ``n``: values it came from."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def shifted(self, by: float) -> "Interval":
        return Interval(self.estimate - by, self.low - by, self.high - by, self.n, self.level)

    def fmt(self, digits: int = 2, signed: bool = False) -> str:
        f = f"{{:{'+' if signed else ''}.{digits}f}}"
        return f"{f.format(self.estimate)} [{f.format(self.low)}, {f.format(self.high)}]"


def bootstrap_mean(values: Sequence[float], *, resamples: int = RESAMPLES, level: float = LEVEL,
                   seed: int = SEED) -> Interval:
    """Percentile-bootstrap interval of the mean of ``values``."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values to bootstrap")
    rng = np.random.Generator(np.random.PCG64(seed))
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(x.mean()), float(lo), float(hi), int(x.size), level)


def paired_values(a: dict[str, float], b: dict[str, float]) -> tuple[list[float], list[float]]:
    """The values of ``a`` and ``b`` on the keys (image names) they share, in one order."""
    keys = sorted(set(a) & set(b))
    return [a[k] for k in keys], [b[k] for k in keys]


def paired_bootstrap(a: Sequence[float], b: Sequence[float], **kwargs) -> Interval:
    """Interval of ``mean(a - b)`` over pairs ``(a_i, b_i)`` (resampling the pairs)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    return bootstrap_mean(np.asarray(a, np.float64) - np.asarray(b, np.float64), **kwargs)


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Student-t interval of the mean; a single value has an unbounded interval."""
    x = np.asarray(values, dtype=np.float64)
    m = float(x.mean())
    if x.size < 2:
        return Interval(m, -math.inf, math.inf, int(x.size), level)
    half = float(_st.t.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Interval(m, m - half, m + half, int(x.size), level)


def ratio_interval(num: Sequence[float], den: Sequence[float], level: float = LEVEL) -> Interval:
    """``mean(num) / mean(den)`` with the log-scale delta-method interval (Welch df)."""
    a, b = np.asarray(num, np.float64), np.asarray(den, np.float64)
    r = float(a.mean() / b.mean())
    if a.size < 2 or b.size < 2:
        return Interval(r, -math.inf, math.inf, int(min(a.size, b.size)), level)
    va, vb = a.var(ddof=1) / (a.size * a.mean() ** 2), b.var(ddof=1) / (b.size * b.mean() ** 2)
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(r, r, r, int(min(a.size, b.size)), level)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    t = float(_st.t.ppf((1 + level) / 2, df))
    return Interval(r, r * math.exp(-t * se), r * math.exp(t * se), int(min(a.size, b.size)), level)


def overlap(a: Interval, b: Interval) -> bool:
    """Whether two intervals share a point (the estimates are then not told apart)."""
    return a.low <= b.high and b.low <= a.high


def above_chance(correct: int, n: int, p: float, alpha: float = 1e-3) -> bool:
    """Whether ``correct`` of ``n`` is more than a guesser of success rate ``p`` reaches with
    probability ``alpha``: above the ``1 - alpha`` quantile of Binomial(n, p) (one-sided)."""
    return correct > _st.binom.ppf(1 - alpha, n, p)


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """``mean(a) - mean(b)`` with Welch's t interval (unequal variances)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return Interval(d, -math.inf, math.inf, int(min(x.size, y.size)), level)
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(d, d, d, int(min(x.size, y.size)), level)
    df = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (y.size - 1))
    half = float(_st.t.ppf((1 + level) / 2, df)) * se
    return Interval(d, d - half, d + half, int(min(x.size, y.size)), level)


def detectable_difference(std: float, n: int, level: float = LEVEL) -> float:
    """Half-width of the interval of a difference of two means of ``n`` values with standard
    deviation ``std`` each (pooled t, 2n - 2 df): smaller differences are not told apart."""
    if n < 2:
        return math.inf
    return float(_st.t.ppf((1 + level) / 2, 2 * n - 2)) * std * math.sqrt(2 / n)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's ρ of each row pair of ``(R, n)`` arrays: Pearson's r of the mid-ranks."""
    rx, ry = _st.rankdata(x, axis=1), _st.rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=1) / den


def rank_correlation(x: Sequence[float], y: Sequence[float], kind: str = "spearman", *,
                     resamples: int = RESAMPLES, level: float = LEVEL, seed: int = SEED) -> Interval:
    """Spearman's ρ (``kind="spearman"``) or Kendall's τ-b (``"kendall"``) of the pairs
    ``(x_i, y_i)`` with its percentile-bootstrap interval over the pairs (resamples in which a
    side is constant, where the correlation is undefined, are left out)."""
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 3:
        raise ValueError(f"rank correlation needs two equal-length samples of at least 3 values, "
                         f"got {a.shape} and {b.shape}")
    if kind not in ("spearman", "kendall"):
        raise ValueError(f"kind must be 'spearman' or 'kendall', not {kind!r}")
    idx = np.random.Generator(np.random.PCG64(seed)).integers(0, a.size, size=(resamples, a.size))
    if kind == "spearman":
        estimate = float(_spearman_rows(a[None], b[None])[0])
        boot = _spearman_rows(a[idx], b[idx])
    else:
        estimate = float(_st.kendalltau(a, b).statistic)
        boot = np.array([_st.kendalltau(a[i], b[i]).statistic for i in idx])
    boot = boot[np.isfinite(boot)]
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(lo), float(hi), int(a.size), level)
