"""QuantNAS's RFDN-inspired SR search space: distillation cells with ESA, searched per cell, with
fixed 8-bit fusion layers.

Shvetsov et al., QuantNAS, IEEE Access 2024 (arXiv 2208.14839), the second search space ("inspired
by RFDN", Liu et al., ECCV-W 2020); checked against the authors' code On-Point-RND/QuantNAS @ a74390e
(``sr_models/search_cells.py``: ``SearchArch``, ``Residual``, ``CommonBlock``;
``sr_models/RFDN/block.py``: ``ESA``; ``genotypes.py``: ``PRIMITIVES_SR``; ``configs/quant_config.yaml``:
48 channels, 4 cells, body 4 / skip 3 / upsample 1 / tail 1 layers, bits {4, 8}); written from the
paper and those files, no code copied. Input RGB in [0, 1], ``C`` channels (48):

    h   = x repeated C/3 times along channels                       3 -> C, no head
    cell_i(y) = ADQ(g_i, y; skip = y),  i = 1..cells (4)
      g_i(y): for j = 1..3:  s_j = skip_j(y) (C -> C/2);  y = y + body_j(y) (C -> C)
              s_4 = body_4(y) (C -> C/2)
              g_i = ESA(fuse(concat(s_1..s_4)))                     fuse: 1x1, 2C -> C, fixed 8 bits
    b   = conv3x3(conv1x1(concat(cell outputs))) + h               4C -> C -> C, fixed 8 bits
    u   = PixelShuffle(s)(upsample(b))                              C -> 3 s², searched
    out = u + tail(u)                                               3 -> 3, searched

Every searched layer has its own logits (``cell{i}_body{j}``, ``cell{i}_skip{j}``, ``upsample``,
``tail``: 30 positions at 4 cells; the authors keep one α list per cell). ESA (enhanced spatial
attention; RFDN): ``f = C/4``; ``c1' = conv1(x)`` (1x1, C -> f); ``c1 = conv2(c1')`` (3x3, stride 2,
no padding); ``v = maxpool(c1, 7, stride 3)``; ``c3 = conv3'(conv3(conv_max(v)))`` (3x3 each);
``c3`` bilinearly resized to x's size; ``m = σ(conv4(c3 + conv_f(c1')))`` (1x1s); ``x · m``, every
conv at the fixed 8 bits. Operations (:data:`RFDN_SPACE`): plain 1x1 / 3x3 / 5x5, the same with 2
groups, and "growth" pairs ``C_in -> C -> C_out`` of the same kernel; the tail (3 channels) has no
grouped ones. Fixed layers are quantized directly (LSQ weights, HWGQ activations) in both search
modes, as the authors' (``quant_noise=False`` there). Every convolution reads ``relu`` of its input
(the HWGQ activation quantizer clamps at 0), as in :mod:`reference.quantnas_space`, whose relaxed
layers this space uses.

The spatial reduction of ESA needs LR inputs of at least :attr:`RFDNSearchNet.MIN_LR` pixels a
side (stride-2 3x3, then a 7x7 max pool). ``adq`` = False is the authors' default
(``skip_mode: True``): a cell is then ``g_i(y) + y``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .quantnas_space import _ADQ, Choices, Supernet, _Position, _QConv

__all__ = ["RFDN_SPACE", "FIXED_BITS", "RFDNSearchNet"]

RFDN_SPACE: dict[str, list[str]] = {
    "body": ["conv1x1", "conv3x3", "conv5x5", "growth1_1x1", "growth1_3x3", "growth1_5x5",
             "conv1x1_g2", "conv3x3_g2", "conv5x5_g2"],
    "skip": ["conv1x1", "conv3x3", "conv5x5", "growth1_1x1", "growth1_3x3", "growth1_5x5",
             "conv1x1_g2", "conv3x3_g2", "conv5x5_g2"],
    "upsample": ["conv1x1", "conv3x3", "conv5x5", "growth1_1x1", "growth1_3x3", "growth1_5x5",
                 "conv1x1_g2", "conv3x3_g2", "conv5x5_g2"],
    "tail": ["conv1x1", "conv3x3", "conv5x5", "growth1_1x1", "growth1_3x3", "growth1_5x5"],
}
FIXED_BITS = 8  # the fusion 1x1s, the post-cell 3x3 and every ESA conv (the code's SUPPORT_CONV_BIT)
BODY_LAYERS = 4  # body layers per cell; one skip layer fewer


def _fixed(conv: _QConv, x: torch.Tensor, noise: str) -> torch.Tensor:
    """A fixed-width layer: quantized directly whatever the search mode."""
    return conv(x, x.new_ones(1), "direct", noise)


class _ESA(nn.Module):
    """Enhanced spatial attention (module docstring), every conv at ``bits``."""

    def __init__(self, c: int, bits: int):
        super().__init__()
        f = c // 4
        conv = lambda cin, cout, k, **kw: _QConv(cin, cout, k, k, 1, [bits], **kw)
        self.conv1, self.conv_f, self.conv4 = conv(c, f, 1), conv(f, f, 1), conv(f, c, 1)
        self.conv2 = conv(f, f, 3, stride=2, padding=0)
        self.conv_max, self.conv3, self.conv3_ = conv(f, f, 3), conv(f, f, 3), conv(f, f, 3)

    def forward(self, x: torch.Tensor, noise: str) -> torch.Tensor:
        c1_ = _fixed(self.conv1, x, noise)
        v = F.max_pool2d(_fixed(self.conv2, c1_, noise), kernel_size=7, stride=3)
        c3 = _fixed(self.conv3_, _fixed(self.conv3, _fixed(self.conv_max, v, noise), noise), noise)
        c3 = F.interpolate(c3, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(_fixed(self.conv4, c3 + _fixed(self.conv_f, c1_, noise), noise))


class RFDNSearchNet(Supernet):
    """The RFDN-inspired space (module docstring) over ``choices`` (positions of
    :meth:`positions`); ``mode`` ``"noise"`` or ``"direct"``."""

    SPACE, CHANNELS, CELLS, ADQ = RFDN_SPACE, 48, 4, False
    CHANNEL_MULTIPLE = 12  # 3 input channels repeated, C/2 splits, C/4 in ESA
    MIN_LR = 15  # ESA: a stride-2 3x3 conv without padding, then a 7x7 max pool

    @staticmethod
    def positions(cells: int) -> dict[str, str]:
        """Position -> kind, cell by cell, then upsample and tail."""
        out = {}
        for i in range(1, cells + 1):
            out.update({f"cell{i}_body{j}": "body" for j in range(1, BODY_LAYERS + 1)})
            out.update({f"cell{i}_skip{j}": "skip" for j in range(1, BODY_LAYERS)})
        return {**out, "upsample": "upsample", "tail": "tail"}

    @staticmethod
    def shapes(channels: int, scale: int, cells: int) -> dict[str, tuple[int, int]]:
        c = channels
        out = {pos: (c, c // 2 if kind == "skip" or pos.endswith(f"body{BODY_LAYERS}") else c)
               for pos, kind in RFDNSearchNet.positions(cells).items()}
        return {**out, "upsample": (c, 3 * scale * scale), "tail": (3, 3)}

    def __init__(self, choices: Choices, *, channels: int = 48, cells: int = 4, scale: int = 4,
                 adq: bool = False, mode: str = "noise", noise: str = "gaussian"):
        super().__init__(choices, scale=scale, mode=mode, noise=noise)
        c, shape = channels, self.shapes(channels, scale, cells)

        def position(pos: str) -> _Position:
            ops, bits = choices[pos]
            return _Position(ops, *shape[pos], bits, mid=c)

        self.cells = nn.ModuleList(nn.ModuleDict({
            "body": nn.ModuleList(position(f"cell{i}_body{j}") for j in range(1, BODY_LAYERS + 1)),
            "skip": nn.ModuleList(position(f"cell{i}_skip{j}") for j in range(1, BODY_LAYERS)),
            "fuse": _QConv(2 * c, c, 1, 1, 1, [FIXED_BITS]), "esa": _ESA(c, FIXED_BITS), "adq": _ADQ(c, adq),
        }) for i in range(1, cells + 1))
        self.fuse = _QConv(cells * c, c, 1, 1, 1, [FIXED_BITS])
        self.smooth = _QConv(c, c, 3, 3, 1, [FIXED_BITS])
        self.upsample, self.tail = position("upsample"), position("tail")

    def _cell_body(self, i: int, cell: nn.ModuleDict, y: torch.Tensor) -> torch.Tensor:
        splits = []
        for j in range(BODY_LAYERS - 1):
            splits.append(self._run(f"cell{i}_skip{j + 1}", cell["skip"][j], y))
            y = y + self._run(f"cell{i}_body{j + 1}", cell["body"][j], y)
        splits.append(self._run(f"cell{i}_body{BODY_LAYERS}", cell["body"][-1], y))
        return cell["esa"](_fixed(cell["fuse"], torch.cat(splits, 1), self.noise), self.noise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.repeat(1, self.cells[0]["fuse"].out_channels // 3, 1, 1)
        y, outs = h, []
        for i, cell in enumerate(self.cells, 1):
            y = cell["adq"](lambda z, i=i, cell=cell: self._cell_body(i, cell, z), y, y)
            outs.append(y)
        b = _fixed(self.smooth, _fixed(self.fuse, torch.cat(outs, 1), self.noise), self.noise) + h
        u = F.pixel_shuffle(self._run("upsample", self.upsample, b), self.scale)
        return u + self._run("tail", self.tail, u)

    def layers(self) -> list[tuple[str, _Position]]:
        out = []
        for i, cell in enumerate(self.cells, 1):
            out += [(f"cell{i}_body{j + 1}", layer) for j, layer in enumerate(cell["body"])]
            out += [(f"cell{i}_skip{j + 1}", layer) for j, layer in enumerate(cell["skip"])]
        return out + [("upsample", self.upsample), ("tail", self.tail)]
