"""Outside oracles for the resize and the metrics.

* The shipped ``LR_bicubic`` files of Set5 and Set14 were made by MATLAB ``imresize`` (EDSR/RCAN
  releases): ``qsrbench.data.imresize`` must regenerate every one of them bit for bit.
* Published bicubic PSNR/SSIM (Kim et al., VDSR, CVPR 2016, Table 3) under the SRCNN/VDSR
  protocol, computed here from the building blocks alone (not through the runner).
* Hand-computed values of the cubic kernel, BT.601 luma and PSNR.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from qsrbench.data.imresize import cubic, imresize, output_size
from qsrbench.metrics import psnr_ssim, quantize_output, rgb_to_y

SETS = {"Set5": ["baby", "bird", "butterfly", "head", "woman"],
        "Set14": ["baboon", "barbara", "bridge", "coastguard", "comic", "face", "flowers",
                  "foreman", "lenna", "man", "monarch", "pepper", "ppt3", "zebra"]}


def _chw(path) -> torch.Tensor:
    a = np.array(Image.open(path))
    a = a[..., None] if a.ndim == 2 else a
    return torch.from_numpy(a).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("set_name", sorted(SETS))
def test_regenerates_shipped_lr_bit_exactly(need_set, set_name, scale):
    root = need_set(set_name)
    for name in SETS[set_name]:
        hr = _chw(root / set_name / "HR" / f"{name}.png")
        h, w = hr.shape[-2] // scale * scale, hr.shape[-1] // scale * scale
        lr = imresize(hr[:, :h, :w].contiguous(), 1 / scale)
        shipped = _chw(root / set_name / "LR_bicubic" / f"X{scale}" / f"{name}x{scale}.png")
        assert lr.shape == shipped.shape, name
        diff = (lr.int() - shipped.int()).abs()
        assert int(diff.max()) == 0, f"{name}: {int((diff > 0).sum())} pixels differ"


def test_single_rounding_would_not_match(need_set):
    """The oracle discriminates: rounding only once (not after each pass) breaks bit-exactness."""
    root = need_set("Set5")
    hr = _chw(root / "Set5/HR/baby.png")
    once = quantize_output(imresize(hr.to(torch.float64), 1 / 4))
    shipped = _chw(root / "Set5/LR_bicubic/X4/babyx4.png")
    assert (once != shipped).any()


def test_cubic_kernel_hand_values():
    x = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, -0.5, -1.5, 2.5], dtype=torch.float64)
    # a = -0.5: |x|<=1: 1.5|x|^3 - 2.5|x|^2 + 1;  1<|x|<=2: -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2
    want = [1.0, 1.5 * 0.125 - 2.5 * 0.25 + 1, 0.0, -0.5 * 3.375 + 2.5 * 2.25 - 6 + 2, 0.0,
            0.5625, -0.0625, 0.0]
    assert cubic(x).tolist() == pytest.approx(want, abs=1e-15)


def test_upscale_row_by_hand():
    """x2 upscale of [0, 0, 9, 0, 0]: output pixel x (1-based) samples u = x/2 + 1/4 with weights
    cubic(u - j) over input pixels j (1-based), mirrored at the borders."""
    row = torch.tensor([[0.0, 0.0, 9.0, 0.0, 0.0]], dtype=torch.float64)
    out = imresize(row, (1.0, 2.0))
    src = [0.0, 0.0, 9.0, 0.0, 0.0]
    want = []
    for x in range(1, 11):
        u = x / 2 + 0.25
        acc = wsum = 0.0
        for j in range(math.floor(u - 2), math.floor(u - 2) + 6):
            wgt = float(cubic(torch.tensor(u - j)))
            k = j if 1 <= j <= 5 else (1 - j if j < 1 else 11 - j)  # symmetric mirror
            acc += wgt * src[k - 1]
            wsum += wgt
        want.append(acc / wsum)
    assert out.shape == (1, 10)
    assert out[0].tolist() == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("size,scale,want", [(255, 1 / 3, 85), (256, 1 / 4, 64), (17, 2.0, 34),
                                             (9, 1 / 3, 3)])
def test_output_size(size, scale, want):
    assert output_size(size, scale) == want


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2.0, 3.0, 4.0])
def test_constant_image_stays_constant(scale):
    img = torch.full((3, 24, 36), 137, dtype=torch.uint8)
    out = imresize(img, scale)
    assert out.dtype == torch.uint8 and bool((out == 137).all())


def test_imresize_rejects_bad_input():
    with pytest.raises(ValueError):
        imresize(torch.zeros(5), 0.5)
    with pytest.raises(ValueError):
        imresize(torch.zeros(4, 4), 0)
    with pytest.raises(TypeError):
        imresize(torch.zeros(4, 4, dtype=torch.int32), 0.5)


def test_bt601_luma_hand_values():
    px = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]],
                  dtype=np.uint8)
    # Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, rounded as MATLAB's uint8 rgb2ycbcr
    assert rgb_to_y(px).tolist() == [[16, 235, 81, 145, 41]]
    assert rgb_to_y(px, "double")[0, 2] == pytest.approx(16 + 65.481)


def test_psnr_hand_value_and_crop():
    gt = np.full((20, 20, 1), 100, np.uint8)
    sr = gt.copy()
    sr[2:-2, 2:-2] += 5  # every inner pixel off by 5
    psnr, ssim = psnr_ssim(gt, sr, crop=2)
    assert psnr == pytest.approx(10 * math.log10(255**2 / 25))
    sr2 = gt.copy()
    sr2[:2] = 0  # differences only in the shaved border
    assert psnr_ssim(gt, sr2, crop=2)[0] == math.inf
    assert psnr_ssim(gt, gt, crop=0)[1] == pytest.approx(1.0)


def test_gray_ground_truth_against_equal_channels():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (32, 32, 1), dtype=np.uint8)
    sr1 = np.clip(gt.astype(int) + rng.integers(-3, 4, gt.shape), 0, 255).astype(np.uint8)
    sr3 = np.repeat(sr1, 3, axis=2)
    assert psnr_ssim(gt, sr3, crop=2) == pytest.approx(psnr_ssim(gt, sr1, crop=2))


def test_rgb_channel_psnr_by_hand():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    sr = np.clip(gt.astype(int) + rng.integers(-4, 5, gt.shape), 0, 255).astype(np.uint8)
    mse = np.mean((gt.astype(float) - sr.astype(float)) ** 2)
    assert psnr_ssim(gt, sr, crop=0, channel="rgb", ssim=False)[0] == pytest.approx(
        10 * math.log10(255**2 / mse))


def test_quantize_output_rounds_half_up_and_saturates():
    x = torch.tensor([-3.0, 0.49, 0.5, 1.5, 254.5, 300.0]).view(1, 1, 6)
    assert quantize_output(x).view(-1).tolist() == [0, 0, 1, 2, 255, 255]


@pytest.mark.parametrize("scale,claim", [(2, (33.66, 0.9299)), (3, (30.39, 0.8682)),
                                         (4, (28.42, 0.8104))])
def test_published_bicubic_set5_from_building_blocks(need_set, scale, claim):
    """SRCNN/VDSR protocol by hand: uint8 Y of the mod-cropped HR, double-precision bicubic down
    and up, round, Y PSNR/SSIM with crop = scale; VDSR Table 3 within 0.02 dB / 0.002."""
    root = need_set("Set5")
    scores = []
    for name in SETS["Set5"]:
        hr = np.array(Image.open(root / "Set5/HR" / f"{name}.png"))
        y = rgb_to_y(hr)
        y = y[: y.shape[0] // scale * scale, : y.shape[1] // scale * scale]
        plane = torch.from_numpy(y)[None]
        sr = quantize_output(imresize(imresize(plane, 1 / scale), float(scale)))
        scores.append(psnr_ssim(plane.to(torch.uint8), sr, crop=scale))
    psnr, ssim = np.mean(scores, axis=0)
    assert abs(psnr - claim[0]) <= 0.02 and abs(ssim - claim[1]) <= 0.002


def test_gray_ground_truth_as_rgb_is_the_y_scaling():
    """Python scripts load grayscale images as RGB and take Y = 16 + 219/255 · v (unrounded):
    every error shrinks by 219/255, so PSNR rises by exactly 20·log10(255/219) dB."""
    rng = np.random.default_rng(3)
    gt = rng.integers(20, 230, (40, 40, 1), dtype=np.uint8)
    sr = np.repeat(np.clip(gt.astype(int) + rng.integers(-6, 7, gt.shape), 0, 255).astype(np.uint8), 3, 2)
    as_is = psnr_ssim(gt, sr, crop=2, y_rounding="double")[0]
    as_rgb = psnr_ssim(gt, sr, crop=2, y_rounding="double", gray_gt="as-rgb")[0]
    assert as_rgb - as_is == pytest.approx(20 * math.log10(255 / 219), abs=1e-9)
