"""Search time and memory of QuantNAS with the quantization-noise proxy against direct
quantization, side by side in one run on one device (pytest-benchmark; issue 17).

``test_quantnas_noise_vs_direct_search`` runs, alternately in each round, a whole search of each
mode (:func:`reference.quantnas.run_search`; which mode goes first alternates between rounds, after one
untimed warm-up search of each) with the same budget, seed and data: the basic space
at the paper's width (36 channels, 3 cells, bits {4, 8}, ADQ) at x4, ``EPOCHS`` epochs of
``STEPS`` iterations (one α step and one weight step each), batch ``BATCH`` of ``PATCH``-pixel HR
patches. The patches are fixed random tensors: both modes run the same loop on the same tensors,
so the comparison is of the two relaxations' compute, not of data loading.

Memory: the bytes autograd saves for the backward of one search forward of each mode
(:func:`qsrbench.memory.saved_tensor_bytes`; the activation memory of a step, the same on any
device), and on CUDA the allocator peak of one step.

Claim (Shvetsov et al., QuantNAS, arXiv 2208.14839 v1-v3 abstract): a search with the noise proxy
"up to 30% faster than directly quantizing weights": a time ratio noise / direct of at most 0.7
(or 1/1.3 = 0.77 if read as 30 % more speed). ``leaderboards/quantnas.md`` shows the committed
run against it. Asserted: both searches finish and derive a network of one (operation, bits) per
position.
"""

from __future__ import annotations

import time

import torch

from qsrbench.memory import cuda_peak_bytes, saved_tensor_bytes
from qsrbench.stats import ratio_interval
from reference.quantnas import SearchConfig, run_search
from reference.quantnas_space import BASIC_SPACE, POSITIONS, QuantSRNet, supernet_choices

SCALE, BATCH, PATCH, EPOCHS, STEPS, ROUNDS = 4, 8, 96, 2, 3, 4
MODES = ("noise", "direct")
CFG = SearchConfig(epochs=EPOCHS, steps_per_epoch=STEPS, batch=BATCH, patch=PATCH)
WHAT = (f"Whole QuantNAS searches, alternated in each round, with the same budget and seed: the basic space "
        f"(36 channels, 3 cells, bits {{4, 8}}, ADQ) at x{SCALE}, {EPOCHS} epochs x {STEPS} iterations (one "
        f"architecture step and one weight step each), batch {BATCH} of {PATCH}-pixel HR patches (fixed random "
        "tensors, the same for both). `noise`: the quantization-noise proxy (Gaussian, FP share 1/3); `direct`: "
        "LSQ weights and HWGQ activations inside the supernet.")
CLAIM = {"max_ratio": 0.7, "text": "a search with the noise proxy \"up to 30% faster than directly quantizing weights\"",
         "source": "Shvetsov et al., QuantNAS, arXiv 2208.14839 v1-v3 abstract (IEEE Access 2024: \"30% faster\"); "
                   "30 % less time; 1/1.3 = 0.77 if read as 30 % more speed"}


class _FixedBatches:
    """The sampler interface of :func:`run_search` over fixed random (LR, HR) tensors in [0, 255]."""

    def __init__(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.lr = torch.rand(BATCH, 3, PATCH // SCALE, PATCH // SCALE, generator=g) * 255
        self.hr = torch.rand(BATCH, 3, PATCH, PATCH, generator=g) * 255

    def next_batch(self):
        return self.lr, self.hr


def _net(mode: str) -> QuantSRNet:
    torch.manual_seed(0)
    return QuantSRNet(supernet_choices(BASIC_SPACE, CFG.bits), scale=SCALE, mode=mode)


def _memory(mode: str, device: str) -> dict[str, int]:
    net = _net(mode).to(device)
    data = _FixedBatches(0)
    x = (data.lr / 255).to(device)
    _, saved = saved_tensor_bytes(lambda: net(x))
    out = {"saved_for_backward_bytes": saved}
    if device == "cuda":
        out["cuda_peak_bytes"] = cuda_peak_bytes(lambda: net(x).mean().backward())
    return out


def test_quantnas_noise_vs_direct_search(benchmark):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    times: dict[str, list[float]] = {m: [] for m in MODES}
    derived = []
    warm = SearchConfig(epochs=1, steps_per_epoch=1, batch=BATCH, patch=PATCH)
    for mode in MODES:  # warm-up outside the timing (allocator, kernels, cuDNN autotuning)
        run_search(_net(mode).to(device), _FixedBatches(1), _FixedBatches(2), warm, device)

    def pair():
        order = MODES if len(times["noise"]) % 2 == 0 else MODES[::-1]  # alternate who goes first
        for mode in order:
            net = _net(mode).to(device)
            t0 = time.perf_counter()
            run_search(net, _FixedBatches(1), _FixedBatches(2), CFG, device)
            if device == "cuda":
                torch.cuda.synchronize()
            times[mode].append(time.perf_counter() - t0)
            derived.append(net.derive())

    benchmark.pedantic(pair, rounds=ROUNDS, iterations=1)
    ratio = ratio_interval(times["noise"], times["direct"])
    memory = {m: _memory(m, device) for m in MODES}
    saved = {m: memory[m]["saved_for_backward_bytes"] for m in MODES}
    benchmark.extra_info.update({
        "noise_s": times["noise"], "direct_s": times["direct"], "ratio": ratio.estimate,
        "ratio_low": ratio.low, "ratio_high": ratio.high, "level": ratio.level, "memory": memory,
        "threads": torch.get_num_threads(), "device": device, "batch": BATCH, "patch": PATCH,
        "epochs": EPOCHS, "steps_per_epoch": STEPS,
        # read by qsrbench.bench_board for leaderboards/quantnas.md
        "board": "quantnas",
        "compare": {"labels": list(MODES), "seconds": dict(times), "what": WHAT},
        "claim": CLAIM,
        "notes": [f"Saved for backward per search forward (batch {BATCH}): noise {saved['noise'] / 2**20:.1f} MiB, "
                  f"direct {saved['direct'] / 2**20:.1f} MiB (ratio {saved['noise'] / saved['direct']:.3f}); "
                  "autograd's saved tensors, counted once per storage (qsrbench.memory)."]})
    assert derived and all(set(d) == set(POSITIONS) for d in derived)
