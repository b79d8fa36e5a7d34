"""Environment fingerprint stamped on every result record."""

from __future__ import annotations

import platform
import subprocess
import sys
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch

__all__ = ["fingerprint", "device_name", "git_state", "strict_fp32", "tf32_enabled"]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str | torch.device = "cpu") -> str:
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return _cpu_name()


@contextmanager
def strict_fp32():
    """Full FP32 arithmetic inside the block: no TF32 in cuDNN convolutions or CUDA matmuls.

    PyTorch lets cuDNN use TF32 (10-bit mantissa products) for FP32 convolutions by default on
    Ampere and later GPUs, which can move PSNR and calibration ranges; every job (calibration,
    training, search, evaluation) runs under this context so that a GPU figure measures the FP32
    model, as the papers' evaluations did. Flags are restored after.
    """
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def tf32_enabled() -> bool:
    """Whether torch may use TF32 now, in cuDNN convolutions or in CUDA matmuls (read back from
    torch's flags; on a CPU they have no effect but are still set, True by default for cuDNN)."""
    return bool(torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)


@lru_cache(maxsize=1)
def git_state() -> dict[str, object]:
    """Commit and dirty flag of the checkout qsrbench runs from (results/ and leaderboards/ ignored)."""
    here = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                 ":(exclude)results", ":(exclude)leaderboards")
    return {"commit": commit, "dirty": bool(status)}


def fingerprint(device: str | torch.device = "cpu") -> dict[str, object]:
    """Device, library versions and code version: what a result depends on besides the spec."""
    dev = torch.device(device)
    return {
        "device": device_name(dev),
        "device_type": dev.type,
        "cpu": _cpu_name(),
        "threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": _version("triton"),
        "numpy": _version("numpy"),
        "scikit-image": _version("scikit-image"),
        "pillow": _version("pillow"),
        "qsrbench": _version("qsrbench"),
        "git": git_state(),
    }
