"""The binarized cell search space: the cell operations with 1-bit convolutions.

Chen, Zhuo, Zhang, Zheng, Liu, Doermann, Ji, AAAI 2020 (arXiv 1911.10862); followed for what
is binarized: the authors' released evaluation model (github.com/bczhangbczhang, its
``models/darts_ops_x.py``; the search-time model is not released). Every convolution inside a cell becomes a :class:`~qsrbench.quant.BinaryConv2d`
(XNOR-style ``mean|W| · sign(W)`` per output channel): the depthwise and pointwise convolutions of
the separable and dilated operations, the 1x1 preprocessing ``ReLUConvBN`` and the
``FactorizedReduce`` of a strided ``skip_connect``. Kept in full precision, as in that code: the
stem, a cell's ``preprocess0`` when it is a ``FactorizedReduce`` (after a reduction cell), every
BatchNorm, pooling, identity shortcuts, the auxiliary head and the classifier. Activations stay
real-valued unless ``binary_input`` (the released code binarizes weights only).
"""

from __future__ import annotations

from torch import nn

from ..quant.binary_layers import binarize_convs
from .ops import FactorizedReduce

__all__ = ["binarize_cells"]


def binarize_cells(net: nn.Module, binary_input: bool = False) -> nn.Module:
    """``net`` (a :class:`~.supernet.Supernet` or :class:`~.network.GenotypeNetwork`) with the
    convolutions of its cells binarized in place, as the module docstring lists; returns ``net``."""
    for cell in net.cells:
        for name, child in cell.named_children():
            if name == "preprocess0" and isinstance(child, FactorizedReduce):
                continue
            setattr(cell, name, binarize_convs(child, binary_input))
    return net
