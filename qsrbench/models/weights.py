"""Loading checkpoints: ``torch.load(weights_only=True)``, strict, with errors a user can act on.

A checkpoint must be a flat state dict (a mapping of names to tensors), optionally nested under
one of the usual keys (``state_dict``, ``model``, ``params``, ``params_ema``). A key prefix such as
``module.`` (saved from ``nn.DataParallel``) is stripped when every key carries it. Missing and
unexpected keys and shape mismatches are all listed in one :class:`CheckpointError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..data.manifest import sha256_file
from ..errors import QsrbenchError

__all__ = ["CheckpointError", "read_state_dict", "load_checkpoint", "weights_path", "weights_root",
           "require_weights", "file_sha256", "WEIGHTS_ENV"]

WEIGHTS_ENV = "QSRBENCH_WEIGHTS"

NESTED_KEYS = ("state_dict", "model", "params_ema", "params", "net")


class CheckpointError(QsrbenchError):
    """A weights file cannot be read or does not fit the model."""


def weights_root(data_root: Path | None = None) -> tuple[Path, str]:
    """The folder relative weights paths resolve against, and where that choice came from:
    ``$QSRBENCH_WEIGHTS``, else ``weights/`` beside the data root (``data_root``, or the one
    :func:`~qsrbench.data.root.resolve_data_root` gives when a job has none, e.g. the embedded
    demo set), so a spec's weights resolve the same way with or without a data root."""
    from ..data.root import resolve_data_root

    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV]).expanduser().resolve(), f"${WEIGHTS_ENV}"
    root = Path(data_root) if data_root else resolve_data_root()
    return root.parent / "weights", f"beside the data root {root}"


def weights_path(ref: str, data_root: Path | None = None) -> Path:
    """A spec's ``[model] weights``: absolute, else under :func:`weights_root`."""
    path = Path(ref).expanduser()
    return path if path.is_absolute() else weights_root(data_root)[0] / path


def require_weights(ref: str, data_root: Path | None = None) -> Path:
    """:func:`weights_path`, or a :class:`CheckpointError` saying what is missing, where it was
    looked for and how to provide it."""
    path = weights_path(ref, data_root)
    if not path.is_file():
        base, origin = weights_root(data_root)
        where = "" if Path(ref).expanduser().is_absolute() else f" (relative paths resolve {origin}: {base})"
        raise CheckpointError(f"weights file {ref!r} not found: looked for {path}{where}; set "
                              f"${WEIGHTS_ENV} to the folder that holds it (README, section 'Weights')")
    return path


@lru_cache(maxsize=64)
def _cached_sha256(path: Path, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, computed once per (path, size, mtime)."""
    path = Path(path).resolve()
    st = path.stat()
    return _cached_sha256(path, st.st_size, st.st_mtime_ns)


def read_state_dict(path: str | Path, strip_prefixes: tuple[str, ...] = ("module.",)) -> dict[str, torch.Tensor]:
    """The flat ``{name: tensor}`` of a checkpoint file, loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot load {path} with weights_only=True: {first}") from None
    if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in NESTED_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        kind = type(obj).__name__
        raise CheckpointError(f"{path} is not a state dict (a mapping of parameter names to "
                              f"tensors); it holds a {kind}")
    state = dict(obj)
    for prefix in strip_prefixes:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_checkpoint(net: nn.Module, path: str | Path, *, sha256: str | None = None) -> str:
    """Load ``path`` strictly into ``net``; returns the file's sha256 (checked if given)."""
    path = Path(path)
    state = read_state_dict(path)
    digest = file_sha256(path)
    if sha256 is not None and digest != sha256:
        raise CheckpointError(f"checksum mismatch for {path}: sha256 {digest}, expected {sha256}")
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        def show(items: list[str]) -> str:
            return ", ".join(items[:12]) + (f" … (+{len(items) - 12} more)" if len(items) > 12 else "")

        parts = [f"{len(missing)} missing: {show(missing)}" if missing else "",
                 f"{len(unexpected)} unexpected: {show(unexpected)}" if unexpected else "",
                 f"{len(shapes)} shape mismatches: {show(shapes)}" if shapes else ""]
        raise CheckpointError(f"{path} does not fit {type(net).__name__}: "
                              + "; ".join(p for p in parts if p))
    net.load_state_dict(state, strict=True)
    return digest
