"""ImageNet (and subsets) from the usual ImageFolder layout, decoded once into a uint8 cache.

Layout under the data root: ``<folder>/train/<class>/<image>`` and ``<folder>/val/<class>/<image>``
(the torchvision ``ImageFolder`` convention; classes are the sorted sub-folder names, e.g. WordNet
ids, and label = index in that order). ``.jpg/.jpeg/.png/.webp`` files are read, in sorted order.
A subset (ImageNet-100, a class or image sample) is simply another folder with the same layout.

Each image is converted to RGB, its shorter side resized to ``size`` (PIL bicubic with
antialiasing) and centre-cropped to ``size`` x ``size``; the ``(N, 3, size, size)`` uint8 array is
written incrementally to a memory-mapped ``.npy`` under :func:`~qsrbench.data.root.cache_dir`,
keyed by the folder, split, size and the list of (path, byte size) entries, so later runs skip
decoding and a changed folder is decoded again. The registered ``ImageNet-32`` / ``ImageNet-64``
sets read ``ImageNet/`` at 32 / 64 pixels, the resolutions of the downsampled ImageNet of
Chrabaszcz, Loshchilov and Hutter (arXiv 1707.08819) — made here by our own resize, not their
files. ImageNet is never shipped or downloaded; a user places it under the data root.

Checksums: when ``<folder>/manifest.json`` exists with ``{"files": {"train/<class>/<image>":
sha256}}`` and ``verify`` is on, every listed file is checked and files that are present but
not listed are reported; without a manifest, nothing is verified (and the set's digest says so).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..registry import register_dataset
from .cifar import ClassificationSet, _sha256
from .root import cache_dir

__all__ = ["load_imagefolder", "ImageFolderDataset", "EXTENSIONS"]

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
SPLITS = {"train": "train", "val": "val", "test": "val"}  # ImageNet's test labels are not public


def _list(folder: Path, split: str) -> tuple[list[str], list[tuple[str, int]]]:
    base = folder / SPLITS[split]
    if not base.is_dir():
        raise DataError(f"{base} is missing (expected {folder.name}/{SPLITS[split]}/<class>/<image>)")
    classes = sorted(p.name for p in base.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{base} has no class folders")
    entries = []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (base / cls).iterdir() if p.suffix.lower() in EXTENSIONS)
        if not files:
            raise DataError(f"{base / cls} holds no images ({', '.join(EXTENSIONS)})")
        entries += [(str(p.relative_to(folder)), label) for p in files]
    return classes, entries


def _verify(folder: Path, rels: list[str]) -> str:
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return "unverified"
    try:
        files = json.loads(manifest_path.read_text())["files"]
    except (KeyError, json.JSONDecodeError) as exc:
        raise DataError(f"{manifest_path}: no usable 'files' table ({exc})") from None
    unlisted = [r for r in rels if r not in files]
    if unlisted:
        raise DataError(f"{folder / unlisted[0]}: not listed in {manifest_path} "
                        f"({len(unlisted)} such files)")
    for rel in rels:
        if _sha256(folder / rel) != files[rel]:
            raise DataError(f"{folder / rel}: sha256 does not match {manifest_path} (files.{rel})")
    return "verified"


def _decode(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = size / min(w, h)
            nw, nh = max(size, round(w * s)), max(size, round(h * s))
            im = im.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=None)
            left, top = (nw - size) // 2, (nh - size) // 2
            return np.asarray(im.crop((left, top, left + size, top + size)))
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from None


def load_imagefolder(folder: Path, split: str = "train", size: int = 64, verify: bool = True,
                     name: str | None = None, progress: bool = False) -> ClassificationSet:
    """``folder/<split>`` as a :class:`ClassificationSet` of ``size`` x ``size`` uint8 images."""
    if split not in SPLITS:
        raise DataError(f"{folder}: unknown split {split!r} (one of {', '.join(SPLITS)})")
    if size < 1:
        raise DataError(f"{folder}: image size must be positive, got {size}")
    folder = Path(folder)
    classes, entries = _list(folder, split)
    rels = [r for r, _ in entries]
    checked = _verify(folder, rels) if verify else "unverified"
    listing = hashlib.sha256()
    for rel in rels:
        listing.update(f"{rel}\0{(folder / rel).stat().st_size}\n".encode())
    key = hashlib.sha256(f"{folder.resolve()}|{split}|{size}|{listing.hexdigest()}".encode()).hexdigest()[:24]
    cache = cache_dir() / "imagefolder"
    img_p = cache / f"{key}-images.npy"
    if not img_p.is_file():
        from tqdm.auto import tqdm

        cache.mkdir(parents=True, exist_ok=True)
        tmp = img_p.with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(rels), 3, size, size))
        for i, rel in enumerate(tqdm(rels, disable=not progress, desc=f"decoding {folder.name}/{split}")):
            out[i] = _decode(folder / rel, size).transpose(2, 0, 1)
        out.flush()
        del out
        tmp.replace(img_p)
    images = torch.from_numpy(np.load(img_p, mmap_mode="r")[:].copy())
    labels = torch.tensor([lab for _, lab in entries], dtype=torch.int64)
    return ClassificationSet(name or folder.name, split, f"imagefolder-{size}px-{checked}", images,
                             labels, classes, f"{listing.hexdigest()}:{size}")


class ImageFolderDataset:
    """Registry entry of an ImageFolder classification set under the data root."""

    role = "classification"
    needs_root = True

    def __init__(self, name: str, folder: str, size: int, description: str):
        self.name, self.folder, self.size, self.description = name, folder, size, description

    def load(self, root: Path, split: str = "train", verify: bool = True) -> ClassificationSet:
        path = Path(root) / self.folder
        if not path.is_dir():
            raise DataError(f"{self.name}: {path} not found (ImageNet is not shipped: place it under "
                            f"the data root as {self.folder}/train/<class>/... and {self.folder}/val/<class>/...)")
        return load_imagefolder(path, split, self.size, verify, self.name)


for _size in (32, 64):
    register_dataset(ImageFolderDataset(
        f"ImageNet-{_size}", "ImageNet", _size,
        f"ILSVRC-2012 (Russakovsky et al. 2015) from ImageNet/{{train,val}}, resized to {_size}x{_size}"))
