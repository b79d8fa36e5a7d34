"""Training throughput of the SR training stack (pytest-benchmark; goals, not assertions).

* ``test_train_steps[<model>-stack]`` times :func:`qsrbench.train.loop.train_loop` for ``STEPS``
  optimizer steps of the FP model (patch sampling, forward, L1, backward, Adam, checkpoint at the
  end) and ``[<model>-bare]`` a bare torch loop of the same steps on pre-made batches of the same
  size. The stack's goal is to stay within 10% of the bare loop in steady state: compare
  ``extra_info["steps_per_s"]``, the loop's own rate of optimizer steps (sampling included; its
  set-up and final checkpoint excluded, which the whole-call times of the table include).
* ``[<model>-pams-w4a4]`` / ``[<model>-fqsr-w4a4]`` time the same stack steps of the fake-quant
  students (quantizers active: their data initialisation is done before timing), so each row
  against ``-stack`` is the fake-quant training slowdown vs FP of that model.

Random-initialised shipped architectures at x4, batch 4, HR patch 64 (LR 16), 3 steps per round:
about a minute in total, no data root or weights needed. What is asserted: every variant trained (the
weights moved) and the loss is finite.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qsrbench.data.imresize import imresize
from qsrbench.models import create_model
from qsrbench.train.config import TrainConfig
from qsrbench.train.loop import train_loop
from qsrbench.train.method import l1_objective
from qsrbench.train.patches import PatchSampler, TrainImage
from qsrbench.spec import load_spec

from .conftest import SPEC_DIR

SCALE, BATCH, PATCH, STEPS = 4, 4, 64, 3
SMOKE = {"pams": SPEC_DIR / "qat" / "pams-pan-x4-w4a4-smoke.toml",
         "fqsr": SPEC_DIR / "qat" / "fqsr-pan-x4-w4a4-smoke.toml"}


def _images():
    rng = np.random.default_rng(0)
    out = []
    for i in range(4):
        hr = rng.integers(0, 256, (3, 96, 96), dtype=np.uint8)
        out.append(TrainImage(f"r{i}", hr, imresize(torch.from_numpy(hr), 1 / SCALE).numpy()))
    return out


def _net(model: str, variant: str):
    torch.manual_seed(0)
    net = create_model(model, SCALE)
    if variant in SMOKE:
        from qsrbench.registry import methods

        spec = load_spec(SMOKE[variant])
        spec = spec.model_copy(update={"model": spec.model.model_copy(update={"name": model})})
        method = methods.get(variant)()
        if variant == "pams":
            net = method._student(spec, net)
        else:
            from reference.fqsr import _student

            net = _student(spec, net)
        net.train()
        with torch.no_grad():  # quantizers set their clips from data before timing
            for _ in range(25):
                net(torch.rand(BATCH, 3, PATCH // SCALE, PATCH // SCALE))
    return net


@pytest.mark.parametrize("model", ["pan", "imdn"])
@pytest.mark.parametrize("variant", ["bare", "stack", "pams", "fqsr"])
def test_train_steps(benchmark, tmp_path, model, variant):
    net = _net(model, variant)
    before = [p.detach().clone() for p in net.parameters()]
    factor = 255.0  # PAN and IMDN work in [0, 1]
    cfg = TrainConfig(iterations=STEPS, batch=BATCH, patch=PATCH, lr=1e-4, augment=True)
    benchmark.group = f"train-steps-{model}"
    benchmark.extra_info.update({"model": model, "variant": variant, "batch": BATCH,
                                 "hr_patch": PATCH, "steps": STEPS, "threads": torch.get_num_threads()})
    if variant == "bare":
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        sampler = PatchSampler(_images(), SCALE, PATCH, BATCH, seed=0)
        batches = [sampler.next_batch() for _ in range(STEPS)]

        def run():
            for lr, hr in batches:
                opt.zero_grad(set_to_none=True)
                loss = F.l1_loss(net(lr / factor) * factor, hr)
                loss.backward()
                opt.step()
            return loss
    else:
        rounds = iter(range(1000))

        loop_rates = []

        def run():
            sampler = PatchSampler(_images(), SCALE, PATCH, BATCH, seed=0)
            res = train_loop(net, l1_objective(factor), sampler, cfg, tmp_path / str(next(rounds)),
                             meta={}, is_quant_param=lambda n: n.endswith("alpha"))
            loop_rates.append(res.it_per_s)
            return torch.tensor(res.it_per_s)

    out = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert torch.isfinite(out)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    if variant == "bare":
        benchmark.extra_info["steps_per_s"] = STEPS / benchmark.stats.stats.median
    else:  # the loop's own rate (its steps only: no set-up, no checkpoint), median over rounds
        benchmark.extra_info["steps_per_s"] = float(np.median(loop_rates))
