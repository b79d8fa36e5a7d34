"""MDENAS: multinomial distribution learning for neural architecture search.

Zheng, Ji, Tang, Wang, Zhang, Zhang and Tian, "Multinomial Distribution Learning for Effective
Neural Architecture Search", ICCV 2019 (arXiv 1905.07529). One operation per edge sampled from
per-edge multinomial distributions, trained one path at a time; the distributions follow the
epoch/accuracy ranking rule of :mod:`qsrbench.nas.distributions`. Paper (CIFAR-10): the ICCV
version states 2.55% test error in 4 GPU-hours on a GTX 1080 Ti (what ``mdenas-full`` claims);
arXiv v1 stated 2.4%.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qsrbench.nas.method import NASMethod, NASParams
from qsrbench.registry import register_method


class MDENASParams(NASParams):
    name: Literal["mdenas"]
    distribution_lr: float = Field(0.01, gt=0)


@register_method
class MDENAS(NASMethod):
    name = "mdenas"
    Params = MDENASParams
    search_method = "mdenas"
    citation = "Zheng et al., MDENAS, ICCV 2019 (arXiv 1905.07529)"
    budget_fields = {"distribution_lr": "mdenas_lr"}
