"""BNAS with PCNN as the binarizer: the same binarized search and final training as ``bnas``
(reference/bnas.py), every binarized cell convolution a PCNN projection instead of XNOR.

Chen, Zhuo, Zhang, Zheng, Liu, Doermann, Ji, "Binarized Neural Architecture Search", AAAI 2020
(arXiv 1911.10862): "Two optimization methods for binarized neural networks are used", XNOR and
PCNN (Gu et al., AAAI 2019, arXiv 1811.12755); the released BNAS code (bczhangbczhang/BNAS @
47527b28) has the XNOR one only, so this PCNN variant follows the PCNN equations as the authors
restate them (:mod:`qsrbench.quant.pcnn`, docs/research/pcnn_algorithm.md). Which convolutions are
binarized is ``bnas``'s rule (:func:`qsrbench.nas.binary.binarize_cells`); each of them then becomes a
:class:`~qsrbench.quant.pcnn.PCNNConv2d` with the same latent weights and a projection matrix
initialised to ones (so the first forward is XNOR with one scale per tensor).

Choices the sources leave open, as parameters: ``lam`` (the projection loss weight; the book's
CIFAR-10 setting 1e-4), ``forward_mode`` (mean(W) in the sign, as "in the implementation", or the
elementwise W). Stated simplifications: one projection (J = 1); the projection matrices train in
the weights' optimiser (same learning rate, momentum and weight decay: the NAS loops have no
separate group for them; PCNN gives W its own rate η₂); the look-ahead η in the projection loss is
0 (the NAS loops do not expose the current learning rate to the layers).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from qsrbench.nas.binary import binarize_cells
from qsrbench.quant.pcnn import pcnn_convs
from qsrbench.registry import register_method

from .bnas import BNAS, BNASParams, BNASStrategy

__all__ = ["BNASPCNNParams", "BNASPCNN", "pcnn_cells"]


def pcnn_cells(net: nn.Module, binary_input: bool, lam: float, forward_mode: str) -> nn.Module:
    """``net``'s cells binarized by ``bnas``'s rule, each binarized conv then a PCNN conv (in place)."""
    binarize_cells(net, binary_input)
    for cell in net.cells:
        pcnn_convs(cell, None, lam, forward_mode, only_binary=True)
    return net


class BNASPCNNParams(BNASParams):
    name: Literal["bnas-pcnn"] = Field(description="BNAS with PCNN as the binarizer")
    lam: float = Field(1e-4, ge=0, description="PCNN projection loss weight λ")
    forward_mode: Literal["mean", "elementwise"] = Field("mean", description="mean(W) or W in the forward sign")


class _PCNNStrategy(BNASStrategy):
    def __init__(self, *args, lam: float, forward_mode: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.lam, self.forward_mode = lam, forward_mode

    def prepare_supernet(self, net):
        self._net = pcnn_cells(net, self.binary_input, self.lam, self.forward_mode) if self.binary else net
        return self._net


@register_method
class BNASPCNN(BNAS):
    name = "bnas-pcnn"
    Params = BNASPCNNParams
    citation = "Chen et al., BNAS, AAAI 2020, with PCNN (Gu et al., AAAI 2019) as the binarizer"

    def strategy(self, spec, seed):
        m = spec.method
        return _PCNNStrategy(m.partial_k, m.pc_epochs, m.pc_arch_from, m.repeats, m.epochs_per_path,
                             m.warm_start, m.rule, m.binary, m.binary_input, lam=m.lam, forward_mode=m.forward_mode)

    def prepare_network(self, spec):
        m = spec.method
        return (lambda net: pcnn_cells(net, m.binary_input, m.lam, m.forward_mode)) if m.binary else None
