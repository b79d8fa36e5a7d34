"""The simulation-noise measurement (qsrbench.simnoise) on hand cases: its summary arithmetic by
hand, a continuous model that jitter cannot move, and a model that rounds at exact ties, which
jitter must move (the mechanism behind the 4-bit PTQ spread between machines)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qsrbench.registry import datasets
from qsrbench.simnoise import NOISE_BAND, jitter_scores, noise_summary, tolerance_needed
from qsrbench.spec import Protocol

from .standins import build_sr_root


def test_summary_and_needed_tolerance_by_hand():
    s = noise_summary(10.0, [10.0, 12.0])
    # values 10, 10, 12: mean 32/3, squared deviations 4/9, 4/9, 16/9, sample variance 24/18
    assert s["sd"] == pytest.approx(math.sqrt(4 / 3), rel=1e-12)
    assert s["range"] == 2.0 and s["repeats"] == 2 and s["jittered"] == [10.0, 12.0]
    assert tolerance_needed(s) == pytest.approx(4 * math.sqrt(2) * math.sqrt(4 / 3), rel=1e-12)
    assert NOISE_BAND == pytest.approx(5.656854, rel=1e-6)
    flat = noise_summary(30.0, [30.0, 30.0])
    assert flat["sd"] == 0.0 and tolerance_needed(flat) == 0.0
    assert tolerance_needed({"sd": 0.001, "range": 0.05}) == 0.05  # never below the range seen


class _Up(nn.Module):
    def __init__(self, scale: int, step: float | None = None):
        super().__init__()
        self.scale, self.step = scale, step

    def forward(self, x):
        if self.step is not None:  # a coarse quantizer: integer LR pixels / 2 sit on exact ties
            x = torch.round(x / self.step) * self.step
        return nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")


@pytest.fixture(scope="module")
def set5(tmp_path_factory):
    root = build_sr_root(tmp_path_factory.mktemp("noise") / "datasets")
    return datasets.get("Set5").load(root, [2], verify=True)


def test_a_continuous_model_does_not_move(set5):
    protocol = Protocol()
    scores = jitter_scores(_Up(2), set5, 2, protocol, repeats=3)
    assert len(scores) == 3
    assert len(set(scores)) == 1  # outputs are rounded to 8 bits before scoring: exactly equal


def test_rounding_at_ties_moves_under_jitter(set5):
    protocol = Protocol()
    plain = jitter_scores(_Up(2, step=2.0), set5, 2, protocol, repeats=0)
    assert plain == []
    scores = jitter_scores(_Up(2, step=2.0), set5, 2, protocol, repeats=4, seed=7)
    assert len(set(scores)) == 4  # every seed breaks the ties differently
    assert noise_summary(scores[0], scores[1:])["sd"] > 5e-5
    assert jitter_scores(_Up(2, step=2.0), set5, 2, protocol, repeats=4, seed=7) == scores  # seeded


def test_negative_repeats_is_an_error(set5):
    with pytest.raises(ValueError, match="repeats"):
        jitter_scores(_Up(2), set5, 2, Protocol(), repeats=-1)
