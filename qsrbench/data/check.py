"""``qsrbench data check``: verify every file of a data root against its manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .manifest import Manifest, verify_image
from .sr import _find

__all__ = ["SetStatus", "check_root", "presence"]


@dataclass
class SetStatus:
    name: str
    shipped: bool
    listed: int
    verified: int
    problems: list[str]

    @property
    def state(self) -> str:
        if self.problems:
            return "FAILED"
        if self.verified == 0:
            return "absent" if not self.shipped else "MISSING"
        return "ok"


def check_root(root: Path, names: list[str] | None = None) -> list[SetStatus]:
    """Verify each set (all in the manifest, or ``names``); absent not-shipped sets are not errors."""
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist")
    manifest = Manifest.load(root)
    out = []
    for name in names or sorted(manifest.sets):
        entry = manifest.set(name, root)
        status = SetStatus(name, entry.shipped, len(entry.files), 0, [])
        if not (root / name).is_dir():
            if entry.shipped:
                status.problems.append(f"folder {root / name} is missing")
            out.append(status)
            continue
        for e in entry.files:
            if not e.file.lower().endswith((".png", ".webp", ".bmp", ".tif", ".tiff")):
                continue
            path = _find(root, e.file)
            if path is None:
                status.problems.append(f"missing {root / e.file}")
                continue
            try:
                verify_image(path, e)
                status.verified += 1
            except DataError as exc:
                status.problems.append(str(exc))
        out.append(status)
    return out


def presence(root: Path, dataset) -> tuple[str, str]:
    """``(present, verified)`` of a registered data set under ``root``, without hashing anything:
    files on disk, and for manifest sets how many of them the checksum cache has seen match
    (``qsrbench data check`` verifies them all)."""
    from .cifar import JPEG_DIR, ORIGINAL_DIR, CIFAR10Dataset
    from .manifest import _VerifiedCache

    if not getattr(dataset, "needs_root", True):
        return "embedded", "—"
    if not root.is_dir():
        return "no data root", "—"
    name = dataset.name
    if isinstance(dataset, CIFAR10Dataset):
        found = [d for d in (ORIGINAL_DIR, JPEG_DIR) if (root / d).is_dir()]
        return (", ".join(f"{d}/" for d in found) or "absent"), "checked on load"
    folder = getattr(dataset, "folder", None)
    if folder is not None:
        return ("yes" if (root / folder).is_dir() else "absent"), "checked on load"
    try:
        entry = Manifest.load(root).set(name, root)
    except DataError:
        return "absent", "—"
    images = [e for e in entry.files if e.file.lower().endswith((".png", ".webp", ".bmp", ".tif", ".tiff"))]
    found = [(e, p) for e in images if (p := _find(root, e.file)) is not None]
    if not found:
        return "absent", "—"
    cache = _VerifiedCache()
    verified = sum(cache.ok(p, e.sha256) for e, p in found)
    return f"{len(found)} of {len(images)} files", f"{verified} of {len(found)}"
