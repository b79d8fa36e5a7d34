"""Image-quality metrics with the published MATLAB evaluation conventions.

Conventions (the defaults reproduce the tables of VDSR/EDSR/RCAN and the quantized-SR papers):

* inputs are uint8 images, ``(C, H, W)`` tensors or ``(H, W, C)`` arrays with C = 1 or 3, pixel
  range [0, 255]; model outputs are rounded to uint8 *before* any metric (as saving a PNG does);
* ``channel="y"``: 3-channel images are converted to luma Y with ITU-R BT.601 as MATLAB's
  ``rgb2ycbcr`` does on uint8 input, ``Y = round(16 + (65.481 R + 128.553 G + 24.966 B) / 255)``
  (a uint8 result, range [16, 235]); ``y_rounding="double"`` keeps the unrounded Y (what
  ``rgb2ycbcr(im2double(.))`` gives). A 1-channel ground truth is *not* converted
  (``gray_gt="as-is"``, the MATLAB scripts): it is compared as is, against each channel of the
  prediction, and the metrics averaged over channels (MATLAB's implicit expansion for a 3-channel
  output and a grayscale ground truth). ``gray_gt="as-rgb"`` is the convention of Python
  evaluation scripts that load every image as RGB: three equal channels, then Y (which scales
  errors by 219/255 and raises that image's PSNR by 1.32 dB);
* ``channel="rgb"``: PSNR/SSIM over the R, G, B values;
* a border of ``crop`` pixels (the scale, by convention) is removed on every side;
* PSNR (dB, higher is better) with a peak of 255, via ``skimage.metrics.peak_signal_noise_ratio``;
* SSIM (unitless, higher is better) as Wang et al.'s reference ``ssim_index.m``: Gaussian window
  11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, mean over the 'valid' region, via
  ``skimage.metrics.structural_similarity`` (gaussian_weights, population covariance).

References: Wang et al., "Image quality assessment: from error visibility to structural
similarity", IEEE TIP 2004; Lim et al., "EDSR", CVPRW 2017 (Y channel, crop = scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = ["MetricInfo", "METRICS", "rgb_to_y", "to_hwc_uint8", "quantize_output", "psnr_ssim"]

Channel = Literal["y", "rgb"]
YRounding = Literal["uint8", "double"]
GrayGT = Literal["as-is", "as-rgb"]


@dataclass(frozen=True)
class MetricInfo:
    """What a metric measures: its unit, whether higher is better, and its default tolerance."""

    name: str
    unit: str
    higher_is_better: bool
    tolerance: float
    description: str
    two_sided: bool = True  # quality: a change either way beyond tolerance; times: only worse

    @property
    def gate(self) -> str:
        return "two-sided" if self.two_sided else "one-sided"


METRICS: dict[str, MetricInfo] = {
    "psnr": MetricInfo("psnr", "dB", True, 0.02, "peak signal-to-noise ratio, peak 255"),
    "ssim": MetricInfo("ssim", "1", True, 0.002, "structural similarity (Wang et al. 2004)"),
    "wall_s": MetricInfo("wall_s", "s", False, float("inf"), "wall-clock time of the evaluation",
                         two_sided=False),
    "top1": MetricInfo("top1", "%", True, 0.5, "top-1 test accuracy of the final network"),
    "error": MetricInfo("error", "%", False, 0.5, "top-1 test error of the final network (papers' tables)"),
    "search_s": MetricInfo("search_s", "s", False, float("inf"),
                           "wall-clock time of the architecture search", two_sided=False),
    "search_gpu_days": MetricInfo("search_gpu_days", "GPU-days", False, float("inf"),
                                  "search cost as the papers report it", two_sided=False),
}


def to_hwc_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(C, H, W)`` tensor or ``(H, W[, C])`` array of uint8 → ``(H, W, C)`` uint8 array."""
    if isinstance(img, torch.Tensor):
        if img.dim() != 3:
            raise ValueError(f"expected a (C, H, W) image tensor, got shape {tuple(img.shape)}")
        img = img.detach().cpu().permute(1, 2, 0).numpy()
    if img.ndim == 2:
        img = img[..., None]
    if img.dtype != np.uint8:
        raise TypeError(f"metrics take uint8 images (round model outputs first), got {img.dtype}")
    return img


def quantize_output(sr: torch.Tensor, rgb_range: float = 255.0) -> torch.Tensor:
    """Round a model output in [0, rgb_range] to uint8 as saving a PNG does (half up, saturate)."""
    scaled = sr.detach().to(torch.float64) * (255.0 / rgb_range)
    return torch.floor(scaled + 0.5).clamp_(0, 255).to(torch.uint8)


def rgb_to_y(img: np.ndarray, rounding: YRounding = "uint8") -> np.ndarray:
    """BT.601 luma of an ``(H, W, 3)`` uint8 image as MATLAB ``rgb2ycbcr`` (float64 result)."""
    rgb = img.astype(np.float64)
    y = 65.481 / 255 * rgb[..., 0] + 128.553 / 255 * rgb[..., 1] + 24.966 / 255 * rgb[..., 2] + 16.0
    if rounding == "uint8":
        y = np.clip(np.floor(y + 0.5), 0, 255)
    return y


def _planes(gt: np.ndarray, sr: np.ndarray, channel: Channel, y_rounding: YRounding,
            gray_gt: GrayGT = "as-is"):
    """Pairs of float64 2-D planes to compare, following the conventions above."""
    if gt.shape[:2] != sr.shape[:2]:
        raise ValueError(f"size mismatch: ground truth {gt.shape[:2]}, prediction {sr.shape[:2]}")
    if gt.shape[2] == 1 and gray_gt == "as-rgb" and sr.shape[2] == 3:
        gt = np.repeat(gt, 3, axis=2)
    if gt.shape[2] == 1:
        g = gt[..., 0].astype(np.float64)
        return [(g, sr[..., c].astype(np.float64)) for c in range(sr.shape[2])]
    if sr.shape[2] != 3:
        raise ValueError(f"a 3-channel ground truth needs a 3-channel prediction, got {sr.shape[2]}")
    if channel == "y":
        return [(rgb_to_y(gt, y_rounding), rgb_to_y(sr, y_rounding))]
    return [(gt.astype(np.float64), sr.astype(np.float64))]


def psnr_ssim(
    gt: torch.Tensor | np.ndarray,
    sr: torch.Tensor | np.ndarray,
    *,
    crop: int,
    channel: Channel = "y",
    y_rounding: YRounding = "uint8",
    gray_gt: GrayGT = "as-is",
    ssim: bool = True,
) -> tuple[float, float | None]:
    """PSNR (dB) and SSIM of uint8 ``sr`` against uint8 ``gt`` after a ``crop``-pixel border shave."""
    g, s = to_hwc_uint8(gt), to_hwc_uint8(sr)
    if crop < 0 or 2 * crop >= min(g.shape[:2]):
        raise ValueError(f"border crop {crop} does not fit an image of size {g.shape[:2]}")
    if crop:
        g, s = g[crop:-crop, crop:-crop], s[crop:-crop, crop:-crop]
    pairs = _planes(g, s, channel, y_rounding, gray_gt)
    mse = float(np.mean([np.mean((a - b) ** 2) for a, b in pairs]))
    psnr = float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
    if len(pairs) == 1 and mse > 0:  # the common case goes through scikit-image's own PSNR
        psnr = float(peak_signal_noise_ratio(pairs[0][0], pairs[0][1], data_range=255))
    if not ssim:
        return psnr, None
    values = []
    for a, b in pairs:
        if a.ndim == 3:  # RGB: SSIM per channel, averaged (channel_axis)
            v = structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, channel_axis=2)
        else:
            v = structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False)
        values.append(float(v))
    return psnr, float(np.mean(values))
