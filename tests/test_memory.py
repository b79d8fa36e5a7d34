"""saved_tensor_bytes against hand counts: what autograd saves for simple forwards."""

import torch

from qsrbench.memory import saved_tensor_bytes


def test_mul_saves_both_operands_once_each():
    a = torch.rand(100, requires_grad=True)
    b = torch.rand(100, requires_grad=True)
    out, n = saved_tensor_bytes(lambda: a * b)
    assert torch.equal(out, a * b)
    assert n == 2 * 100 * 4  # d(ab)/da = b, d(ab)/db = a: both saved, float32


def test_views_of_one_storage_count_once_and_no_grad_saves_nothing():
    x = torch.rand(64, 64, requires_grad=True)
    _, n = saved_tensor_bytes(lambda: (x * x[0]).sum())  # saves x and the view x[0] of x's storage
    assert n == 64 * 64 * 4
    with torch.no_grad():
        _, none = saved_tensor_bytes(lambda: x * x)
    assert none == 0


def test_conv_saves_input_and_weight():
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    conv = torch.nn.Conv2d(3, 5, 3, bias=False)
    _, n = saved_tensor_bytes(lambda: conv(x))
    assert n == (x.numel() + conv.weight.numel()) * 4
