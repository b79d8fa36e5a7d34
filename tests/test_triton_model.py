"""Whole integer models on the Triton kernels (qsrbench.kernels.triton_model), in Triton's
interpreter on CPU tensors (CI) and compiled on CUDA (gpu marker). Oracle: the same integer model
on torch._int_mm; both accumulate exact int32 sums of the same codes, so outputs are equal bit for
bit, joined on codes or not, at 8 and at 4 bits (int4 packed along K, unpacked in registers)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from qsrbench.kernels.code_chain import chain_codes
from qsrbench.kernels.integer_model import IntegerConv2d, integerize
from qsrbench.kernels.triton_conv import triton_unavailable

from .test_integer_model import _ptq

pytestmark = pytest.mark.skipif(triton_unavailable() is not None, reason=str(triton_unavailable()))
DEVICES = [pytest.param("cpu", id="interpreter"), pytest.param("cuda", id="cuda", marks=pytest.mark.gpu)]


def _toy():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2),
                         nn.LeakyReLU(0.1), nn.Conv2d(8, 5, 1))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("joined", [False, True], ids=["plain", "joined"])
def test_triton_model_equals_the_torch_integer_model_bit_for_bit(device, bits, joined):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("GPU tier: no CUDA device")
    from qsrbench.kernels.triton_model import TritonConv2d, on_triton

    torch.manual_seed(12)
    ints = integerize(_ptq(_toy(), bits=bits, keep_fp=[]))
    if joined:
        ints, joins = chain_codes(ints)
        assert joins == ["0 -[relu]-> 2", "2 -[leaky_relu]-> 4"]
    tri = on_triton(copy.deepcopy(ints)).to(device)
    layers = [m for m in tri.modules() if isinstance(m, IntegerConv2d)]
    assert len(layers) == 3 and all(type(m) is TritonConv2d for m in layers)
    assert [m.packed.bits for m in layers] == [bits] * 3
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want, got = ints(x), tri(x.to(device)).cpu()
    assert got.shape == want.shape == (2, 5, 5, 4) and torch.equal(got, want)
