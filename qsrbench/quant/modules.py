"""``nn.Module`` wrappers of the quantizers, and the name → factory table the converter uses.

Each factory takes a :class:`~qsrbench.quant.config.TensorQuant` and a role (``"weight"``, or
``"activation"`` / ``"skip"``, both quantized as activations). Weight quantizers compute their range from the weight on every call; the
activation quantizers of PTQ observe calibration batches first (``observing = True``), then
freeze their range (``freeze()``), after which they fake-quantize.
"""

from __future__ import annotations

import difflib

import torch
from torch import nn

from ..errors import QsrbenchError
from .binary import binarize, quant_noise
from .calibration import CALIBRATIONS
from .config import TensorQuant
from .learned import dorefa_weight, lsq_init_step, lsq_quant, pact, pams_quant
from .uniform import QParams, check_bits, fake_quant, qparams_from_range

__all__ = ["UniformQuantizer", "LSQQuantizer", "PACTQuantizer", "PAMSQuantizer", "DoReFaWeight",
           "Binarizer", "QuantNoise", "QUANTIZERS", "get_quantizer", "make_quantizer", "calibrate"]


class UniformQuantizer(nn.Module):
    """Uniform fake quantization; weights: range from the tensor itself; activations: calibrated."""

    def __init__(self, bits: int, *, symmetric: bool = True, axis: int | None = None,
                 calibration: str = "minmax", observe_on_call: bool = False):
        super().__init__()
        self.bits, self.symmetric, self.axis = check_bits(bits), symmetric, axis
        if calibration not in CALIBRATIONS:
            raise QsrbenchError(f"unknown calibration {calibration!r} (known: {', '.join(CALIBRATIONS)})")
        self.calibration = calibration
        self.observe_on_call = observe_on_call  # weights: range from the tensor on every call
        self.observing = False
        self._samples: list[torch.Tensor] = []
        self.qparams: QParams | None = None

    def _range(self, x: torch.Tensor, axis: int | None):
        fn = CALIBRATIONS[self.calibration]
        if self.calibration == "mse":
            return fn(x, self.bits, self.symmetric, axis)
        return fn(x, axis=axis)

    def freeze(self) -> None:
        """Fix the range from the observed calibration batches."""
        if not self._samples:
            raise QsrbenchError("activation quantizer saw no calibration data")
        if self.axis is None:
            data, axis = torch.cat([s.flatten() for s in self._samples]), None
        else:  # (channels, values) over every batch
            data = torch.cat([s.transpose(0, self.axis).reshape(s.shape[self.axis], -1)
                              for s in self._samples], dim=1)
            axis = 0
        lo, hi = self._range(data, axis)
        self.qparams = qparams_from_range(lo, hi, self.bits, symmetric=self.symmetric, axis=self.axis)
        self._samples.clear()
        self.observing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observe_on_call:  # range from the tensor itself, cached while it is unchanged
            stamp = (x.data_ptr(), x._version, tuple(x.shape))
            if self.qparams is None or getattr(self, "_stamp", None) != stamp:
                lo, hi = self._range(x.detach(), self.axis)
                self.qparams = qparams_from_range(lo, hi, self.bits, symmetric=self.symmetric,
                                                  axis=self.axis)
                self._stamp = stamp
            return fake_quant(x, self.qparams)
        if self.observing:
            self._samples.append(x.detach().cpu())
            return x
        if self.qparams is None:
            raise QsrbenchError("activation quantizer used before calibration (call freeze())")
        return fake_quant(x, self.qparams)


class LSQQuantizer(nn.Module):
    def __init__(self, bits: int, signed: bool = True):
        super().__init__()
        self.bits, self.signed = check_bits(bits), signed
        self.step = nn.Parameter(torch.tensor(0.0))
        self.initialized = False

    def forward(self, x):
        if not self.initialized:
            with torch.no_grad():
                self.step.copy_(lsq_init_step(x, self.bits, self.signed))
            self.initialized = True
        return lsq_quant(x, self.step, self.bits, signed=self.signed)


class PACTQuantizer(nn.Module):
    def __init__(self, bits: int, alpha: float = 10.0):
        super().__init__()
        self.bits = check_bits(bits)
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))

    def forward(self, x):
        return pact(x, self.alpha, self.bits)


class PAMSQuantizer(nn.Module):
    def __init__(self, bits: int, alpha: float = 10.0):
        super().__init__()
        self.bits = check_bits(bits, low=2)
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))

    def forward(self, x):
        return pams_quant(x, self.alpha, self.bits)


class DoReFaWeight(nn.Module):
    def __init__(self, bits: int):
        super().__init__()
        self.bits = check_bits(bits)

    def forward(self, w):
        return dorefa_weight(w, self.bits)


class Binarizer(nn.Module):
    def __init__(self, axis: int | None = 0, ste: str = "clipped"):
        super().__init__()
        self.axis, self.ste = axis, ste

    def forward(self, w):
        return binarize(w, self.axis, self.ste)


class QuantNoise(nn.Module):
    """Training-time proxy: adds uniform noise of the step of a ``bits``-bit grid over ``[-r, r]``."""

    def __init__(self, bits: int, bound: float = 1.0):
        super().__init__()
        self.bits, self.bound = check_bits(bits, low=2), bound

    def forward(self, x):
        return quant_noise(x, 2 * self.bound / (2**self.bits - 1)) if self.training else x


def _uniform(tq: TensorQuant, role: str) -> nn.Module:
    axis = (0 if role == "weight" else 1) if tq.granularity == "per-channel" else None
    return UniformQuantizer(tq.bits, symmetric=tq.symmetric, axis=axis,
                            observe_on_call=role == "weight")


QUANTIZERS = {
    "uniform": _uniform,
    "lsq": lambda tq, role: LSQQuantizer(tq.bits, signed=tq.symmetric),
    "pact": lambda tq, role: PACTQuantizer(tq.bits),
    "pams": lambda tq, role: PAMSQuantizer(tq.bits),
    "dorefa": lambda tq, role: DoReFaWeight(tq.bits),
    "binary": lambda tq, role: Binarizer(0 if role == "weight" else None),
}


def get_quantizer(name: str):
    if name not in QUANTIZERS:
        close = difflib.get_close_matches(name, QUANTIZERS, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise QsrbenchError(f"unknown quantizer {name!r}{hint} (known: {', '.join(QUANTIZERS)})")
    return QUANTIZERS[name]


def make_quantizer(tq: TensorQuant, role: str) -> nn.Module:
    """The converter's factory: a quantizer module for ``tq`` in ``role`` (weight/activation)."""
    return get_quantizer(tq.quantizer)(tq, role)


@torch.no_grad()
def calibrate(model: nn.Module, batches, calibration: str = "minmax", progress: bool = False) -> nn.Module:
    """PTQ range calibration: every :class:`UniformQuantizer` of ``model`` uses ``calibration``;
    the activation quantizers observe ``model`` run on each batch, then fix their ranges.

    The calibration forward runs in float64 (the model is converted back to its dtype after):
    a float32 convolution's result depends on the thread count in its last bits, and ranges
    derived from it would too (then every 4-bit rounding near a boundary can flip, moving PSNR by
    hundredths of a dB between machines). In float64 those differences sit ~1e-16 below the
    float32 range that is kept, so the same ranges come out on any machine and thread count."""
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    acts = [m for m in model.modules() if isinstance(m, UniformQuantizer) and not m.observe_on_call]
    for m in model.modules():
        if isinstance(m, UniformQuantizer):
            m.calibration = calibration
    for q in acts:
        q.observing = True
    from tqdm.auto import tqdm

    model.to(torch.float64)
    try:
        for batch in tqdm(batches, desc="calibration forward", unit="batch", disable=not progress, leave=False):
            model(batch.to(torch.float64))
        for q in tqdm(acts, desc=f"calibration ({calibration})", unit="layer", disable=not progress, leave=False):
            q.freeze()
    finally:
        model.to(dtype)
    return model
