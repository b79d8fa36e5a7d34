"""PAMS: quantization-aware training of an SR network with a learnable max scale per activation
quantizer and structured knowledge transfer from the FP network.

Li, Yan, Lin, Zheng, Li, Zhang, Yang, Ji, "PAMS: Quantized Super-Resolution via Parameterized
Max Scale", ECCV 2020 (arXiv 2011.04212). Checked against the authors' code, colorjam/PAMS @
737cc09: ``model/quant_ops.py`` (``pams_quant_act``, ``quant_weight``), ``model/edsr.py``
(``PAMS_ResBlock``), ``utils/common.py`` (``at``, ``at_loss``), ``main.py`` / ``option.py``
(loss weights, optimizer, schedule). Written from the equations; no code copied.

What this module does, and where it follows the paper or the code:

* **Weights**: per-tensor symmetric, ``2^(b-1) - 1`` levels per side, scale = max |w| (detached;
  no clipping), straight-through rounding — the harness's uniform quantizer with min-max range.
  ``weight_granularity = "per-channel"`` (not the paper's) takes max |w| per output channel
  instead. Finding: on the shipped PAN x4 at 4 bits the per-tensor form cannot be trained, with
  either warm-up: with every activation passed through, the 4-bit per-tensor weights of the one
  layer ``SCPA_trunk.0.conv1_b`` alone (43 % of its weights rounded to 0) take a Set5 LR crop's
  output from max 1.04 to 3e19 (each later SCPA block multiplies it ~10x; 4-bit per-tensor
  weights of any other body layer alone leave it below 1.05), the SKT map overflows and the first
  loss is NaN. The checkpoint itself is near that unstable mode (the FP network maps uniform-noise
  inputs to ~1e20). Per-channel scales keep that layer's small channels (tests/test_pams.py).
  Training still diverges with them (batch 16 of 96-pixel 291 patches, weights lr 1e-4, α lr
  1e-2, SKT 1000): at iteration 52 with the bypass warm-up over 100 iterations, at iteration 22
  (two after clipping starts) with 20; so no PAMS PAN x4 W4A4 spec is offered at the small tier.
* **Activations**: one learnable clip ``α`` per quantizer, ``[-α, α]``, ``2^(b-1) - 1`` levels per
  side (:class:`~qsrbench.quant.qat.LearnedClip`). ``α`` gets the gradient of the released code by
  default (``alpha_grad = "released"``: ``(round(v) - v)/q`` inside the clip plus ``sign(x)``
  outside); ``"pact"`` drops the inside term (PACT's gradient, the harness's ``pams_quant``). The
  authors' numbers were produced by their released code, i.e. the ``"released"`` form (the paper's
  own text could not be read here to say which form it writes down).
* **α initialisation** (the code's ``pams_quant_act``): during the first ``alpha_init_steps``
  training iterations (the code: its first epoch, 1000 iterations) ``α`` is set, before each
  forward, to the batch mean of each sample's max |x|, and the input is quantized with that ``α``
  but not clipped (``round(x·q/α)·α/q``), so ``α`` already receives gradients and Adam moments;
  the code's moving average is never reached (its ``epoch == 1`` branch assigns on every batch),
  so ``α`` starts the clipped phase at the last batch's statistic plus one optimizer step
  (``decay = 0``, ``alpha_warmup = "unclipped"``). Finding: on PAN x4 at W4A4 this warm-up
  diverges at once (L1 2.7e19 on the first batch of the smoke spec, then NaN): without clipping,
  PAN's blocks amplify the quantization noise geometrically (the FP network maps uniform-noise
  inputs to ~1e19 too); ``alpha_warmup = "bypass"`` passes activations through instead.
* **Placement**: the paper's Fig. 1 for residual blocks — every conv inside the body's blocks is
  quantized, with an activation quantizer on its input; head, body tail, upsampler and last conv
  stay FP. (The released EDSR code differs: the first conv of a block reads the unquantized
  block input, and the skip and block output are quantized instead; colorjam/PAMS issue 14.)
  For the shipped lightweight models the analogue (:data:`PLACEMENT`): PAN — the 16 SCPA blocks of
  ``SCPA_trunk`` (``conv_first``, ``trunk_conv``, the upsampling stages and ``conv_last`` FP); IMDN —
  the six IMDB blocks (``fea_conv``, the fusion ``c``, ``LR_conv`` and the upsampler FP). RDN (the
  code's ``model/rdn.py``): every conv of the dense blocks and both global-fusion convs; the two
  shallow-feature convs and the upsampler FP; SKT on ``gff(...) + sfe1(x)``.
* **SKT**: attention map ``A(F) = normalize_L2(mean_c F²)`` per sample over positions, of the body
  output after the long skip (EDSR: ``body(f) + f``; PAN: ``trunk_conv(...) + conv_first(x)``;
  IMDN: ``LR_conv(...) + fea_conv(x)``); loss ``mean((A_s - A_t)²)`` against the FP teacher (eval,
  no gradient), weight ``skt_weight`` = 1000 (``w_at``), added to L1 (weight 1) in [0, 255]
  pixel units (the code's ``rgb_range`` 255, which sets the balance of the two terms).
* **Student initialisation**: from the FP weights, as the issue asks and as the user who
  reproduced the paper's EDSR number did (colorjam/PAMS issue 15); the released ``main.py``
  loads the FP checkpoint into the teacher only.
* **Optimizer** (code): Adam, weights lr 1e-4, α lr 1e-2, step schedule ×0.5 every 10 epochs, no
  weight decay, no gradient clipping — set in each spec's ``[method.train]``.
"""

from __future__ import annotations

import re
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_serializer
from torch import nn

from qsrbench.bitops import REFERENCE_LR
from qsrbench.errors import QsrbenchError
from qsrbench.quant.config import QuantConfig, TensorQuant, quantizable_layers
from qsrbench.quant.convert import quantize_model
from qsrbench.quant.modules import UniformQuantizer
from qsrbench.quant.qat import LearnedClip
from qsrbench.registry import register_method
from qsrbench.train.method import TrainedSRMethod, TrainParams

from .fp import model_layer_costs, pretrained

__all__ = ["PAMS", "PAMSParams", "attention_map", "skt_loss", "PLACEMENT"]

# model -> (regex of quantized layer names, head module, body-tail module): the SKT feature is
# out(body tail) + out(head), the body output after the long skip.
PLACEMENT: dict[str, tuple[str, str, str]] = {
    "edsr-baseline": (r"body\.\d+\.body\.\d+", "head", "body"),
    "edsr": (r"body\.\d+\.body\.\d+", "head", "body"),
    "pan": (r"SCPA_trunk\.\d+\..+", "conv_first", "trunk_conv"),
    "imdn": (r"IMDB\d+\..+", "fea_conv", "LR_conv"),
    "rdn": (r"rdbs\.\d+\..+|gff\.\d+", "sfe1", "gff"),
}


class PAMSParams(TrainParams):
    name: Literal["pams"] = Field(description="PAMS quantization-aware training (Li et al., ECCV 2020)")
    alpha_grad: Literal["released", "pact"] = Field("released", description=(
        "gradient of α: the released code's (with the rounding term) or the PACT form"))
    alpha_init_steps: int = Field(1000, ge=1, description=(
        "training iterations during which α is set from each batch"))
    alpha_warmup: Literal["unclipped", "bypass"] = Field("unclipped", description=(
        "during those iterations: quantize without clipping (the released code) or pass activations through"))
    train_alpha: bool = Field(True, description="learn α (false: frozen at its data-initialised value)")
    skt_weight: float = Field(1000.0, ge=0, description="weight of the structured knowledge transfer loss")
    weight_granularity: Literal["per-tensor", "per-channel"] = Field("per-tensor", description=(
        "scale of the weight quantizer: one max |w| per tensor (the paper and code) or per output channel"))

    @model_serializer(mode="wrap")
    def _drop_default_granularity(self, handler):
        """The default granularity is left out of the dump, so specs written before the option
        existed keep their hash (and their records); per-channel is dumped, and hashed."""
        data = handler(self)
        if isinstance(data, dict) and data.get("weight_granularity") == "per-tensor":
            data.pop("weight_granularity")
        return data


def attention_map(f: torch.Tensor) -> torch.Tensor:
    """``(N, H·W)``: the channel mean of ``f²``, L2-normalised per sample (PAMS SKT; code ``at``)."""
    return F.normalize(f.pow(2).mean(dim=1).flatten(1), dim=1)


def skt_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the attention maps (PAMS SKT; code ``at_loss``)."""
    return (attention_map(student) - attention_map(teacher)).pow(2).mean()


class _BodyFeature:
    """Captures ``out(body tail) + out(head)`` of a network during :meth:`run` only (the hooks
    stay registered, and are copied with the model, but record nothing elsewhere)."""

    def __init__(self, net: nn.Module, head: str, tail: str):
        self.outs, self.active = {}, False
        for key, name in (("head", head), ("tail", tail)):
            net.get_submodule(name).register_forward_hook(
                lambda m, a, out, key=key: self.outs.__setitem__(key, out) if self.active else None)

    def run(self, net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(output, body feature)`` of one forward of ``net`` (the network hooked)."""
        self.active = True
        try:
            out = net(x)
        finally:
            self.active = False
        feature = self.outs["tail"] + self.outs["head"]
        self.outs.clear()
        return out, feature


def _config(spec, model: nn.Module) -> QuantConfig:
    pattern = re.compile(PLACEMENT[spec.model.name][0])
    names = quantizable_layers(model)
    keep = [n for n in names if not pattern.fullmatch(n)]
    if len(keep) == len(names):
        raise QsrbenchError(f"PAMS placement for {spec.model.name!r} matches no layer of "
                            f"{type(model).__name__} (pattern {pattern.pattern!r})")
    return QuantConfig(weight=TensorQuant(bits=spec.bits.weight, symmetric=True,
                                          granularity=spec.method.weight_granularity),
                       activation=TensorQuant(bits=spec.bits.activation, symmetric=True),
                       keep_fp=keep)


def _make(params: PAMSParams):
    def make(tq: TensorQuant, role: str) -> nn.Module:
        if role == "weight":
            axis = 0 if tq.granularity == "per-channel" else None
            return UniformQuantizer(tq.bits, symmetric=True, axis=axis, observe_on_call=True)
        form = "pams" if params.alpha_grad == "released" else "pams-pact"
        q = LearnedClip(tq.bits, form=form, init_steps=params.alpha_init_steps, decay=0.0,
                        init_mode=params.alpha_warmup)
        q.alpha.requires_grad_(params.train_alpha)
        return q

    return make


@register_method
class PAMS(TrainedSRMethod):
    name = "pams"
    Params = PAMSParams
    citation = "Li et al., PAMS, ECCV 2020 (arXiv 2011.04212)"

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        if spec.model is not None and spec.model.name not in PLACEMENT:
            problems.append(("model.name", f"PAMS places its quantizers for {', '.join(PLACEMENT)}; "
                             f"no placement is defined for {spec.model.name!r}"))
        if spec.model is not None and not spec.model.weights:
            problems.append(("model.weights", "PAMS starts from the FP model: give its weights"))
        for field in ("weight", "activation"):
            if getattr(spec.bits, field) < 2 or getattr(spec.bits, field) > 16:
                problems.append((f"bits.{field}", "PAMS quantizes symmetrically with 2^(b-1) - 1 "
                                 "levels per side: bits from 2 to 16"))
        return problems

    def is_quant_param(self, name: str) -> bool:
        return name.endswith(".alpha")

    def _student(self, spec, net: nn.Module) -> nn.Module:
        student, _ = quantize_model(net, _config(spec, net), _make(spec.method))
        return student

    def initial_model(self, spec, scale, ctx, variant):
        return self._student(spec, pretrained(spec, scale, ctx))

    def objective(self, spec, scale, ctx, model, range_factor):
        _, head, tail = PLACEMENT[spec.model.name]
        weight = spec.method.skt_weight
        student_feature = _BodyFeature(model, head, tail)
        teacher = pretrained(spec, scale, ctx).to(ctx.device).eval().requires_grad_(False)
        teacher_feature = _BodyFeature(teacher, head, tail)

        def objective(net, lr, hr):
            x = lr / range_factor
            out, fs = student_feature.run(net, x)
            l1 = F.l1_loss(out * range_factor, hr)
            if weight == 0:
                return l1, {"l1": float(l1.detach())}
            with torch.no_grad():
                _, ft = teacher_feature.run(teacher, x)
            skt = skt_loss(fs, ft)
            return l1 + weight * skt, {"l1": float(l1.detach()), "skt": float(skt.detach())}

        return objective

    def layer_costs(self, spec, scale, variant, lr_size=REFERENCE_LR):
        """Quantized body layers at the spec's bits, every other layer at 32/32."""
        from qsrbench.models import create_model

        net = create_model(spec.model.name, scale)
        _, plan = quantize_model(net, _config(spec, net), _make(spec.method))
        return model_layer_costs(spec, scale, lambda name, m: plan[name].bits if name in plan else (32, 32),
                                 lr_size)
