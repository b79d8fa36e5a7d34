"""Helpers for test suites built on qsrbench (imported by tests only; needs pytest).

``missing_data(config, reason)`` skips a test whose data is absent, or fails it when data is
required (``--require-data`` or ``QSRBENCH_REQUIRE_DATA=1``, as CI sets) and the data is part of
the shipped set. ``missing_weights(config, spec, data_root)`` is the one rule for a spec whose
checkpoint is not installed: the same skip (or failure), with what is missing, where it was
looked for and how to provide it. Both report the skip at the calling test, not here.
``synthetic_classification(n)`` is the random 10-class 32x32 set the search-loop tests and
benchmarks run on.
"""

from __future__ import annotations

import pytest

from .data.root import require_data

__all__ = ["NOT_SHIPPED", "SHIPPED_WEIGHTS", "data_is_required", "missing_data", "need_cifar10", "missing_weights",
           "edited_spec", "synthetic_classification"]

def synthetic_classification(n: int = 64, seed: int = 0):
    """``n`` random uint8 32x32 RGB images (fixed ``seed``) labelled ``i % 10``, as a training split."""
    import torch

    from .data.cifar import ClassificationSet

    images = torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed),
                           dtype=torch.uint8)
    return ClassificationSet("synthetic", "train", "synthetic", images, torch.arange(n) % 10,
                             [str(i) for i in range(10)], "synthetic")


NOT_SHIPPED = frozenset({"Manga109"})
SHIPPED_WEIGHTS = frozenset({"imdn_x2.pth", "imdn_x4.pth", "imdn_rtc_x2.pth", "rfdn_x4.pth", "pan_x2.pth",
                             "pan_x4.pth", "a2n_x2.pth", "carn_m_x4.pth", "latticenet_x2.pth",
                             "latticenet_x4.pth", "smsr_x2.pth"})


def data_is_required(config) -> bool:
    opt = config.getoption("--require-data", default=False)
    return bool(opt) or require_data()


def missing_data(config, reason: str, shipped: bool = True) -> None:
    """Skip, or fail when data is required and the missing data is part of the shipped set."""
    __tracebackhide__ = True
    if shipped and data_is_required(config):
        pytest.fail(f"{reason} (data is required: --require-data / QSRBENCH_REQUIRE_DATA)")
    raise pytest.skip.Exception(reason, _use_item_location=True)


def need_cifar10(config, root) -> None:
    """Skip (or fail, as :func:`missing_data`) when no CIFAR-10 copy is under the data root."""
    __tracebackhide__ = True
    if not ((root / "CIFAR10-jpeg75").is_dir() or (root / "cifar-10-batches-py").is_dir()):
        missing_data(config, f"CIFAR-10 is not under {root} (set QSRBENCH_DATA)")


def missing_weights(config, spec, data_root=None) -> None:
    """Skip (or fail, as :func:`missing_data`) when ``spec``'s weights file is not installed."""
    __tracebackhide__ = True
    from .models.weights import CheckpointError, require_weights

    if spec.model is None or not spec.model.weights:
        return
    try:
        require_weights(spec.model.weights, data_root)
    except CheckpointError as exc:
        from pathlib import Path

        missing_data(config, f"{spec.name}: {exc}", shipped=Path(spec.model.weights).name in SHIPPED_WEIGHTS)


def edited_spec(path, **changes):
    """The spec file at ``path`` with fields replaced (``"method.train.patch": 48``: a dotted path
    into its data), validated again; raises :class:`~qsrbench.errors.SpecError` like a file would."""
    from .spec import load_spec, parse_spec

    data = load_spec(path).model_dump(mode="json", exclude_none=True)
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return parse_spec(data, f"{path} (edited)")
