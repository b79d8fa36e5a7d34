"""Timers that are honest on a GPU: synchronise before reading the host clock."""

from __future__ import annotations

import time

import torch

__all__ = ["sync", "Stopwatch"]


def sync(device: torch.device | str) -> None:
    """Wait for queued device work (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Accumulates seconds over ``with stopwatch.section(device):`` blocks."""

    def __init__(self) -> None:
        self.seconds = 0.0

    class _Section:
        def __init__(self, owner: "Stopwatch", device):
            self.owner, self.device = owner, device

        def __enter__(self):
            sync(self.device)
            self.t0 = time.perf_counter()

        def __exit__(self, *exc):
            sync(self.device)
            self.owner.seconds += time.perf_counter() - self.t0

    def section(self, device: torch.device | str = "cpu") -> "Stopwatch._Section":
        return Stopwatch._Section(self, device)
