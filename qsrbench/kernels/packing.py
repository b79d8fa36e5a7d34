"""Bit packing of low-bit integer tensors, the storage formats of the integer kernels.

* **int4**: two signed 4-bit values per byte (``uint8``), element ``2i`` in the low nibble and
  ``2i + 1`` in the high nibble, each in two's complement (-8..7); an odd length is padded with a
  zero. Unpacking sign-extends each nibble.
* **1-bit**: values in {-1, +1} (a :func:`qsrbench.quant.binary.binarize` sign, ``sign(0) = +1``),
  32 per ``int32`` word, element ``32k + i`` at bit ``i`` of word ``k``, a set bit meaning +1; a
  length that is not a multiple of 32 is padded with +1 bits, and :func:`binary_dot` counts only
  the first ``n`` elements.

All functions pack along the last dimension. :func:`popcount32` is the portable popcount the
reference uses (torch has no popcount op): a 256-entry table over the four bytes of each word.
The dot product of two ±1 vectors of length n is ``n - 2 · popcount(a XOR b)`` (equal bits
contribute +1, different bits -1), which is what an XNOR-popcount kernel computes.
"""

from __future__ import annotations

import torch

__all__ = ["pack_int4", "unpack_int4", "pack_bits", "unpack_bits", "popcount32", "binary_dot"]

_BYTE_POPCOUNT = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.int32)


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """Signed values in [-8, 7] (any integer dtype) → ``uint8``, half the last dimension (rounded up)."""
    if q.dtype.is_floating_point or q.dtype == torch.bool:
        raise TypeError(f"pack_int4 takes an integer tensor, not {q.dtype}")
    if q.numel() and (int(q.min()) < -8 or int(q.max()) > 7):
        raise ValueError(f"int4 values must lie in [-8, 7], got [{int(q.min())}, {int(q.max())}]")
    q = q.to(torch.int16)
    if q.shape[-1] % 2:
        q = torch.nn.functional.pad(q, (0, 1))
    nib = q & 0xF
    return (nib[..., 0::2] | (nib[..., 1::2] << 4)).to(torch.uint8)


def unpack_int4(packed: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`pack_int4`: the first ``n`` values of the last dimension, ``int8``."""
    p = packed.to(torch.int16)
    both = torch.stack((p & 0xF, (p >> 4) & 0xF), dim=-1).flatten(-2)[..., :n]
    return torch.where(both >= 8, both - 16, both).to(torch.int8)


def pack_bits(signs: torch.Tensor) -> torch.Tensor:
    """Values in {-1, +1} (or booleans, True = +1) → ``int32`` words along the last dimension."""
    bits = signs if signs.dtype == torch.bool else signs > 0
    if signs.dtype != torch.bool and signs.numel() and not bool(((signs == 1) | (signs == -1)).all()):
        raise ValueError("pack_bits takes values in {-1, +1}")
    n = bits.shape[-1]
    pad = (-n) % 32
    if pad:
        bits = torch.cat([bits, bits.new_ones(*bits.shape[:-1], pad)], dim=-1)
    words = bits.reshape(*bits.shape[:-1], -1, 32).to(torch.int64)
    weights = torch.ones(32, dtype=torch.int64) << torch.arange(32)
    packed = (words * weights).sum(-1)  # 0 .. 2^32 - 1
    return torch.where(packed >= 2**31, packed - 2**32, packed).to(torch.int32)


def unpack_bits(words: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: the first ``n`` values, ``int8`` in {-1, +1}."""
    w = words.to(torch.int64) & 0xFFFFFFFF
    bits = (w.unsqueeze(-1) >> torch.arange(32)) & 1
    return (bits.flatten(-2)[..., :n] * 2 - 1).to(torch.int8)


def popcount32(words: torch.Tensor) -> torch.Tensor:
    """Set bits of each ``int32`` word (``int32``)."""
    w = words.to(torch.int64) & 0xFFFFFFFF
    out = torch.zeros_like(w, dtype=torch.int32)
    for shift in (0, 8, 16, 24):
        out += _BYTE_POPCOUNT[(w >> shift) & 0xFF]
    return out


def binary_dot(a: torch.Tensor, b: torch.Tensor, n: int) -> torch.Tensor:
    """Dot products of ±1 vectors packed by :func:`pack_bits` (last dimension: words), over the
    first ``n`` elements: ``n - 2 · popcount(a XOR b)`` (the padding bits are equal, so add 0)."""
    return n - 2 * popcount32(a ^ b).sum(-1)
