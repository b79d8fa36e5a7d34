"""Training checkpoints: written atomically, read with ``weights_only=True``, checked against the run.

A checkpoint is one ``torch.save`` of a dict of plain data and tensors (model, optimizer,
scheduler, EMA and sampler states, RNG states, iteration, accumulated wall time, and ``meta``:
what the run is). It is written to a temporary file in the same folder and renamed over the old
one (``os.replace``), so a kill during the write leaves the previous checkpoint intact. Loading
refuses a file that is not a readable checkpoint or whose ``meta`` differs from the run's, with
one line naming the file and the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..models.weights import CheckpointError

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint_state"]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint_state(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint at ``path``, after checking that its ``meta`` equals the run's ``meta``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, pickle errors, ...
        raise CheckpointError(f"{path}: not a readable training checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); delete it to "
                              "train from the start") from None
    if not isinstance(state, dict) or not isinstance(state.get("meta"), dict):
        raise CheckpointError(f"{path}: not a training checkpoint of qsrbench (no 'meta' entry)")
    for key, want in meta.items():
        got = state["meta"].get(key)
        if got != want:
            raise CheckpointError(f"{path}: written by another run (meta.{key} is {got!r}, this run "
                                  f"has {want!r}); delete it or use another run folder")
    return state

