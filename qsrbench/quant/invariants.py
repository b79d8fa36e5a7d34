"""Numeric invariants every quantizer must satisfy: a reusable check for built-in and user quantizers.

``check_quantizer(q, x, ...)`` runs ``q`` (a ``Tensor -> Tensor`` fake quantizer) on ``x`` and
returns the list of violated invariants (empty when all hold); ``assert_quantizer_invariants``
raises ``AssertionError`` listing them. Checked:

1. at most ``2^bits`` distinct output values;
2. idempotence: ``q(q(x)) == q(x)``;
3. outputs on the grid ``origin + k · step`` (when ``step`` is given);
4. ``|q(x) - x| <= step / 2`` inside ``[lo, hi]``, and exact clipping outside: every ``x < lo``
   maps to ``q(lo)``, every ``x > hi`` to ``q(hi)``;
5. monotone non-decreasing;
6. ``q(0) == 0`` exactly when ``zero_exact``;
7. straight-through gradient: 1 strictly inside ``(lo, hi)``, 0 outside ``[lo, hi]``.

``check_integer_form`` checks ``from_int(to_int(x)) == fake(x)`` bit for bit, and
``check_per_channel`` that a per-channel quantizer equals a per-tensor one applied channel by channel.

To check a new quantizer, call these from a test (see ``tests/test_quant_invariants.py``), e.g.
``assert_quantizer_invariants(lambda t: my_q(t, bits=4), x, bits=4, lo=-1, hi=1, step=2/15)``.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["check_quantizer", "assert_quantizer_invariants", "check_integer_form",
           "check_per_channel"]

Q = Callable[[torch.Tensor], torch.Tensor]


def check_quantizer(q: Q, x: torch.Tensor, *, bits: int, lo: float, hi: float,
                    step: float | None = None, origin: float = 0.0, zero_exact: bool = False,
                    gradient: bool = True, tol: float = 1e-6) -> list[str]:
    """The invariants (module docstring) that ``q`` violates on ``x``."""
    bad: list[str] = []
    x = x.detach().to(torch.float32).flatten()
    with torch.no_grad():
        y = q(x)
        distinct = torch.unique(y).numel()
        if distinct > 2**bits:
            bad.append(f"{distinct} distinct outputs > 2^{bits}")
        again = q(y)
        if not torch.equal(again, y):
            bad.append(f"not idempotent: max |q(q(x)) - q(x)| = {(again - y).abs().max():.3g}")
        scale = max(abs(lo), abs(hi), 1.0)
        if step is not None:
            k = (y - origin) / step
            off = (k - torch.round(k)).abs().max()
            if off > 1e-4:
                bad.append(f"outputs off the grid by {float(off) * step:.3g}")
        inside = (x >= lo) & (x <= hi)
        if step is not None and inside.any():
            err = (y[inside] - x[inside]).abs().max()
            if err > step / 2 + tol * scale:
                bad.append(f"error {float(err):.4g} > step/2 = {step / 2:.4g} inside the range")
        ends = q(torch.tensor([lo, hi], dtype=torch.float32))
        if (x < lo).any() and not torch.all(y[x < lo] == ends[0]):
            bad.append("values below lo are not clipped to q(lo)")
        if (x > hi).any() and not torch.all(y[x > hi] == ends[1]):
            bad.append("values above hi are not clipped to q(hi)")
        order = torch.argsort(x)
        if (torch.diff(y[order]) < 0).any():
            bad.append("not monotone non-decreasing")
        if zero_exact:
            z = q(torch.zeros(1))
            if z.item() != 0.0:
                bad.append(f"q(0) = {z.item()!r}, not exactly 0")
    if gradient:
        xg = x.clone().requires_grad_(True)
        out = q(xg)
        g = None
        if out.requires_grad:  # else: the quantizer cut the graph (no gradient path)
            g = torch.autograd.grad(out.sum(), xg, allow_unused=True)[0]
        margin = tol * scale
        strictly_in = (x > lo + margin) & (x < hi - margin)
        outside = (x < lo - margin) | (x > hi + margin)
        if g is None:
            bad.append("no gradient reaches the input")
        else:
            if strictly_in.any() and not torch.all(g[strictly_in] == 1):
                bad.append("straight-through gradient is not 1 inside the range")
            if outside.any() and not torch.all(g[outside] == 0):
                bad.append("gradient is not 0 outside the range")
    return bad


def assert_quantizer_invariants(q: Q, x: torch.Tensor, **kwargs) -> None:
    bad = check_quantizer(q, x, **kwargs)
    assert not bad, "quantizer invariants violated: " + "; ".join(bad)


def check_integer_form(fake: Q, to_int: Q, from_int: Q, x: torch.Tensor) -> list[str]:
    with torch.no_grad():
        f, r = fake(x), from_int(to_int(x))
    if f.dtype != r.dtype or not torch.equal(f, r):
        return [f"from_int(to_int(x)) != fake_quant(x) (max diff {(f - r).abs().max():.3g})"]
    return []


def check_per_channel(per_channel: Q, per_tensor_for: Callable[[int], Q], x: torch.Tensor,
                      axis: int = 0) -> list[str]:
    """``per_channel(x)`` equals ``per_tensor_for(c)(x[c])`` for every channel ``c``."""
    with torch.no_grad():
        y = per_channel(x)
        for c in range(x.shape[axis]):
            want = per_tensor_for(c)(x.select(axis, c))
            if not torch.equal(y.select(axis, c), want):
                return [f"channel {c} differs from the per-tensor quantizer"]
    return []
