"""Hyper-parameter importance from a random forest fitted on (setting → score) samples.

Used by minimum-importance pruning (Zheng et al., "Rethinking Performance Estimation in Neural
Architecture Search", CVPR 2020: a random forest ranks the hyper-parameters of the estimation
recipe by importance and the least important is fixed). Two measures:

* ``"marginal"`` (fANOVA-style main effects; Hutter, Hoos and Leyton-Brown, ICML 2014): for each
  hyper-parameter ``i`` the forest's prediction is averaged over the other hyper-parameters (the
  product of the candidate values, or a random sample of it when larger than ``grid_limit``) at
  each candidate value ``v`` of ``i``; the importance is the variance of these marginal means
  over ``v``, divided by the variance of the predictions over the whole grid. Main effects only:
  interactions are not attributed, so the importances need not sum to 1.
* ``"impurity"``: scikit-learn's mean decrease in impurity (``feature_importances_``), normalised
  to sum to 1; biased towards hyper-parameters with many distinct values.

Hyper-parameters are numbers (categorical choices are passed as their codes); the forest is
``sklearn.ensemble.RandomForestRegressor`` with a fixed ``seed``.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

__all__ = ["fit_forest", "importances", "marginal_means"]


def fit_forest(x: np.ndarray, y: np.ndarray, *, trees: int = 100, seed: int = 0):
    """A random forest regressor of ``y`` on the rows of ``x`` (``(n, d)``)."""
    from sklearn.ensemble import RandomForestRegressor

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(y) < 2:
        raise ValueError(f"need (n, d) settings and n scores with n >= 2, got {x.shape} and {y.shape}")
    return RandomForestRegressor(n_estimators=trees, random_state=seed).fit(x, y)


def _grid(values: Sequence[Sequence[float]], limit: int, seed: int) -> np.ndarray:
    size = int(np.prod([len(v) for v in values]))
    if size <= limit:
        return np.array(list(itertools.product(*values)), np.float64)
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(np.asarray(v, np.float64), size=limit) for v in values], axis=1)


def marginal_means(forest, values: Sequence[Sequence[float]], column: int, *, grid_limit: int = 20_000,
                   seed: int = 0) -> list[float]:
    """The forest's prediction averaged over the other columns' candidate values (their product,
    or a random sample of it larger than ``grid_limit``) at each candidate value of ``column``: the
    main effect of that hyper-parameter, free of the others' confounding."""
    grid = _grid(values, grid_limit, seed)
    out = []
    for v in values[column]:
        g = grid.copy()
        g[:, column] = v
        out.append(float(forest.predict(g).mean()))
    return out


def importances(forest, values: Sequence[Sequence[float]], kind: str = "marginal", *,
                grid_limit: int = 20_000, seed: int = 0) -> np.ndarray:
    """Importance of each hyper-parameter (one per column, ``values[i]`` its candidate values)."""
    if kind == "impurity":
        imp = np.asarray(forest.feature_importances_, np.float64)
        return imp / imp.sum() if imp.sum() > 0 else imp
    if kind != "marginal":
        raise ValueError(f"kind must be 'marginal' or 'impurity', not {kind!r}")
    total = float(forest.predict(_grid(values, grid_limit, seed)).var())
    out = np.zeros(len(values))
    if total == 0:
        return out
    for i in range(len(values)):
        out[i] = np.var(marginal_means(forest, values, i, grid_limit=grid_limit, seed=seed)) / total
    return out
