"""PCNN: 1-bit kernels by projection, trained by discrete back propagation via projection (DBPP).

Gu, Li, Zhang, Han, Cao, Liu, Doermann, "Projection Convolutional Neural Networks for 1-bit CNNs
via Discrete Back Propagation", AAAI 2019 (arXiv 1811.12755); the equations as the authors restate
them in Zhang, Doermann et al., *Binary Neural Networks* (CRC 2023), §3.5, Eqs. 3.29-3.57 (the AAAI
body was not readable here; no official PCNN training code is public: the BNAS release,
bczhangbczhang/BNAS @ 47527b28, has XNOR only). Notes and sources: docs/research/pcnn_algorithm.md.
Second binarizer of BNAS (Chen et al., AAAI 2020) beside XNOR (:mod:`qsrbench.quant.binary`).

Conventions (one projection, J = 1; units: the kernel's own):

* a layer's latent kernel ``C`` (``(O, I, kh, kw)``) and its projection matrix ``W`` (``(kh, kw)``,
  "duplicated along the channels", Eq. 3.43): the projection onto Ω = {-a, +a} is
  ``Ĉ = a · sign(W ∘ C)`` with ``a = mean|C|`` over the layer (Eq. 3.57, one scale per layer; the
  harness's :func:`~qsrbench.quant.binary.binary_scale` with ``axis=None``; ``sign(0) = +1`` as
  everywhere in the harness). "In the implementation, we use the mean of W in the forward process
  but keep the original W in the backward propagation": ``forward="mean"`` (default) uses mean(W)
  in the sign, ``"elementwise"`` the full ``W``. With ``W = 1`` the forward is XNOR with one
  scale per tensor (``binarize(C, axis=None)``), which the tests use as the oracle.
* projection loss (Eq. 3.42, one layer): ``L_P = λ/2 · ||Ĉ − W ∘ (C + η · δĈ)||²`` where
  ``δĈ = ∂L_S/∂Ĉ`` is the task loss's gradient at this step and ``η`` the kernels' learning rate;
  ``Ĉ`` and ``δĈ`` are constants of ``L_P``.
* DBPP backward (Eqs. 3.49-3.56), folded into one autograd backward (no second pass): with the
  clipped indicator ``1 = 1{|W ∘ C| <= 1}`` (the clip is on the *projected* value) and the
  residual ``r = W ∘ (C + η δĈ) − Ĉ``:
  ``δC = δĈ ∘ 1 ∘ W + λ r ∘ W`` and ``δW = Σ_planes (δĈ ∘ 1 ∘ C + λ r ∘ (C + η δĈ))``,
  the plane sum folding the duplicated ``W`` back onto ``(kh, kw)``. ``a`` is a constant of the
  backward (as XNOR's scale). W then takes its own optimiser step (its own learning rate η₂,
  Eq. 3.54): give it its own parameter group.

Open in the sources and chosen here (docstring of the choice at each site): J = 1 only (several
projections concatenated along the output axis change a layer's width: not built); ``W``
initialised to ones (the book: random); ``λ`` default 1e-4 (the book's CIFAR-10 setting); ``η``
a mutable attribute the training loop sets to the current kernel learning rate (default 0: no
look-ahead term).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .binary import binary_scale
from .binary_layers import BinaryConv2d, sign_ste

__all__ = ["pcnn_project", "projection_loss", "PCNNConv2d", "pcnn_convs", "is_projection_param"]


class _Project(torch.autograd.Function):
    @staticmethod
    def forward(ctx, c, w, lam: float, eta: float, elementwise: bool):
        scale = binary_scale(c, None)
        w_sign = w if elementwise else w.mean()
        c_hat = scale * torch.where(w_sign * c >= 0, 1.0, -1.0).to(c.dtype)
        ctx.save_for_backward(c, w, c_hat)
        ctx.lam, ctx.eta = lam, eta
        return c_hat

    @staticmethod
    def backward(ctx, grad):
        c, w, c_hat = ctx.saved_tensors
        inside = ((w * c).abs() <= 1).to(grad.dtype)
        ahead = c + ctx.eta * grad
        resid = w * ahead - c_hat
        grad_c = grad * inside * w + ctx.lam * resid * w
        grad_w = (grad * inside * c + ctx.lam * resid * ahead).sum(dim=tuple(range(c.dim() - w.dim())))
        return grad_c, grad_w, None, None, None


def pcnn_project(c: torch.Tensor, w: torch.Tensor, lam: float = 1e-4, eta: float = 0.0,
                 forward: Literal["mean", "elementwise"] = "mean") -> torch.Tensor:
    """``Ĉ = mean|C| · sign(W ∘ C)`` (``W`` → mean(W) in the sign when ``forward="mean"``), whose
    backward is DBPP with the projection loss's gradient added (module docstring)."""
    if forward not in ("mean", "elementwise"):
        raise ValueError(f"forward must be 'mean' or 'elementwise', got {forward!r}")
    if w.shape != c.shape[c.dim() - w.dim():]:
        raise ValueError(f"projection matrix of shape {tuple(w.shape)} does not match kernels {tuple(c.shape)}")
    return _Project.apply(c, w, float(lam), float(eta), forward == "elementwise")


def projection_loss(c: torch.Tensor, w: torch.Tensor, c_hat: torch.Tensor, grad_c_hat: torch.Tensor,
                    lam: float, eta: float) -> torch.Tensor:
    """``λ/2 · ||Ĉ − W ∘ (C + η δĈ)||²`` (Eq. 3.42, one layer, one projection): its value, for logs."""
    with torch.no_grad():
        return 0.5 * lam * (c_hat - w * (c + eta * grad_c_hat)).pow(2).sum()


class PCNNConv2d(BinaryConv2d):
    """A :class:`BinaryConv2d` whose 1-bit kernel is PCNN's projection (one projection matrix of the
    kernel's spatial size, ``projection``); binary inputs when ``binary_input`` as its parent.
    ``lam`` / ``eta`` / ``forward_mode``: the projection loss weight, the kernels' current learning
    rate and the forward rule (module docstring)."""

    def __init__(self, *args, lam: float = 1e-4, forward_mode: Literal["mean", "elementwise"] = "mean", **kwargs):
        super().__init__(*args, **kwargs)
        self.projection = nn.Parameter(torch.ones(self.kernel_size, dtype=self.weight.dtype,
                                                  device=self.weight.device))
        self.lam, self.eta, self.forward_mode = lam, 0.0, forward_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = sign_ste(x) if self.binary_input else x
        kernel = pcnn_project(self.weight, self.projection, self.lam, self.eta, self.forward_mode)
        return self._conv_forward(x, kernel, self.bias)


def pcnn_convs(module: nn.Module, binary_input: bool | None = False, lam: float = 1e-4,
               forward_mode: Literal["mean", "elementwise"] = "mean", only_binary: bool = False) -> nn.Module:
    """``module`` with every ``nn.Conv2d`` (at any depth, binarized ones included; only the
    :class:`BinaryConv2d` ones when ``only_binary``) replaced by a :class:`PCNNConv2d` with the
    same weights; ``binary_input=None`` keeps each binarized conv's own input rule."""
    wanted = BinaryConv2d if only_binary else nn.Conv2d
    if isinstance(module, wanted) and not isinstance(module, PCNNConv2d):
        keep = binary_input if binary_input is not None else getattr(module, "binary_input", False)
        new = PCNNConv2d.from_conv(module, keep)
        new.lam, new.forward_mode = lam, forward_mode
        return new
    for name, child in module.named_children():
        setattr(module, name, pcnn_convs(child, binary_input, lam, forward_mode, only_binary))
    return module


def is_projection_param(name: str) -> bool:
    """Whether parameter ``name`` is a PCNN projection matrix (its own learning rate η₂, no decay)."""
    return name == "projection" or name.endswith(".projection")
