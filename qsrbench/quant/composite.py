"""Composite quantized convolution: one FP weight, relaxations over candidate quantizers, one conv.

The search methods of issue 17 (QuantNAS's bit-widths, DQSS's quantization strategies) relax a
layer's discrete quantization choice into a distribution. A layer holds its full-precision weight
``W``, weight candidates ``q^w_j`` (j = 1..J) with probabilities ``β_j`` and activation candidates
``q^a_i`` (i = 1..I) with probabilities ``α_i``; its relaxed output is

    y = Σ_i Σ_j α_i β_j · conv(q^a_i(x), q^w_j(W)) + b.

Convolution is bilinear in (input, weight), so this equals

    y = conv(Σ_i α_i q^a_i(x), Σ_j β_j q^w_j(W)) + b

(the bias counts once because Σ_i Σ_j α_i β_j = 1): one convolution plus I + J quantizer calls
instead of I · J convolutions (:func:`composite_conv2d`). The shortcut needs the joint weights to
factor as ``α_i β_j``; a joint distribution over (activation, weight) pairs that does not factor
(e.g. one softmax over tied bit pairs, Σ_b p_b conv(A_b, W_b)) has cross terms and needs every
branch (:func:`branch_sum_conv2d`, also the oracle the tests compare the shortcut with). Note for
QuantNAS: the authors' released supernet (diff7/QuanToaster, ``sr_models/quant_conv_lsq.py``,
``SharedQAConv2d``) mixes both operands with the *same* per-bit-width weights and convolves once,
i.e. :func:`composite_conv2d` with ``alpha = beta`` (the factorised ``p ⊗ p``, cross terms
included), not the tied sum; and its BitOps count is FLOPs x Σ_b p_b · b (one bit factor), not
this module's MACs x E[a bits] x E[w bits]: a method module reproducing the paper must say which
it uses.

Expected BitOps under the relaxation (:func:`expected_bitops`): Σ_ij α_i β_j · MACs · a_i · w_j
= MACs · (Σ_i α_i a_i) · (Σ_j β_j w_j), with a_i, w_j the candidates' bit-widths; differentiable in
α and β, for a BitOps penalty.

References: DQSS (Li, Yan, Chen, arXiv 2404.08010, Eq. for y = Σ_i α_i Σ_j β_j W_j * A_i);
QuantNAS (Shvetsov et al., IEEE Access 2024) for the expected-BitOps penalty; DARTS (Liu et al.,
ICLR 2019) for the softmax relaxation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import QsrbenchError

__all__ = ["mix", "composite_conv2d", "branch_sum_conv2d", "expected_bitops", "CompositeQuantConv2d"]

Quantizer = Callable[[torch.Tensor], torch.Tensor]


def mix(values: Sequence[torch.Tensor], probs: torch.Tensor) -> torch.Tensor:
    """``Σ_k probs[k] · values[k]`` (the relaxed tensor); ``probs`` 1-D of ``len(values)``."""
    if probs.dim() != 1 or probs.numel() != len(values) or not values:
        raise QsrbenchError(f"{len(values)} candidates but {tuple(probs.shape)} probabilities")
    out = probs[0] * values[0]
    for p, v in zip(probs[1:], values[1:]):
        out = out + p * v
    return out


def composite_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                     act_qs: Sequence[Quantizer], weight_qs: Sequence[Quantizer], alpha: torch.Tensor,
                     beta: torch.Tensor, **conv: int) -> torch.Tensor:
    """The relaxed output with factorised weights ``α_i β_j`` in one convolution (module docstring);
    ``conv``: stride, padding, dilation, groups as for :func:`torch.nn.functional.conv2d`."""
    x_mix = mix([q(x) for q in act_qs], alpha)
    w_mix = mix([q(weight) for q in weight_qs], beta)
    return F.conv2d(x_mix, w_mix, bias, **conv)


def branch_sum_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      act_qs: Sequence[Quantizer], weight_qs: Sequence[Quantizer], joint: torch.Tensor,
                      **conv: int) -> torch.Tensor:
    """``Σ_ij joint[i, j] · conv(q^a_i(x), q^w_j(W)) + b`` branch by branch (I · J convolutions);
    ``joint`` (I, J) need not factor; the bias is added once (the joint sums to 1)."""
    if tuple(joint.shape) != (len(act_qs), len(weight_qs)):
        raise QsrbenchError(f"joint weights {tuple(joint.shape)} for {len(act_qs)} x {len(weight_qs)} candidates")
    xs, ws = [q(x) for q in act_qs], [q(weight) for q in weight_qs]
    out = None
    for i, xi in enumerate(xs):
        for j, wj in enumerate(ws):
            term = joint[i, j] * F.conv2d(xi, wj, None, **conv)
            out = term if out is None else out + term
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def expected_bitops(macs: int, act_bits: Sequence[int], alpha: torch.Tensor, weight_bits: Sequence[int],
                    beta: torch.Tensor) -> torch.Tensor:
    """``MACs · E_α[a bits] · E_β[w bits]`` (differentiable in α and β)."""
    a = (alpha * torch.as_tensor(act_bits, dtype=alpha.dtype, device=alpha.device)).sum()
    w = (beta * torch.as_tensor(weight_bits, dtype=beta.dtype, device=beta.device)).sum()
    return macs * a * w


def _bits(q: nn.Module) -> int:
    bits = getattr(q, "bits", None)
    if bits is None:
        raise QsrbenchError(f"candidate quantizer {type(q).__name__} has no bit-width (attribute 'bits')")
    return int(bits)


class CompositeQuantConv2d(nn.Module):
    """``conv``'s FP weight under relaxations over ``act_quantizers`` (logits ``alpha``) and
    ``weight_quantizers`` (logits ``beta``): ``softmax(logits / temperature)``. Each forward
    records the MACs of one input image (``macs``) for :meth:`expected_bitops`. :meth:`fix`
    makes the relaxation one-hot (the derived layer), :meth:`choice` is the argmax."""

    def __init__(self, conv: nn.Conv2d, act_quantizers: Sequence[nn.Module], weight_quantizers: Sequence[nn.Module],
                 temperature: float = 1.0):
        super().__init__()
        if not act_quantizers or not weight_quantizers:
            raise QsrbenchError("a composite layer needs at least one activation and one weight candidate")
        self.conv = conv
        self.act_quantizers = nn.ModuleList(act_quantizers)
        self.weight_quantizers = nn.ModuleList(weight_quantizers)
        self.alpha = nn.Parameter(torch.zeros(len(act_quantizers)))
        self.beta = nn.Parameter(torch.zeros(len(weight_quantizers)))
        self.temperature = float(temperature)
        self.macs = 0
        self._fixed: tuple[int, int] | None = None

    def probs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(α, β): the activation and weight candidates' probabilities (one-hot once fixed)."""
        if self._fixed is not None:
            i, j = self._fixed
            return (F.one_hot(torch.tensor(i), self.alpha.numel()).to(self.alpha),
                    F.one_hot(torch.tensor(j), self.beta.numel()).to(self.beta))
        return F.softmax(self.alpha / self.temperature, 0), F.softmax(self.beta / self.temperature, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        alpha, beta = self.probs()
        y = composite_conv2d(x, c.weight, c.bias, self.act_quantizers, self.weight_quantizers, alpha, beta,
                             stride=c.stride, padding=c.padding, dilation=c.dilation, groups=c.groups)
        self.macs = y[0].numel() * (c.in_channels // c.groups) * c.kernel_size[0] * c.kernel_size[1]
        return y

    def expected_bitops(self) -> torch.Tensor:
        """Expected BitOps of the last forward's single image under the current relaxation."""
        alpha, beta = self.probs()
        return expected_bitops(self.macs, [_bits(q) for q in self.act_quantizers], alpha,
                               [_bits(q) for q in self.weight_quantizers], beta)

    def choice(self) -> tuple[int, int]:
        """(activation candidate, weight candidate) of largest probability."""
        alpha, beta = self.probs()
        return int(alpha.argmax()), int(beta.argmax())

    def fix(self, act: int | None = None, weight: int | None = None) -> None:
        """Make the relaxation one-hot at (``act``, ``weight``), by default the argmax."""
        i, j = self.choice()
        i, j = i if act is None else act, j if weight is None else weight
        if not (0 <= i < self.alpha.numel() and 0 <= j < self.beta.numel()):
            raise QsrbenchError(f"no candidate ({i}, {j}) among {self.alpha.numel()} x {self.beta.numel()}")
        self._fixed = (i, j)
