"""Evaluate an SR model on one data set and scale under a :class:`~qsrbench.spec.Protocol`.

Per image: HR is mod-cropped to the scale; the LR comes from the protocol (shipped file or the
MATLAB-exact imresize); the model sees ``(1, C, h, w)`` float32 in [0, 255]; its output is rounded
to uint8 (half up, saturated) and scored by :func:`qsrbench.metrics.psnr_ssim` with the border
crop of the protocol. Data sets report the mean over images (PSNR averaged in dB, as the papers do).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data.imresize import imresize
from .data.sr import LoadedSet, SRImage
from .errors import DataError, QsrbenchError
from .metrics import psnr_ssim, quantize_output, rgb_to_y, to_hwc_uint8
from .spec import Protocol
from .env import strict_fp32
from .timing import Stopwatch

__all__ = ["ImageScore", "EvalResult", "prepare_pair", "evaluate_sr"]


@dataclass(frozen=True)
class ImageScore:
    name: str
    psnr: float
    ssim: float | None


@dataclass
class EvalResult:
    per_image: list[ImageScore]
    wall_s: float
    forward_s: float
    lr_sources: dict[str, int] = field(default_factory=dict)

    @property
    def psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.per_image]))

    @property
    def ssim(self) -> float | None:
        vals = [s.ssim for s in self.per_image if s.ssim is not None]
        return float(np.mean(vals)) if vals else None


def prepare_pair(img: SRImage, scale: int, protocol: Protocol) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(ground truth uint8 (C, H, W), model input float32 (C', h, w) in [0, 255], LR source)``."""
    hr = img.hr_for(scale)
    if protocol.domain == "y":
        plane = hr[0].to(torch.float64) if hr.shape[0] == 1 else torch.from_numpy(
            rgb_to_y(to_hwc_uint8(hr), protocol.y_rounding))
        gt = plane.round().to(torch.uint8)[None]
        lr = imresize(plane[None], 1.0 / scale)
        return gt, lr.to(torch.float32), "generated-y"
    lr_u8, source = None, "generated"
    if protocol.lr_source != "generated":
        lr_u8 = img.shipped_lr(scale)
        source = "shipped"
        if lr_u8 is None and protocol.lr_source == "shipped":
            raise DataError(f"{img.name}: no shipped LR file for x{scale}, and the protocol asks "
                            "for lr_source = 'shipped'")
    if lr_u8 is None:
        lr_u8, source = imresize(hr, 1.0 / scale), "generated"
    want = (hr.shape[-2] // scale, hr.shape[-1] // scale)
    if tuple(lr_u8.shape[-2:]) != want or lr_u8.shape[0] != hr.shape[0]:
        raise DataError(f"{img.name}: LR x{scale} has shape {tuple(lr_u8.shape)}, expected "
                        f"({hr.shape[0]}, {want[0]}, {want[1]}) from the mod-cropped HR")
    lr = lr_u8.to(torch.float32)
    if lr.shape[0] == 1:  # grayscale images go into RGB models as three equal channels
        lr = lr.expand(3, -1, -1).contiguous()
    return hr, lr, source


def _score(gt: torch.Tensor, out: torch.Tensor, crop: int, protocol: Protocol, ssim: bool):
    sr = quantize_output(out)
    return psnr_ssim(gt, sr, crop=crop, channel=protocol.channel, y_rounding=protocol.y_rounding,
                     gray_gt=protocol.gray_gt, ssim=ssim)


@torch.inference_mode()
def evaluate_sr(model: nn.Module, data: LoadedSet, scale: int, protocol: Protocol, *,
                device: str | torch.device = "cpu", ssim: bool = True,
                progress: bool = False) -> EvalResult:
    """Score ``model`` on every image of ``data`` at ``scale``.

    The model runs on the calling thread, one image at a time; preparing the next LR input and
    scoring the previous output (rounding, Y conversion, PSNR/SSIM) run on one worker thread
    meanwhile, so that the time outside the forward is mostly hidden (numpy/scipy/torch release
    the GIL). Scores are identical to a serial loop: each image is scored on its own. The forward
    runs in strict FP32 (no TF32 on a GPU, :func:`qsrbench.env.strict_fp32`).
    """
    t0 = time.perf_counter()
    forward = Stopwatch()
    crop = protocol.crop_for(scale)
    images = list(data.images)
    sources: dict[str, int] = {}
    pending: list[tuple[str, Future]] = []
    model.eval()
    with strict_fp32(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="qsrbench-eval") as pool:
        nxt = pool.submit(prepare_pair, images[0], scale, protocol) if images else None
        for i, img in enumerate(tqdm(images, desc=f"{data.name} x{scale}", disable=not progress,
                                     leave=False)):
            gt, lr, source = nxt.result()
            if i + 1 < len(images):
                nxt = pool.submit(prepare_pair, images[i + 1], scale, protocol)
            sources[source] = sources.get(source, 0) + 1
            x = lr[None].to(device)
            with forward.section(device):
                out = model(x)
            if out.dim() != 4 or out.shape[0] != 1 or tuple(out.shape[-2:]) != tuple(gt.shape[-2:]):
                raise QsrbenchError(f"model output for {data.name}/{img.name} x{scale} has shape "
                                    f"{tuple(out.shape)}; expected (1, C, {gt.shape[-2]}, {gt.shape[-1]})")
            pending.append((img.name, pool.submit(_score, gt, out[0].cpu(), crop, protocol, ssim)))
            if len(pending) > 2:  # bound the outputs held in memory
                pending[-3][1].result()
        scores = [ImageScore(name, *fut.result()) for name, fut in pending]
    return EvalResult(scores, time.perf_counter() - t0, forward.seconds, sources)
