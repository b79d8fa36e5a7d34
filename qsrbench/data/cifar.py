"""CIFAR-10 for the NAS benchmarks, decoded once into a uint8 tensor cache, augmented on device.

Two layouts under the data root, tried in this order:

* ``cifar-10-batches-py/`` — the original binary release (Krizhevsky, 2009: ``data_batch_1..5``,
  ``test_batch`` pickles of 3072-byte rows, R then G then B planes). Variant ``"original"``.
* ``CIFAR10-jpeg75/<split>.zip`` — the shipped lossy copy (JPEG quality 75, 4:2:0 chroma;
  entries ``<class>/<NNNN>.jpg``), checked against the sha256 in ``CIFAR10-jpeg75/manifest.json``.
  Variant ``"jpeg75"``: accuracies on it are close to, not equal to, those on the original, and
  every leaderboard says which variant it used.

Images are ``(N, 3, 32, 32)`` uint8, labels int64 in the manifest's class order; the decoded
arrays are cached as ``.npy`` under :func:`~qsrbench.data.root.cache_dir` keyed by the source
checksum, so later runs skip decoding. :func:`augment` does the standard CIFAR training
augmentation (random 32x32 crop of the zero-padded image, horizontal flip, optional cutout,
DeVries & Taylor 2017) on whole batches on the batch's device, then normalizes with the CIFAR-10
channel mean/std (on the [0, 1] scale).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..registry import register_dataset
from .root import cache_dir

__all__ = ["ClassificationSet", "load_cifar10", "augment", "normalize", "CIFAR_MEAN", "CIFAR_STD"]

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
JPEG_DIR = "CIFAR10-jpeg75"
ORIGINAL_DIR = "cifar-10-batches-py"
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


@dataclass
class ClassificationSet:
    name: str
    split: str
    variant: str  # "original" or "jpeg75"
    images: torch.Tensor  # (N, 3, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    classes: list[str]
    digest: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, n: int, seed: int = 0) -> "ClassificationSet":
        """``n`` images, class-balanced (n / classes per class, drawn with ``seed``)."""
        if n > len(self):
            raise DataError(f"{self.name} {self.split}: asked for {n} images, it has {len(self)}")
        g = torch.Generator().manual_seed(seed)
        per = -(-n // len(self.classes))
        picks = []
        for c in range(len(self.classes)):
            idx = torch.nonzero(self.labels == c).flatten()
            picks.append(idx[torch.randperm(len(idx), generator=g)[:per]])
        idx = torch.cat(picks)[:n].sort().values
        return ClassificationSet(self.name, self.split, self.variant, self.images[idx],
                                 self.labels[idx], self.classes, f"{self.digest}:subset{n}:{seed}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cached(key: str, build) -> tuple[np.ndarray, np.ndarray]:
    folder = cache_dir() / "cifar"
    img_p, lab_p = folder / f"{key}-images.npy", folder / f"{key}-labels.npy"
    if img_p.is_file() and lab_p.is_file():
        return np.load(img_p), np.load(lab_p)
    images, labels = build()
    folder.mkdir(parents=True, exist_ok=True)
    for path, arr in ((img_p, images), (lab_p, labels)):
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(path)
    return images, labels


def _load_jpeg_zip(folder: Path, split: str, verify: bool):
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        entry = manifest["splits"][split]
        classes = list(manifest["classes"])
    except FileNotFoundError:
        raise DataError(f"{manifest_path} is missing (it gives the checksum of each split)") from None
    except (KeyError, json.JSONDecodeError) as exc:
        raise DataError(f"{manifest_path}: no usable entry for split {split!r} ({exc})") from None
    zpath = folder / entry["file"]
    if not zpath.is_file():
        raise DataError(f"{zpath} is missing (CIFAR-10 {split} split)")
    digest = entry["sha256"]
    if verify and _sha256(zpath) != digest:
        raise DataError(f"{zpath}: sha256 does not match {manifest_path} (splits.{split}.sha256)")

    def build():
        from PIL import Image

        with zipfile.ZipFile(zpath) as z:
            names = sorted(n for n in z.namelist() if n.lower().endswith((".jpg", ".jpeg", ".png")))
            images = np.empty((len(names), 32, 32, 3), dtype=np.uint8)
            labels = np.empty(len(names), dtype=np.int64)
            for i, name in enumerate(names):
                cls = name.split("/")[0]
                if cls not in classes:
                    raise DataError(f"{zpath}: entry {name} is not under a class folder ({', '.join(classes)})")
                with Image.open(io.BytesIO(z.read(name))) as im:
                    arr = np.asarray(im.convert("RGB"))
                if arr.shape != (32, 32, 3):
                    raise DataError(f"{zpath}: entry {name} is {arr.shape[1]}x{arr.shape[0]}, expected 32x32")
                images[i], labels[i] = arr, classes.index(cls)
        if "images" in entry and len(names) != entry["images"]:
            raise DataError(f"{zpath}: {len(names)} images, manifest says {entry['images']}")
        return images.transpose(0, 3, 1, 2).copy(), labels

    images, labels = _cached(f"jpeg75-{split}-{digest[:16]}", build)
    return images, labels, classes, digest


def _load_original(folder: Path, split: str):
    paths = [folder / b for b in _BATCHES[split]]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)} (the cifar-10-batches-py layout)")
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    digest = h.hexdigest()
    meta = folder / "batches.meta"
    classes = [c.decode() if isinstance(c, bytes) else c for c in
               _unpickle(meta)[b"label_names"]] if meta.is_file() else None

    def build():
        data, labels = [], []
        for p in paths:
            d = _unpickle(p)
            if b"data" not in d or b"labels" not in d:
                raise DataError(f"{p}: not a CIFAR-10 batch (no data/labels)")
            data.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(d[b"labels"], dtype=np.int64))
        return np.concatenate(data), np.concatenate(labels)

    images, labels = _cached(f"original-{split}-{digest[:16]}", build)
    return images, labels, classes, digest


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR-10 batch holds (dicts, lists, bytes, numpy arrays): any other
    global is refused, so a tampered batch file cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, OSError, AttributeError, ImportError) as exc:
        raise DataError(f"{path}: cannot read the CIFAR-10 batch ({exc})") from None


def load_cifar10(root: Path, split: str = "train", verify: bool = True) -> ClassificationSet:
    """CIFAR-10 ``split`` ("train" 50,000 / "test" 10,000) from the data root (see module doc)."""
    if split not in _BATCHES:
        raise DataError(f"CIFAR-10 has splits train and test, not {split!r}")
    root = Path(root)
    if (root / ORIGINAL_DIR).is_dir():
        images, labels, classes, digest = _load_original(root / ORIGINAL_DIR, split)
        variant = "original"
    elif (root / JPEG_DIR).is_dir():
        images, labels, classes, digest = _load_jpeg_zip(root / JPEG_DIR, split, verify)
        variant = "jpeg75"
    else:
        raise DataError(f"CIFAR-10 not found under {root}: expected {ORIGINAL_DIR}/ or {JPEG_DIR}/ "
                        "(set QSRBENCH_DATA)")
    classes = classes or ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                          "ship", "truck"]
    return ClassificationSet("CIFAR-10", split, variant, torch.from_numpy(images),
                             torch.from_numpy(labels), classes, digest)


class CIFAR10Dataset:
    """Registry entry of CIFAR-10 (role "classification"): what NAS specs name in ``datasets``."""

    name = "CIFAR-10"
    role = "classification"
    needs_root = True
    description = ("Krizhevsky 2009: 50,000 train / 10,000 test, 10 classes (original batches, or "
                   "the shipped JPEG q75 copy)")

    def load(self, root: Path, split: str = "train", verify: bool = True) -> ClassificationSet:
        return load_cifar10(root, split, verify)


register_dataset(CIFAR10Dataset())


def normalize(x_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) → float32 normalized by the CIFAR-10 mean/std."""
    mean = torch.tensor(CIFAR_MEAN, device=x_u8.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD, device=x_u8.device).view(1, 3, 1, 1)
    return (x_u8.float() / 255.0 - mean) / std


def augment(x_u8: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4,
            flip: bool = True, cutout: int = 0) -> torch.Tensor:
    """Batch augmentation on ``x_u8``'s device: random crop of the zero-padded image, random
    horizontal flip, cutout of a ``cutout`` x ``cutout`` square (0 = off); returns normalized float32.
    ``generator`` must live on the same device as ``x_u8``."""
    n, _, h, w = x_u8.shape
    dev = x_u8.device
    x = normalize(x_u8)
    if pad:
        padded = torch.nn.functional.pad(x_u8, (pad, pad, pad, pad))  # zero pixels, as torchvision
        oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
        ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
        rows = (oy[:, None] + torch.arange(h, device=dev))[:, :, None]
        cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, :]
        crops = padded.permute(0, 2, 3, 1)[torch.arange(n, device=dev)[:, None, None], rows, cols]
        x = normalize(crops.permute(0, 3, 1, 2))
    if flip:
        mirror = torch.rand(n, generator=generator, device=dev) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    if cutout:
        cy = torch.randint(0, h, (n,), generator=generator, device=dev)
        cx = torch.randint(0, w, (n,), generator=generator, device=dev)
        ys = torch.arange(h, device=dev)[None, :, None]
        xs = torch.arange(w, device=dev)[None, None, :]
        half = cutout // 2  # the square is clipped at the border, as in the cutout paper's code
        inside = ((ys >= (cy - half)[:, None, None]) & (ys < (cy - half + cutout)[:, None, None])
                  & (xs >= (cx - half)[:, None, None]) & (xs < (cx - half + cutout)[:, None, None]))
        x = x * (~inside)[:, None].to(x.dtype)
    return x.contiguous()
