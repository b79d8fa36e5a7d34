"""The GPU kernel benchmarks' timing rule (issue 16): CUDA events, warm-up, L2 flushed before
every timed call, median and interquartile range, device and clocks stamped.

* Each timed call is bracketed by two CUDA events on the current stream (device time, not host
  time); the L2 cache is flushed before it by zeroing a buffer larger than any current GPU's L2
  (256 MiB by default), outside the events, so every call reads its operands from HBM as a
  layer of a whole network would.
* ``warmup`` untimed calls first (Triton compilation and autotuning, cuDNN algorithm search).
* :func:`summary` reports milliseconds as median and IQR (25th to 75th percentile) and the device,
  its SM clock now and at most (``nvidia-smi``, "?" where it cannot be read), driver and torch
  versions, so that a figure says where and under which clocks it was taken.
"""

from __future__ import annotations

import statistics
import subprocess

import torch

__all__ = ["cuda_times_ms", "summary", "device_stamp"]

FLUSH_BYTES = 256 << 20


def cuda_times_ms(fn, reps: int = 50, warmup: int = 10, flush_bytes: int = FLUSH_BYTES) -> list[float]:
    """Device milliseconds of ``reps`` calls of ``fn`` (after ``warmup`` calls), L2 flushed before each."""
    if not torch.cuda.is_available():
        raise RuntimeError("cuda_times_ms needs a CUDA device")
    flush = torch.empty(flush_bytes, dtype=torch.uint8, device="cuda")
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        flush.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def device_stamp() -> dict:
    """Device name, SM clock now / max (MHz), driver, CUDA and torch versions."""
    stamp = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=clocks.sm,clocks.max.sm,driver_version",
                              "--format=csv,noheader,nounits", "-i", str(torch.cuda.current_device())],
                             capture_output=True, text=True, timeout=10).stdout.strip().split(", ")
        stamp.update(sm_clock_mhz=out[0], sm_clock_max_mhz=out[1], driver=out[2])
    except (OSError, subprocess.SubprocessError, IndexError):
        stamp.update(sm_clock_mhz="?", sm_clock_max_mhz="?", driver="?")
    return stamp


def summary(times_ms: list[float]) -> dict:
    """Median and IQR (ms) of a list of timings."""
    q1, med, q3 = statistics.quantiles(times_ms, n=4, method="inclusive")
    return {"median_ms": med, "q1_ms": q1, "q3_ms": q3, "iqr_ms": q3 - q1, "n": len(times_ms)}
