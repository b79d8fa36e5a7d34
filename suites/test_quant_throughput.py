"""Throughput of every zoo model's forward, full precision and W8A8 fake-quant, at a fixed LR size.

``test_forward[<model>-<precision>-<device>-<LR size>]`` times one forward (scale 4) of an LR
input (pixel range [0, 255]) with pytest-benchmark: 1x3x32x32 on both tiers, and on the GPU also
1x3x180x320 (a 720p output), where a GPU is no longer bound by kernel-launch overhead.
Weights are randomly initialised with a fixed
seed (speed does not depend on their values, and no checkpoint or data set is needed); W8A8 is
the PTQ configuration of ``reference/ptq.py`` (per-channel symmetric weights, per-tensor affine
activations, min-max ranges calibrated on one random batch), so the figure includes the
fake-quant overhead. ``cpu`` cases always run; ``cuda`` cases (marker ``gpu``) skip without a CUDA
device. ``extra_info`` holds the params, MACs of the input, and the device.
Compare runs with ``pytest suites --benchmark-only -k test_forward --benchmark-compare``.
"""

from __future__ import annotations

import pytest
import torch

from qsrbench.bitops import layer_costs
from qsrbench.env import device_name, strict_fp32
from qsrbench.methods import count_params
from qsrbench.models import RangeAdapter, create_model
from qsrbench.quant.config import QuantConfig, TensorQuant
from qsrbench.quant.convert import QuantLayer, quantize_model
from qsrbench.quant.modules import calibrate, make_quantizer
from qsrbench.registry import models

LR = (1, 3, 32, 32)
TARGETS = [pytest.param("cpu", LR, id="cpu-32x32"),
           pytest.param("cuda", LR, id="cuda-32x32", marks=pytest.mark.gpu),
           pytest.param("cuda", (1, 3, 180, 320), id="cuda-180x320", marks=pytest.mark.gpu)]
SCALE = 4
W8A8 = QuantConfig(weight=TensorQuant(bits=8, granularity="per-channel", symmetric=True),
                   activation=TensorQuant(bits=8, granularity="per-tensor", symmetric=False))
MODELS = [n for n in models.names() if n != "bicubic"]


def _build(name: str, precision: str, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    info = models.get(name)
    net = create_model(name, SCALE)
    if precision == "w8a8":
        net, _ = quantize_model(net, W8A8, make_quantizer)
    model = RangeAdapter(net, info.input_range).eval().to(device)
    if precision == "w8a8":
        calibrate(model, [torch.rand(LR, generator=torch.Generator().manual_seed(1), device="cpu")
                          .mul(255).to(device)])
    return model


@pytest.mark.parametrize(("device", "lr"), TARGETS)
@pytest.mark.parametrize("precision", ["fp32", "w8a8"])
@pytest.mark.parametrize("name", MODELS)
def test_forward(benchmark, request, name, precision, device, lr):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("GPU tier: no CUDA device")
    model = _build(name, precision, device)
    assert any(isinstance(m, QuantLayer) for m in model.modules()) == (precision == "w8a8")
    x = torch.rand(lr, generator=torch.Generator().manual_seed(2)).mul(255).to(device)

    def forward():
        with torch.inference_mode():
            y = model(x)
        if device == "cuda":
            torch.cuda.synchronize()
        return y

    with strict_fp32():  # the FP32 arithmetic of the evaluations (no TF32)
        forward()  # warm-up (lazy inits, cuDNN autotuning)
        y = benchmark.pedantic(forward, rounds=3 if device == "cpu" else 20, iterations=1)
    assert y.shape == (1, 3, lr[2] * SCALE, lr[3] * SCALE) and torch.isfinite(y).all()
    fp = create_model(name, SCALE)
    benchmark.extra_info.update({
        "model": name, "scale": SCALE, "precision": precision, "lr_size": list(lr[2:]),
        "params": count_params(fp),
        "macs": sum(c.macs for c in layer_costs(fp, lr)), "device": device_name(torch.device(device)),
        "threads": torch.get_num_threads()})
