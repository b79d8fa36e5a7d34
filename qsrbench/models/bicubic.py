"""Bicubic upscaling as a parameter-free SR "model" (MATLAB ``imresize(LR, s, 'bicubic')``).

With ``uint8_passes=True`` the input is taken as uint8 pixel values and each one-dimensional pass
is rounded, as MATLAB does for a uint8 image; otherwise the resize stays in float64 (the SRCNN/
VDSR 'y' protocol resizes a double luma plane).
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.imresize import imresize
from . import ModelInfo, register_model


class Bicubic(nn.Module):
    def __init__(self, scale: int, uint8_passes: bool = False):
        super().__init__()
        self.scale = scale
        self.uint8_passes = uint8_passes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.uint8_passes:
            u8 = torch.floor(x + 0.5).clamp(0, 255).to(torch.uint8)
            return imresize(u8, float(self.scale)).to(x.dtype)
        return imresize(x.to(torch.float64), float(self.scale)).to(x.dtype)


register_model(ModelInfo("bicubic", Bicubic, scales=(2, 3, 4, 8), in_channels=(1, 3),
                         description="MATLAB-exact bicubic interpolation (no parameters)",
                         paper="Keys, IEEE TASSP 1981"))
