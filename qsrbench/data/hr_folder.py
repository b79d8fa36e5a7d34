"""HR-only training sets that are never shipped: DIV2K and DF2K, read from a folder of images.

Layout under the data root: ``<name>/HR/*.png`` (e.g. DIV2K's ``DIV2K_train_HR/0001.png ...
0800.png`` placed as ``DIV2K/HR/``; DF2K = those 800 plus Flickr2K's 2650). Images are decoded
in sorted file-name order to ``(C, H, W)`` uint8. There is no manifest, so nothing is verified:
the set's digest covers the file names, byte sizes and modification times, and says
"unverified". The harness never
downloads them (DIV2K: Agustsson and Timofte, CVPR Workshops 2017; Flickr2K: Lim et al., EDSR,
CVPR Workshops 2017). All of a set is held in memory while training (DIV2K ≈ 6.9 GB).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..errors import DataError
from ..registry import register_dataset
from .manifest import IMAGE_SUFFIXES, decode_image
from .sr import LoadedSet, SRDataset, SRImage

__all__ = ["HRFolderDataset"]


class HRFolderDataset(SRDataset):
    """A training set of HR images in ``<data root>/<name>/HR/``, unverified."""

    role = "train"

    def __init__(self, name: str, description: str):
        self.name, self.description = name, description

    def load(self, root, scales, *, verify=True, max_images=None, origin=""):
        folder = (root / self.name / "HR") if root is not None else None
        if folder is None or not folder.is_dir():
            raise DataError(f"training set {self.name} not found: looked for {folder} (data root "
                            f"{root} from {origin or 'the default'}). {self.name} is never shipped or "
                            "downloaded: place its HR images there (e.g. DIV2K_train_HR/*.png as "
                            f"{self.name}/HR/)")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + (".jpg",))
        if not files:
            raise DataError(f"training set {self.name}: {folder} holds no images "
                            f"({', '.join(IMAGE_SUFFIXES)})")
        files = files[:max_images]
        digest = hashlib.sha256(b"unverified\n")
        images = []
        for path in files:
            pixels = np.ascontiguousarray(decode_image(path))
            st = path.stat()
            digest.update(f"{path.name} {st.st_size} {st.st_mtime_ns}\n".encode())
            images.append(SRImage(path.stem, torch.from_numpy(pixels).permute(2, 0, 1).contiguous()))
        return LoadedSet(self.name, images, "unverified-" + digest.hexdigest()[:16])


register_dataset(HRFolderDataset("DIV2K", "Agustsson and Timofte, 2017: 800 2K training images (not shipped)"))
register_dataset(HRFolderDataset("DF2K", "DIV2K train + Flickr2K: 3450 training images (not shipped)"))
