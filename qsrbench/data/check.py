"""``qsrbench data check``: verify every file of a data root against its manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .manifest import Manifest, verify_image
from .sr import _find

__all__ = ["SetStatus", "check_root"]


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
