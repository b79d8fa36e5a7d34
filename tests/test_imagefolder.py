"""ImageFolder classification data (ImageNet layout) on a stand-in built here: listing, labels,
resize + centre crop, the decoded cache, manifest checks, clear errors, and a NAS smoke search
on it through the registry."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from qsrbench.data.imagefolder import load_imagefolder
from qsrbench.errors import DataError
from qsrbench.methods import RunContext
from qsrbench.registry import datasets, methods
from qsrbench.spec import parse_spec


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QSRBENCH_CACHE", str(tmp_path / "cache"))


COLOURS = {"n01440764": (255, 0, 0), "n01443537": (0, 255, 0), "n01484850": (0, 0, 255)}


def _stand_in(root, per_class=4):
    """ImageNet/{train,val}/<wnid>/ with solid-colour images of odd sizes (JPEG and PNG)."""
    folder = root / "ImageNet"
    for split in ("train", "val"):
        for c, (wnid, rgb) in enumerate(COLOURS.items()):
            d = folder / split / wnid
            d.mkdir(parents=True)
            for i in range(per_class):
                im = Image.new("RGB", (40 + 7 * i, 30 + 5 * c), rgb)
                im.save(d / f"{wnid}_{i}.png") if i % 2 else im.save(d / f"{wnid}_{i}.JPEG", quality=95)
    (folder / "train" / "README.txt").write_text("not an image folder entry")
    return folder


def test_layout_labels_and_resize(tmp_path):
    folder = _stand_in(tmp_path)
    s = load_imagefolder(folder, "train", size=8)
    assert s.images.shape == (12, 3, 8, 8) and s.images.dtype == torch.uint8
    assert s.classes == sorted(COLOURS) and s.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    png = s.images[1]  # n01440764_1.png, lossless: pure red after any resize
    assert torch.equal(png, torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1).expand(3, 8, 8))
    jpeg = s.images[4].float().mean((1, 2))  # green JPEG: close to (0, 255, 0)
    assert (jpeg - torch.tensor([0.0, 255.0, 0.0])).abs().max() < 4
    assert s.variant == "imagefolder-8px-unverified"
    val = load_imagefolder(folder, "test", size=8)  # "test" reads val/
    assert val.split == "test" and len(val) == 12


def test_cache_is_reused_and_refreshed(tmp_path, monkeypatch):
    folder = _stand_in(tmp_path)
    first = load_imagefolder(folder, "val", size=6)
    import qsrbench.data.imagefolder as mod

    def no_decode(*_):
        raise AssertionError("decoded again")

    monkeypatch.setattr(mod, "_decode", no_decode)
    assert torch.equal(load_imagefolder(folder, "val", size=6).images, first.images)
    Image.new("RGB", (9, 9), (1, 2, 3)).save(folder / "val" / "n01440764" / "extra.png")
    with pytest.raises(AssertionError, match="decoded again"):  # a changed folder is decoded anew
        load_imagefolder(folder, "val", size=6)


def test_manifest_checks(tmp_path):
    folder = _stand_in(tmp_path, per_class=1)
    rels = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in (".png", ".JPEG"))
    files = {r: hashlib.sha256((folder / r).read_bytes()).hexdigest() for r in rels}
    (folder / "manifest.json").write_text(json.dumps({"files": files}))
    assert load_imagefolder(folder, "train", size=4).variant == "imagefolder-4px-verified"
    victim = folder / "train" / "n01443537" / "n01443537_0.JPEG"
    victim.write_bytes(victim.read_bytes() + b"x")
    with pytest.raises(DataError, match=r"n01443537_0.JPEG: sha256 does not match .*manifest.json"):
        load_imagefolder(folder, "train", size=4)
    assert load_imagefolder(folder, "train", size=4, verify=False).images.shape[0] == 3
    Image.new("RGB", (5, 5)).save(folder / "val" / "n01440764" / "new.png")
    with pytest.raises(DataError, match=r"new.png: not listed in .*manifest.json"):
        load_imagefolder(folder, "val", size=4)


def test_clear_errors(tmp_path):
    with pytest.raises(DataError, match=r"ImageNet/train is missing"):
        load_imagefolder(tmp_path / "ImageNet", "train")
    folder = _stand_in(tmp_path)
    with pytest.raises(DataError, match="unknown split 'dev'"):
        load_imagefolder(folder, "dev")
    (folder / "val" / "n01440764" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"broken.jpg: cannot decode image"):
        load_imagefolder(folder, "val", size=4)
    (folder / "train" / "n09999999").mkdir()
    with pytest.raises(DataError, match=r"n09999999 holds no images"):
        load_imagefolder(folder, "train", size=4)
    with pytest.raises(DataError, match="ImageNet is not shipped"):
        datasets.get("ImageNet-32").load(tmp_path / "nowhere", "train")


def test_nas_smoke_search_on_imagenet_stand_in(tmp_path):
    _stand_in(tmp_path, per_class=6)
    spec = parse_spec({
        "name": "darts-in", "version": 1, "description": "t", "tier": "smoke", "leaderboard": "nas_imagenet",
        "datasets": ["ImageNet-32"],
        "method": {"name": "darts", "device": "cpu", "seeds": [0],
                   "search": {"epochs": 1, "batch_size": 6, "images": 18, "channels": 4, "layers": 3},
                   "final": {"epochs": 1, "train_images": 12, "test_images": 6, "channels": 4, "layers": 3,
                             "batch_size": 6, "cutout": 0, "drop_path": 0.0}},
        "metrics": {"top1": {}, "error": {}, "search_s": {}}})
    method = methods.get("darts")()
    (job,) = method.jobs(spec)
    res = method.run_job(spec, job, RunContext(data_root=tmp_path))
    assert 0 <= res.metrics["top1"] <= 100 and res.extra["data_variant"] == "imagefolder-32px-unverified"
    assert res.extra["test_images"] == 6 and res.macs > 0
