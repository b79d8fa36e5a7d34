"""The SR training stack: patches, schedules, exact resume after a kill, checkpoint failures.

No data root needed: the loop tests use synthetic images, the patch tests scikit-image's images.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from qsrbench.data.imresize import imresize
from qsrbench.errors import DataError, QsrbenchError
from qsrbench.quant.qat import LearnedClip
from qsrbench.train import checkpoint as ckpt_mod
from qsrbench.train.checkpoint import CheckpointError, load_checkpoint_state, save_checkpoint
from qsrbench.train.config import Schedule, TrainConfig
from qsrbench.train.loop import lr_factor, param_groups, train_loop
from qsrbench.train.method import l1_objective
from qsrbench.train.patches import PatchSampler, TrainImage, _dihedral, load_training_images

SCALE = 2


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Conv2d(3, 8, 3, padding=1)
        self.act_q = LearnedClip(4, init_steps=2)
        self.tail = nn.Conv2d(8, 3 * SCALE * SCALE, 3, padding=1)
        self.up = nn.PixelShuffle(SCALE)
        self.drop = nn.Dropout(0.1)  # torch's RNG matters: resume must restore it

    def forward(self, x):
        return self.up(self.tail(self.act_q(self.drop(torch.relu(self.head(x))))))


def _images(n=3, size=24):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        hr = rng.integers(0, 256, (3, size, size), dtype=np.uint8)
        lr = imresize(torch.from_numpy(hr), 1 / SCALE).numpy()
        out.append(TrainImage(f"img{i}", hr, lr))
    return out


def _cfg(**kw):
    base = dict(iterations=6, batch=2, patch=8, lr=1e-3, quant_lr=1e-2, ema=0.9, grad_clip=1.0,
                schedule=Schedule(kind="step", step=2, gamma=0.5), checkpoint_every=3)
    return TrainConfig(**{**base, **kw})


def _run(run_dir, cfg, on_iteration=None, meta=None, model=None, sampler=None):
    model = model or Tiny()
    sampler = sampler or PatchSampler(_images(), SCALE, cfg.patch, cfg.batch, seed=7)
    return train_loop(model, l1_objective(255.0), sampler, cfg, run_dir, meta=meta or {"run": "t"},
                      is_quant_param=lambda n: n.endswith("alpha"), seed=3, on_iteration=on_iteration)


class Killed(Exception):
    pass


def test_resume_after_a_kill_is_bit_identical(tmp_path):
    cfg = _cfg()
    whole = _run(tmp_path / "whole", cfg)

    def kill(it):
        if it == 4:  # after the checkpoint at 3: iteration 4 is lost and redone
            raise Killed

    with pytest.raises(Killed):
        _run(tmp_path / "killed", cfg, on_iteration=kill)
    resumed = _run(tmp_path / "killed", cfg)
    assert resumed.resumed_at == 3
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    assert whole.weights_sha256 == resumed.weights_sha256
    assert int(resumed.model.act_q.seen) == 2  # the EMA copies buffers, it does not average them

    def no_sampler():
        raise AssertionError("a finished run must not read its training data")

    again = _run(tmp_path / "killed", cfg, sampler=no_sampler)  # finished: loads, trains nothing
    assert again.resumed_at == 6 and again.weights_sha256 == whole.weights_sha256


def test_training_moves_weights_and_uses_the_groups(tmp_path):
    cfg = _cfg(ema=None)
    before = Tiny().state_dict()
    model, seen = Tiny(), {}
    res = _run(tmp_path, cfg, model=model,
               on_iteration=lambda it: seen.setdefault(it, model.act_q.alpha.item()))
    after = res.model.state_dict()
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert int(after["act_q.seen"]) == 2
    assert seen[3] != seen[2] and after["act_q.alpha"].item() != seen[3]  # the quant group learns α
    groups = param_groups(Tiny(), cfg, lambda n: n.endswith("alpha"))
    assert [g["name"] for g in groups] == ["weights", "quant"]
    assert groups[1]["lr"] == 1e-2 and groups[1]["weight_decay"] == 0.0 and len(groups[1]["params"]) == 1
    assert res.iterations == 6 and res.train_s > 0 and res.it_per_s > 0


def test_schedules():
    assert [lr_factor(Schedule(kind="step", step=2, gamma=0.5), t, 6) for t in range(6)] == \
        [1, 1, 0.5, 0.5, 0.25, 0.25]
    cos = Schedule(kind="cosine", min_factor=0.1)
    assert lr_factor(cos, 0, 10) == 1.0
    assert lr_factor(cos, 5, 10) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(cos, 10, 10) == pytest.approx(0.1)
    assert lr_factor(Schedule(kind="constant"), 123, 10) == 1.0
    with pytest.raises(ValueError, match="needs 'step'"):
        Schedule(kind="step")


def test_checkpoint_of_another_run_or_corrupt_is_a_one_line_error(tmp_path):
    _run(tmp_path, _cfg(iterations=3), meta={"run": "a"})
    with pytest.raises(CheckpointError, match=r"checkpoint.pt: written by another run \(meta.run is 'a'"):
        _run(tmp_path, _cfg(iterations=3), meta={"run": "b"})
    (tmp_path / "checkpoint.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError) as err:
        _run(tmp_path, _cfg(iterations=3), meta={"run": "a"})
    assert "not a readable training checkpoint" in str(err.value) and "\n" not in str(err.value)


def test_a_kill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"meta": {"run": "a"}, "iteration": 3})
    real_save = torch.save

    def dying_save(obj, f):
        real_save(obj, f)
        f.truncate(10)  # half-written file, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"meta": {"run": "a"}, "iteration": 6})
    monkeypatch.setattr(ckpt_mod.torch, "save", real_save)
    assert load_checkpoint_state(path, {"run": "a"})["iteration"] == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_diverging_loss_is_a_clear_error(tmp_path):
    def nan_objective(model, lr, hr):
        return model(lr).sum() * float("nan"), {}

    sampler = PatchSampler(_images(), SCALE, 8, 2)
    with pytest.raises(QsrbenchError, match="diverged at iteration 1") as err:
        train_loop(Tiny(), nan_objective, sampler, _cfg(), tmp_path, meta={})
    assert "\n" not in str(err.value)


def test_a_checkpoint_that_does_not_fit_the_run_is_a_one_line_error(tmp_path):
    _run(tmp_path, _cfg(iterations=3), meta={"run": "a"})
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    state["iteration"] = 1  # not finished: everything is restored
    optimizer = state.pop("optimizer")
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    with pytest.raises(CheckpointError) as err:
        _run(tmp_path, _cfg(iterations=3), meta={"run": "a"})
    assert "does not fit this run (KeyError" in str(err.value) and "\n" not in str(err.value)
    state["optimizer"] = optimizer
    state["data"] = "other images"
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    with pytest.raises(CheckpointError, match="training data changed"):
        _run(tmp_path, _cfg(iterations=3), meta={"run": "a"})


def test_patches_are_aligned_and_augmented():
    imgs = _images(n=1, size=40)
    sampler = PatchSampler(imgs, SCALE, 16, 4, augment=False, seed=1)
    lr, hr = sampler.next_batch()
    assert lr.shape == (4, 3, 8, 8) and hr.shape == (4, 3, 16, 16) and lr.dtype == torch.float32
    full_lr, full_hr = imgs[0].lr, imgs[0].hr
    for k in range(4):  # every LR patch sits in the LR image at the HR patch's position / scale
        hits = [(t, l) for t in range(full_lr.shape[1] - 7) for l in range(full_lr.shape[2] - 7)
                if np.array_equal(full_lr[:, t:t + 8, l:l + 8], lr[k].numpy())]
        assert any(np.array_equal(full_hr[:, 2 * t:2 * t + 16, 2 * l:2 * l + 16], hr[k].numpy())
                   for t, l in hits)
    a = np.arange(12).reshape(1, 3, 4)
    assert len({_dihedral(a, k).tobytes() + bytes(_dihedral(a, k).shape) for k in range(8)}) == 8
    s1, s2 = PatchSampler(imgs, SCALE, 16, 2, seed=5), PatchSampler(imgs, SCALE, 16, 2, seed=5)
    s1.next_batch()
    s2.load_state_dict(s1.state_dict())
    assert all(torch.equal(u, v) for u, v in zip(s1.next_batch(), s2.next_batch()))
    with pytest.raises(DataError, match="not a multiple of the scale"):
        PatchSampler(imgs, 3, 16, 2)


def test_training_images_use_the_matlab_bicubic_and_are_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("QSRBENCH_CACHE", str(tmp_path / "cache"))
    images, digest = load_training_images(["skimage-demo"], 4, 16, max_images=2)
    assert digest.startswith("skimage-demo:") and len(images) == 2
    img = images[0]
    assert img.hr.shape[0] == 3 and img.hr.shape[1] % 4 == 0
    want = imresize(torch.from_numpy(img.hr), 0.25).numpy()
    assert np.array_equal(img.lr, want)
    cached = sorted((tmp_path / "cache" / "train-lr").rglob("*.npy"))
    assert len(cached) == 2
    calls = []
    monkeypatch.setattr("qsrbench.train.patches.imresize", lambda *a: calls.append(a))
    again, _ = load_training_images(["skimage-demo"], 4, 16, max_images=2)
    assert not calls and np.array_equal(again[0].lr, img.lr)  # read from the cache
    with pytest.raises(DataError, match="none of its 2 images is large enough"):
        load_training_images(["skimage-demo"], 4, 10_000, max_images=2)


def test_div2k_is_read_from_an_hr_folder_unverified(tmp_path):
    from PIL import Image

    from qsrbench.registry import datasets

    div2k = datasets.get("DIV2K")
    assert div2k.role == "train"
    with pytest.raises(DataError, match=r"DIV2K not found: looked for .*never shipped or downloaded"):
        div2k.load(tmp_path, [4])
    folder = tmp_path / "DIV2K" / "HR"
    folder.mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        div2k.load(tmp_path, [4])
    rng = np.random.default_rng(0)
    for name in ("0002", "0001"):
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    loaded = div2k.load(tmp_path, [4])
    assert [i.name for i in loaded.images] == ["0001", "0002"] and loaded.digest.startswith("unverified-")
    assert loaded.images[0].hr.shape == (3, 40, 36)
    images, _ = load_training_images(["DIV2K"], 4, 8, data_root=tmp_path)
    assert images[0].lr.shape == (3, 10, 9)
