"""Forward + backward of the DARTS dilated depthwise convolutions: oneDNN's direct dilated
convolution (``F.conv2d``) against the polyphase decomposition (:mod:`qsrbench.fastconv`), side
by side in one run (pytest-benchmark; not a timed assertion).

Shapes: those of a BPE-1 proxy network (batch 128, 16x16 images, 8 initial channels: cells at
16x16, 8x8 and 4x4 with 8 to 32 channels), ``dil_conv_3x3`` and ``dil_conv_5x5`` (dilation 2),
stride 1 in normal cells and 2 in reduction cells, channels_last as the estimation loop runs
them. Each round times every shape with both implementations, alternating; ``extra_info`` holds
the per-shape median milliseconds of each and their ratio (decomposition / direct; < 1 is
faster). Asserted: the two agree to float32 tolerance on every shape (the same sums).
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from qsrbench.fastconv import dilated_conv2d

SHAPES = [  # (channels, side, kernel, stride)
    (8, 16, 3, 1), (8, 16, 5, 1), (16, 16, 3, 1), (16, 16, 5, 1), (8, 8, 5, 1), (16, 16, 5, 2),
    (16, 16, 3, 2), (16, 8, 5, 1), (32, 8, 5, 2), (32, 8, 3, 1), (32, 4, 3, 1), (32, 4, 5, 1),
]
BATCH, DILATION, REPEATS, ROUNDS = 128, 2, 5, 3


def _fwd_bwd(fn, x, w, stride, pad):
    x.grad = w.grad = None
    y = fn(x, w, None, stride, pad, DILATION, w.shape[0])
    y.backward(torch.ones_like(y))
    return y


def test_dilated_depthwise_fwd_bwd(benchmark):
    gen = torch.Generator().manual_seed(0)
    cases = []
    for c, side, k, stride in SHAPES:
        x = torch.randn(BATCH, c, side, side, generator=gen).contiguous(memory_format=torch.channels_last)
        cases.append((f"c{c}_s{side}_k{k}_st{stride}", x.requires_grad_(),
                      torch.randn(c, 1, k, k, generator=gen).requires_grad_(), stride, DILATION * (k - 1) // 2))
    times = {name: {"direct": [], "phases": []} for name, *_ in cases}

    def one_round():
        for name, x, w, stride, pad in cases:
            for label, fn in (("direct", F.conv2d), ("phases", dilated_conv2d)):
                _fwd_bwd(fn, x, w, stride, pad)  # warm
                t0 = time.perf_counter()
                for _ in range(REPEATS):
                    _fwd_bwd(fn, x, w, stride, pad)
                times[name][label].append((time.perf_counter() - t0) / REPEATS * 1e3)

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    summary = {}
    for name, x, w, stride, pad in cases:
        direct, phases = (statistics.median(times[name][k]) for k in ("direct", "phases"))
        summary[name] = {"direct_ms": direct, "phases_ms": phases, "ratio": phases / direct}
        ref = F.conv2d(x, w, None, stride, pad, DILATION, w.shape[0])
        torch.testing.assert_close(dilated_conv2d(x, w, None, stride, pad, DILATION, w.shape[0]), ref,
                                   rtol=1e-5, atol=1e-5)
    total = {k: sum(statistics.median(t[k]) for t in times.values()) for k in ("direct", "phases")}
    benchmark.extra_info.update({"per_shape": summary, "total_direct_ms": total["direct"],
                                 "total_phases_ms": total["phases"],
                                 "total_ratio": total["phases"] / total["direct"],
                                 "threads": torch.get_num_threads(), "batch": BATCH})
