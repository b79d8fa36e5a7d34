"""Quantizers trained with the network (quantization-aware training): learnable clips whose value
is first taken from data, and the released-code gradient of PAMS' max scale.

* ``pams_quant_released(x, α, bits)``: the forward of :func:`~qsrbench.quant.learned.pams_quant`
  (clip to ``[-α, α]``, ``q = 2^(b-1) - 1`` levels per side, round half to even) with the
  gradient that autograd gives the authors' released expression ``round(clamp(x, -α, α) · q / α)
  · α / q`` when only the rounding is straight-through: ``∂x̂/∂x = 1{|x| < α}``;
  ``∂x̂/∂α = (round(v) - v) / q`` for ``|x| < α`` (``v = x · q / α``), ``sign(x)`` for ``|x| >= α``.
  The PACT form (``pams_quant``) drops the first term. Li et al., "PAMS: Quantized
  Super-Resolution via Parameterized Max Scale", ECCV 2020 (arXiv 2011.04212); code
  colorjam/PAMS, ``model/quant_ops.py`` (``pams_quant_act``).
* ``range_quant(x, c, bits)``: ``2^b`` levels evenly over ``[-|c|, |c|]`` (or ``[0, |c|]``) with a
  straight-through rounding and autograd's gradient for the clip (the LSQ/PACT-style form of the
  FQSR code: Wang, Chen, Zhuang, Shen, "Fully Quantized Image Super-Resolution Networks", ACM MM
  2021, arXiv 2011.14265; billhhh/FQSR @ 24cb67a, ``src/models/quant.py``, ``dorefa.py``).
* :class:`LearnedClip`: a quantizer module with one learnable clip ``α`` in one of these forms.
  While it is in training mode and has seen fewer than ``init_steps`` calls it sets ``α`` from a
  statistic of its input (``"sample-max-abs"``: the batch mean of each sample's largest ``|x|``,
  the PAMS code's; ``"max-abs"``: the tensor's largest ``|x|``, the FQSR code's), by moving or
  arithmetic average, and either passes the input through (``init_mode="bypass"``, the FQSR
  code's warm-up) or quantizes it with that ``α`` but without clipping (``"unclipped"``, the PAMS
  code's first epoch: ``round(x·q/α)·α/q``, so ``α`` already gets gradients). Its state (α,
  calls seen) is in its ``state_dict``, so a resumed run continues exactly.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .learned import pams_quant
from .uniform import check_bits

__all__ = ["pams_quant_released", "range_quant", "LearnedClip", "batch_max_abs", "tensor_max_abs",
           "FORMS", "STATISTICS"]


class _PAMSReleased(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha, bits):
        ctx.save_for_backward(x, alpha)
        ctx.levels = float(2 ** (bits - 1) - 1)
        return pams_quant(x, alpha, bits)

    @staticmethod
    def backward(ctx, grad):
        x, alpha = ctx.saved_tensors
        inside = x.abs() < alpha
        v = x * (ctx.levels / alpha)
        dalpha = torch.where(inside, (torch.round(v) - v) / ctx.levels, torch.sign(x))
        return grad * inside, (grad * dalpha).sum().reshape(alpha.shape), None


def pams_quant_released(x: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """PAMS quantization with the gradient of the authors' released code (module docstring)."""
    return _PAMSReleased.apply(x, alpha, check_bits(bits, low=2))


TINY = 1e-8  # smallest clip used: a clip of 0 (an all-zero input during initialisation) would divide by 0


def _round_ste(v: torch.Tensor) -> torch.Tensor:
    return (torch.round(v) - v).detach() + v


def range_quant(x: torch.Tensor, clip: torch.Tensor, bits: int, *, signed: bool = True) -> torch.Tensor:
    """``2^b`` levels spread evenly over ``[-|c|, |c|]`` (``signed``; zero is not a level) or
    ``[0, |c|]``: ``y = clamp(x/|c|, -1, 1)``, ``ŷ = 2 round((y + 1)/2 · n)/n - 1``, ``n = 2^b - 1``
    (unsigned: ``ŷ = round(clamp(x/|c|, 0, 1) · n)/n``), output ``ŷ · |c|``. The rounding is
    straight-through and the clip's gradient is what autograd gives the rest:
    ``(x̂ - x)/|c|`` inside, ``±1`` (signed) or ``1`` (above) outside."""
    n = 2 ** check_bits(bits) - 1
    c = clip.abs().clamp_min(TINY)
    if signed:
        y = (torch.clamp(x / c, -1.0, 1.0) + 1) / 2
        return (_round_ste(y * n) / n * 2 - 1) * c
    return _round_ste(torch.clamp(x / c, 0.0, 1.0) * n) / n * c


def batch_max_abs(x: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of each sample's largest ``|x|`` (a 0-d tensor)."""
    return x.detach().abs().flatten(1).amax(dim=1).mean()


def tensor_max_abs(x: torch.Tensor) -> torch.Tensor:
    """The largest ``|x|`` of the whole tensor (a 0-d tensor)."""
    return x.detach().abs().max()


STATISTICS = {"sample-max-abs": batch_max_abs, "max-abs": tensor_max_abs}
FORMS = {
    "pams": pams_quant_released,
    "pams-pact": pams_quant,
    "signed-range": lambda x, c, b: range_quant(x, c, b, signed=True),
    "unsigned-range": lambda x, c, b: range_quant(x, c, b, signed=False),
}
Form = Literal["pams", "pams-pact", "signed-range", "unsigned-range"]


class LearnedClip(nn.Module):
    """A quantizer with one learnable clip ``α`` initialised from data.

    ``form``: ``"pams"`` (:func:`pams_quant_released`), ``"pams-pact"``
    (:func:`~qsrbench.quant.learned.pams_quant`), ``"signed-range"`` / ``"unsigned-range"``
    (:func:`range_quant`). ``init_steps``: training calls during which ``α``
    follows ``statistic`` of the input (passed through, ``init_mode="bypass"``, or quantized
    without clipping, ``"unclipped"``) — an exponential moving average with ``decay`` (the first
    call sets it; ``decay = 0``: the last call's value) or, with ``decay=None``, the arithmetic mean
    over the calls. In eval mode it always quantizes. ``track_error``: keep ``last_error``, the
    mean ``|Q(x) - x|`` of the last call (with its graph), for a quantization loss.
    """

    def __init__(self, bits: int, *, form: Form = "pams", init_steps: int = 1,
                 decay: float | None = 0.0, statistic: str = "sample-max-abs",
                 init_mode: Literal["bypass", "unclipped"] = "bypass", track_error: bool = False):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r} (known: {', '.join(FORMS)})")
        if init_mode not in ("bypass", "unclipped") or (init_mode == "unclipped" and not form.startswith("pams")):
            raise ValueError(f"init_mode {init_mode!r} is not available for form {form!r}")
        self.init_mode = init_mode
        if statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r} (known: {', '.join(STATISTICS)})")
        self.bits = check_bits(bits, low=2 if form.startswith("pams") else 1)
        self.form, self.init_steps, self.decay, self.statistic = form, int(init_steps), decay, statistic
        self.track_error = track_error
        self.last_error: torch.Tensor | None = None
        self.alpha = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))

    @property
    def initializing(self) -> bool:
        return self.training and int(self.seen) < self.init_steps

    @torch.no_grad()
    def _observe(self, x: torch.Tensor) -> None:
        stat = STATISTICS[self.statistic](x).to(self.alpha.dtype)
        k = int(self.seen)
        if k == 0:
            self.alpha.copy_(stat)
        elif self.decay is None:  # running arithmetic mean of k + 1 values
            self.alpha.copy_(self.alpha + (stat - self.alpha) / (k + 1))
        else:
            self.alpha.copy_(self.decay * self.alpha + (1 - self.decay) * stat)
        self.seen += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.initializing:
            self._observe(x)
            if self.init_mode == "bypass":
                self.last_error = None
                return x
            levels = 2 ** (self.bits - 1) - 1
            alpha = self.alpha.clamp_min(TINY)
            out = _round_ste(x * (levels / alpha)) * (alpha / levels)
        else:
            if int(self.seen) == 0:
                raise RuntimeError("LearnedClip used before its clip was initialised from data "
                                   "(run it in training mode first)")
            # a PAMS clip set from an all-zero input is 0: keep it finite (the range forms take
            # |clip|, kept above TINY inside range_quant, so a clip crossing 0 keeps its gradient)
            alpha = self.alpha.clamp_min(TINY) if self.form.startswith("pams") else self.alpha
            out = FORMS[self.form](x, alpha, self.bits)
        self.last_error = F.l1_loss(out, x) if self.track_error and self.training else None
        return out

    def extra_repr(self) -> str:
        return f"bits={self.bits}, form={self.form}, init_steps={self.init_steps}"
