"""Training pairs: random aligned (LR, HR) patches from HR training sets.

Each HR image is mod-cropped to the scale and downscaled once by the harness's MATLAB-exact
:func:`~qsrbench.data.imresize.imresize` (uint8 out, as MATLAB returns for uint8 input); the LR
images are cached as ``.npy`` under ``<cache>/train-lr/<set>-<set digest>/x<scale>/`` (the set
digest covers the images' checksums, so a changed set is downscaled again). A batch draws, per
pair, an image uniformly at random, an LR patch position uniformly at random, the HR patch at
``scale`` times that position, and (``augment``) one of the 8 dihedral transforms applied to both.
Randomness comes only from the sampler's own ``numpy`` generator, whose state is checkpointed.
Grayscale images are used as three equal channels. Tensors are float32 in [0, 255], ``(B, 3, p, p)``
(LR) and ``(B, 3, scale·p, scale·p)`` (HR).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.imresize import imresize
from ..data.root import cache_dir, data_root_origin
from ..data.sr import mod_crop
from ..errors import DataError
from ..registry import datasets

__all__ = ["TrainImage", "load_training_images", "PatchSampler"]


@dataclass(frozen=True)
class TrainImage:
    name: str
    hr: np.ndarray  # (3, H, W) uint8, mod-cropped
    lr: np.ndarray  # (3, H / scale, W / scale) uint8


def _three(t: torch.Tensor) -> torch.Tensor:
    return t.expand(3, -1, -1) if t.shape[0] == 1 else t


def _cached_lr(folder: Path, name: str, hr: torch.Tensor, scale: int) -> np.ndarray:
    path = folder / f"{name}.npy"
    want = (hr.shape[0], hr.shape[1] // scale, hr.shape[2] // scale)
    if path.is_file():
        try:
            lr = np.load(path, allow_pickle=False)
            if lr.shape == want and lr.dtype == np.uint8:
                return lr
        except (OSError, ValueError):
            pass  # a damaged cache entry is made again
    lr = imresize(hr.contiguous(), 1.0 / scale).numpy().astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, lr, allow_pickle=False)
    tmp.replace(path)
    return lr


def load_training_images(sets: list[str], scale: int, min_lr: int, *, data_root=None,
                         data_root_arg: str | None = None, max_images: int | None = None,
                         verify: bool = True) -> tuple[list[TrainImage], str]:
    """HR/LR pairs of every image of ``sets`` whose LR is at least ``min_lr`` pixels on each
    side; returns them with a digest of the sets used. A set with no usable image is an error."""
    images, digests = [], []
    for name in sets:
        loaded = datasets.get(name).load(data_root, [scale], verify=verify, max_images=max_images,
                                         origin=data_root_origin(data_root_arg))
        folder = cache_dir() / "train-lr" / f"{name}-{loaded.digest}" / f"x{scale}"
        usable = 0
        for img in loaded.images:
            hr = _three(mod_crop(img.hr, scale))
            if min(hr.shape[-2:]) // scale < min_lr:
                continue
            lr = _cached_lr(folder, img.name, hr, scale)
            images.append(TrainImage(f"{name}/{img.name}", hr.numpy(), lr))
            usable += 1
        if usable == 0:
            raise DataError(f"training set {name}: none of its {len(loaded.images)} images is large "
                            f"enough for LR patches of {min_lr} pixels at x{scale}")
        digests.append(f"{name}:{loaded.digest}")
    return images, ";".join(digests)


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 symmetries of the square on a (C, H, W) array: bit 0 flips W, bit 1 flips H,
    bit 2 transposes."""
    if k & 1:
        a = a[:, :, ::-1]
    if k & 2:
        a = a[:, ::-1, :]
    if k & 4:
        a = a.transpose(0, 2, 1)
    return a


class PatchSampler:
    """Batches of random (LR, HR) patch pairs; ``state_dict`` / ``load_state_dict`` for resume."""

    def __init__(self, images: list[TrainImage], scale: int, patch: int, batch: int, *,
                 augment: bool = True, seed: int = 0, digest: str = ""):
        if patch % scale:
            raise DataError(f"training patch {patch} is not a multiple of the scale {scale}")
        if not images:
            raise DataError("no training images")
        self.images, self.scale, self.batch, self.augment = images, scale, batch, augment
        self.lr_patch = patch // scale
        self.digest = digest  # what the images are (load_training_images), checked on resume
        self.rng = np.random.default_rng(seed)

    def _pair(self) -> tuple[np.ndarray, np.ndarray]:
        img = self.images[int(self.rng.integers(len(self.images)))]
        p, s = self.lr_patch, self.scale
        top = int(self.rng.integers(img.lr.shape[1] - p + 1))
        left = int(self.rng.integers(img.lr.shape[2] - p + 1))
        lr = img.lr[:, top:top + p, left:left + p]
        hr = img.hr[:, s * top:s * (top + p), s * left:s * (left + p)]
        if self.augment:
            k = int(self.rng.integers(8))
            lr, hr = _dihedral(lr, k), _dihedral(hr, k)
        return lr, hr

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [self._pair() for _ in range(self.batch)]
        lr = torch.from_numpy(np.stack([np.ascontiguousarray(a) for a, _ in pairs]))
        hr = torch.from_numpy(np.stack([np.ascontiguousarray(b) for _, b in pairs]))
        return lr.to(torch.float32), hr.to(torch.float32)

    def state_dict(self) -> dict:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["bit_generator"]
