"""DARTS (first order): differentiable architecture search.

Liu, Simonyan and Yang, "DARTS: Differentiable Architecture Search", ICLR 2019 (arXiv
1806.09055). The supernet's weighted mode with α learned by Adam on the validation half and the
weights by SGD on the training half, alternating per mini-batch (first-order approximation).
Paper (CIFAR-10, first order): 3.00 ± 0.14% test error, 3.3M params, 1.5 GPU-days.
"""

from __future__ import annotations

from typing import Literal

from qsrbench.nas.method import NASMethod, NASParams
from qsrbench.registry import register_method


class DARTSParams(NASParams):
    name: Literal["darts"]


@register_method
class DARTS(NASMethod):
    name = "darts"
    Params = DARTSParams
    search_method = "darts"
    citation = "Liu et al., DARTS, ICLR 2019 (arXiv 1806.09055)"
