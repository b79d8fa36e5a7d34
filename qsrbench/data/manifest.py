"""Data-set manifests and checksum verification.

A data root holds ``manifest.json`` (the layout of ``shared/datasets``): ``sets`` (shipped) and
``not_included`` (e.g. Manga109, supported but not shipped), each with a ``files`` list of
``{file, sha256, pixel_sha256, width, height, mode}``. ``pixel_sha256`` is the sha256 of
``b"HxWxC:"`` followed by the decoded uint8 samples in row-major H x W x C order, so a PNG copy of
a WebP file (or the reverse) verifies against the same entry. A root without ``manifest.json``
is checked against the copy of the shipped checksums packaged with qsrbench.

Verification happens on first use; a file whose bytes matched is remembered in
``<cache>/verified.json`` by (path, size, mtime) and not hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from .root import cache_dir

__all__ = ["FileEntry", "SetEntry", "Manifest", "sha256_file", "pixel_sha256", "decode_image",
           "verify_image"]

IMAGE_SUFFIXES = (".png", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class FileEntry:
    file: str
    sha256: str
    pixel_sha256: str | None
    width: int | None
    height: int | None
    mode: str | None


@dataclass(frozen=True)
class SetEntry:
    name: str
    shipped: bool
    files: tuple[FileEntry, ...]

    def under(self, prefix: str) -> list[FileEntry]:
        return [f for f in self.files if f.file.startswith(prefix)]


class Manifest:
    """The checksums of a data root, read from its ``manifest.json`` (or the packaged copy)."""

    def __init__(self, path: str, sets: dict[str, SetEntry]):
        self.path = path
        self.sets = sets

    @classmethod
    def load(cls, root: Path) -> "Manifest":
        path = root / "manifest.json"
        if path.is_file():
            source, text = str(path), path.read_text(encoding="utf-8")
        else:
            ref = resources.files("qsrbench.data").joinpath("sr_manifest.json")
            source, text = f"{ref} (packaged copy)", ref.read_text(encoding="utf-8")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}: not valid JSON ({exc})") from None
        sets: dict[str, SetEntry] = {}
        for section, shipped in (("sets", True), ("not_included", False)):
            for name, body in (raw.get(section) or {}).items():
                files = body.get("files") if isinstance(body, dict) else None
                if not isinstance(files, list):
                    raise DataError(f"{source}: {section}.{name}.files must be a list")
                entries = []
                for i, f in enumerate(files):
                    try:
                        entries.append(FileEntry(f["file"], f["sha256"], f.get("pixel_sha256"),
                                                 f.get("width"), f.get("height"), f.get("mode")))
                    except (KeyError, TypeError):
                        raise DataError(f"{source}: {section}.{name}.files.{i} needs 'file' and "
                                        "'sha256'") from None
                sets[name] = SetEntry(name, shipped, tuple(entries))
        return cls(source, sets)

    def set(self, name: str, root: Path) -> SetEntry:
        if name not in self.sets:
            raise DataError(f"data set {name!r} is not listed in {self.path} (data root {root}); "
                            f"it lists: {', '.join(sorted(self.sets))}")
        return self.sets[name]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pixel_sha256(pixels: np.ndarray) -> str:
    """sha256 of ``b"HxWxC:"`` + the uint8 samples of an ``(H, W, C)`` array (the manifest's rule)."""
    h, w, c = pixels.shape
    return hashlib.sha256(f"{h}x{w}x{c}:".encode() + np.ascontiguousarray(pixels).tobytes()).hexdigest()


def decode_image(path: Path) -> np.ndarray:
    """Decode an image file to an ``(H, W, C)`` uint8 array, C = 1 (grayscale) or 3 (RGB)."""
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            arr = np.array(im)  # a writable copy
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"corrupt or unreadable image {path}: {exc}") from None
    if arr.dtype != np.uint8:
        raise DataError(f"image {path} is not 8-bit (dtype {arr.dtype})")
    return arr[..., None] if arr.ndim == 2 else arr


class _VerifiedCache:
    """(path, size, mtime) of files whose sha256 matched, kept across runs."""

    def __init__(self) -> None:
        self.path = cache_dir() / "verified.json"
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    @staticmethod
    def _key(path: Path) -> tuple[str, list[int]]:
        st = path.stat()
        return str(path.resolve()), [st.st_size, st.st_mtime_ns]

    def ok(self, path: Path, sha: str) -> bool:
        key, stamp = self._key(path)
        return self.data.get(key) == [*stamp, sha]

    def add(self, path: Path, sha: str) -> None:
        key, stamp = self._key(path)
        self.data[key] = [*stamp, sha]
        try:  # best effort: an unwritable cache only costs re-hashing
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                json.dump(self.data, fh)
            os.replace(tmp, self.path)
        except OSError:
            pass


_CACHE: _VerifiedCache | None = None


def verify_image(path: Path, entry: FileEntry, verify: bool = True) -> np.ndarray:
    """Decode ``path`` and check it against ``entry`` (bytes, or decoded pixels for another format)."""
    global _CACHE
    if not verify:
        return decode_image(path)
    if _CACHE is None:
        _CACHE = _VerifiedCache()
    same_format = path.name == Path(entry.file).name
    if same_format and _CACHE.ok(path, entry.sha256):
        return decode_image(path)
    digest = sha256_file(path) if same_format else None
    pixels = decode_image(path)
    if digest == entry.sha256:
        _CACHE.add(path, digest)
        return pixels
    if entry.pixel_sha256 and pixel_sha256(pixels) == entry.pixel_sha256:
        return pixels  # same pixels in another encoding (e.g. a PNG copy of a WebP file)
    what = f"sha256 {digest}" if digest else f"pixel sha256 {pixel_sha256(pixels)}"
    raise DataError(f"checksum mismatch for {path}: {what}, but the manifest entry {entry.file!r} "
                    f"expects sha256 {entry.sha256}"
                    + (f" / pixel sha256 {entry.pixel_sha256}" if entry.pixel_sha256 else ""))
