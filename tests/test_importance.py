"""Hyper-parameter importance (qsrbench.importance): a synthetic recipe → score function with one
informative hyper-parameter; an additive one whose main effects are known in closed form."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qsrbench.importance import fit_forest, importances

VALUES = [[10, 20, 30, 50], [64, 128, 256], [6, 8, 12, 16], [8, 16, 32]]


def _settings():
    return np.array(list(itertools.product(*VALUES)), np.float64)


@pytest.mark.parametrize("kind", ["marginal", "impurity"])
def test_the_one_informative_hyper_parameter_is_found(kind):
    x = _settings()
    rng = np.random.default_rng(0)
    y = 0.02 * x[:, 2] + rng.normal(0, 0.005, len(x))  # only the third column matters
    imp = importances(fit_forest(x, y), VALUES, kind)
    assert int(np.argmax(imp)) == 2 and imp[2] > 0.8
    assert all(imp[i] < 0.1 for i in (0, 1, 3))


def test_marginal_importances_of_an_additive_function():
    """f = a(x0) + b(x1) on a full grid, no noise: the main-effect variance of each part over the
    total, Var(a) / (Var(a) + Var(b)); a = 3·[x0 = 30] - ..., b linear in x1 (hand values below)."""
    x = _settings()
    a = {10: 0.0, 20: 1.0, 30: 3.0, 50: 0.0}
    b = {64: 0.0, 128: 1.0, 256: 2.0}
    y = np.array([a[r[0]] + b[r[1]] for r in x])
    var_a = np.var(list(a.values()))  # 1.5
    var_b = np.var(list(b.values()))  # 2/3
    imp = importances(fit_forest(x, y, trees=200), VALUES)
    assert imp[0] == pytest.approx(var_a / (var_a + var_b), abs=0.05)
    assert imp[1] == pytest.approx(var_b / (var_a + var_b), abs=0.05)
    assert imp[2] < 0.02 and imp[3] < 0.02
    with pytest.raises(ValueError, match="kind must be"):
        importances(fit_forest(x, y), VALUES, "shap")
