"""CIFAR-10 loading (both layouts, on stand-ins built here, and the shipped JPEG copy) and the
on-device batch augmentation."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from qsrbench.data.cifar import augment, load_cifar10, normalize
from qsrbench.errors import DataError

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QSRBENCH_CACHE", str(tmp_path / "cache"))


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")  # lossless, so pixels can be compared exactly
    return buf.getvalue()


def _jpeg_root(tmp_path, images: dict[str, list[np.ndarray]]):
    folder = tmp_path / "root" / "CIFAR10-jpeg75"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "test.zip", "w") as z:
        for cls, arrs in images.items():
            for i, a in enumerate(arrs):
                z.writestr(f"{cls}/{i:04d}.png", _png(a))
    digest = hashlib.sha256((folder / "test.zip").read_bytes()).hexdigest()
    n = sum(len(v) for v in images.values())
    (folder / "manifest.json").write_text(json.dumps({"classes": CLASSES, "splits": {
        "test": {"file": "test.zip", "images": n, "sha256": digest}}}))
    return folder.parent


def test_jpeg_layout_stand_in(tmp_path):
    rng = np.random.default_rng(0)
    imgs = {"cat": [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2)],
            "airplane": [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)]}
    root = _jpeg_root(tmp_path, imgs)
    s = load_cifar10(root, "test")
    assert s.variant == "jpeg75" and len(s) == 3
    assert s.labels.tolist() == [0, 3, 3]  # sorted entries: airplane/0000, cat/0000, cat/0001
    assert torch.equal(s.images[1], torch.from_numpy(imgs["cat"][0]).permute(2, 0, 1))
    again = load_cifar10(root, "test")  # from the decoded cache
    assert torch.equal(again.images, s.images)
    with zipfile.ZipFile(root / "CIFAR10-jpeg75" / "test.zip", "a") as z:
        z.writestr("dog/0000.png", _png(imgs["cat"][0]))
    with pytest.raises(DataError, match=r"test.zip: sha256 does not match .*splits.test.sha256"):
        load_cifar10(root, "test")


def test_original_layout_stand_in(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": data, b"labels": [7, 2]}, f)
    s = load_cifar10(tmp_path, "test")
    assert s.variant == "original" and s.labels.tolist() == [7, 2]
    assert torch.equal(s.images[1, 0, 0, :3], torch.tensor([0, 1, 2], dtype=torch.uint8))  # R plane first
    with pytest.raises(DataError, match="missing data_batch_1"):
        load_cifar10(tmp_path, "train")


def test_tampered_batch_cannot_run_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match="builtins.print is not allowed"):
        load_cifar10(tmp_path, "test")


def test_missing_and_bad_split(tmp_path):
    with pytest.raises(DataError, match="CIFAR-10 not found under"):
        load_cifar10(tmp_path, "test")
    with pytest.raises(DataError, match="not 'val'"):
        load_cifar10(tmp_path, "val")


def test_shipped_jpeg_copy(need_set):
    root = need_set("CIFAR10-jpeg75")
    s = load_cifar10(root, "test")
    assert len(s) == 10_000 and s.variant == "jpeg75"
    assert torch.bincount(s.labels).tolist() == [1000] * 10
    sub = s.subset(100, seed=1)
    assert torch.bincount(sub.labels).tolist() == [10] * 10


def test_augment_crops_are_windows_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(augment(x, g, pad=0, flip=False), normalize(x))
    out = augment(x, g, pad=4, flip=False)
    padded = normalize(torch.nn.functional.pad(x, (4, 4, 4, 4)))
    for n in range(16):
        windows = padded[n].unfold(1, 32, 1).unfold(2, 32, 1)  # (3, 9, 9, 32, 32)
        match = (windows - out[n][:, None, None]).abs().amax(dim=(0, 3, 4)) < 1e-6
        assert match.any(), n
    flipped = augment(x, torch.Generator().manual_seed(3), pad=0, flip=True)
    same = [(flipped[n] - normalize(x)[n]).abs().max() < 1e-6 for n in range(16)]
    mirrored = [(flipped[n] - normalize(x)[n].flip(-1)).abs().max() < 1e-6 for n in range(16)]
    assert all(a or b for a, b in zip(same, mirrored)) and any(mirrored) and any(same)
    cut = augment(torch.full((4, 3, 32, 32), 255, dtype=torch.uint8), g, pad=0, flip=False, cutout=8)
    zeros = (cut == 0).all(dim=1).flatten(1).sum(dim=1)
    assert ((zeros > 0) & (zeros <= 64)).all()
