"""The NAS ground truth: architectures of the cell search space (Liu et al., ICLR 2019) with their
fully trained CIFAR-10 accuracy, and the published budgeted-estimation recipes scored against
them (``shared/nas/bpe_ground_truth.json``).

Zheng et al., "Rethinking Performance Estimation in Neural Architecture Search", CVPR 2020
(arXiv 2005.09917): 100 architectures (their sheet ``Ground_truth``) and their two recipes with
their Spearman ρ against it and GPU hours per network. The file lives in ``nas/`` beside the
data root (``<data root>/../nas/``, like the weights) or at ``$QSRBENCH_NAS_TRUTH``; it is
checked against the sha256 of the shipped copy (``verify=False`` for a user's own file) and
validated field by field: a malformed file is one error line naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import DataError
from .genotype import Genotype

__all__ = ["GROUND_TRUTH_SHA256", "Recipe", "PublishedRecipe", "TrainedArch", "GroundTruth",
           "ground_truth_path", "load_ground_truth"]

GROUND_TRUTH_SHA256 = "e6f85f24adf56858d1ff747a939f3232f2f652e07bfe3f98dc1de838a96f8fd5"
ENV_TRUTH = "QSRBENCH_NAS_TRUTH"


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Recipe(_Data):
    """A budgeted training recipe (the file's keys; units: epochs, images, SGD lr, cells, bits,
    channels, pixels)."""

    epoch: Annotated[int, Field(ge=1)]
    batchsize: Annotated[int, Field(ge=1)]
    learning_rate: Annotated[float, Field(gt=0, alias="learning rate")]
    n_layers: Annotated[int, Field(ge=1)]
    fp: Annotated[int, Field(ge=8, le=32)]
    channels: Annotated[int, Field(ge=1)]
    cutout_len: Annotated[int, Field(ge=0)]
    image_size: Annotated[int, Field(ge=4)]


class PublishedRecipe(_Data):
    recipe: Recipe
    spearman_vs_ground_truth: Annotated[float, Field(ge=-1, le=1)]
    gpu_hours_per_network: Annotated[float, Field(gt=0)]


class TrainedArch(_Data):
    name: str = Field(min_length=1)
    genotype: Genotype
    test_accuracy: Annotated[float, Field(gt=0, le=100)]  # %, CIFAR-10 test set, full training


class GroundTruth(_Data):
    model_config = ConfigDict(extra="allow", frozen=True)

    archs: list[TrainedArch] = Field(min_length=3)
    published_bpe: dict[str, PublishedRecipe]

    @field_validator("archs")
    @classmethod
    def _unique(cls, v):
        names = [a.name for a in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate architecture names {dupes}")
        return v


def ground_truth_path(data_root: Path | None = None) -> Path:
    """``$QSRBENCH_NAS_TRUTH``, else ``nas/bpe_ground_truth.json`` beside the data root."""
    if os.environ.get(ENV_TRUTH):
        return Path(os.environ[ENV_TRUTH]).expanduser()
    from ..data.root import resolve_data_root

    root = Path(data_root) if data_root else resolve_data_root()
    return root.parent / "nas" / "bpe_ground_truth.json"


def load_ground_truth(path: Path | None = None, *, verify: bool = True) -> GroundTruth:
    """The validated ground truth at ``path`` (default :func:`ground_truth_path`)."""
    path = Path(path) if path is not None else ground_truth_path()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"NAS ground truth not found: {path} ({exc.strerror or exc}); it is shipped "
                        f"as shared/nas/bpe_ground_truth.json beside the data root, or set ${ENV_TRUTH}") from None
    if verify and hashlib.sha256(raw).hexdigest() != GROUND_TRUTH_SHA256:
        raise DataError(f"{path}: sha256 {hashlib.sha256(raw).hexdigest()} is not that of the shipped "
                        f"ground truth ({GROUND_TRUTH_SHA256}); pass verify=False for a file of your own")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None
    try:
        return GroundTruth.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(map(str, e["loc"])) or "<top level>"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise DataError(f"{path}: {loc}: {e['msg']}{more}") from None
