"""Memory of a training step, measured the same way on any device.

:func:`saved_tensor_bytes` counts the bytes autograd keeps for the backward pass of a forward
(the activation memory that dominates a training step's peak): every tensor packed by autograd
while ``fn`` runs, each storage counted once (views of one storage share it). It is
deterministic, needs no allocator statistics, and means the same on a CPU and a GPU. A parameter
autograd saves (e.g. a conv's weight, kept for the input's gradient) is counted once; gradients and
optimizer states are not (they do not depend on the forward mode). On CUDA,
:func:`cuda_peak_bytes` gives the allocator's peak as well.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["saved_tensor_bytes", "cuda_peak_bytes"]


def saved_tensor_bytes(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, int]:
    """``(fn(), bytes)``: the output of ``fn`` and the bytes of the distinct storages autograd
    saved for its backward while it ran."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen.setdefault((t.device.type, storage.data_ptr()), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


def cuda_peak_bytes(fn: Callable[[], object], device: torch.device | str = "cuda") -> int:
    """The CUDA allocator's peak bytes while ``fn`` runs (from a reset peak)."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))
