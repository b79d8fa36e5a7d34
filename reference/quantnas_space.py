"""QuantNAS's basic SR search space: a supernet over (operation x bit-width) per layer position,
and the derived (fixed) network, one class for both.

Layout (Shvetsov et al., IEEE Access 2024, arXiv 2208.14839, Sec. "search space"; checked against
the authors' code diff7/QuanToaster @ b723e76: ``configs/quant_config.yaml``,
``sr_models/search_cells.py``, ``sr_models/quant_conv_lsq.py``, ``sr_models/ADN.py``; written from
the paper and those files, no code copied), input RGB in [0, 1], ``C`` channels (36):

    h  = head2(head1(x))                                     3 -> C -> C
    b  = ADQ(cells, h; skip = h)                             global skip around the body
    cell(y) = ADQ(body2 ∘ body1, y; skip = skip_op(y))       ``cells`` times (3), own weights,
                                                             one shared α per position
    u  = PixelShuffle(s)(upsample(b))                        C -> 3 s², then 3 x (sH, sW)
    out = ADQ(tail2 ∘ tail1, u; skip = u)                    3 -> C -> 3 at HR resolution

``ADQ(f, x; skip) = f(BN(x)) · φ(std(skip)) + skip``: ``std`` per sample over (C, H, W), ``φ`` a
1x1 conv on that scalar (weight 1.5, bias 0 at start); with ``adq = False`` it is
``f(x) + skip``. Positions and their candidate operations (:data:`BASIC_SPACE`; ``gK`` = 3
groups, ``KxK`` factorised = K x 1 then 1 x K), no bias, no BN inside an operation.

Every convolution reads ``relu`` of its input (as the authors' quantized convs do) and, per
candidate bit-width ``b`` with probability ``p_b`` (the operation's row of the position's joint
softmax over operation x bits):

* ``"noise"`` (the QuantNAS proxy): ``x̃ = f · x + Σ_b p_b / (Σ_b p_b + f) · sg(x + noise_b)``,
  ``W̃`` the same, ``f = 1 / (|bits| + 1)`` the full-precision share (not renormalised, as the
  code), noise of :func:`qsrbench.quant.proxy.range_noise`;
* ``"direct"`` (the baseline): ``x̃ = Σ_b p_b / Σ_b p_b · hwgq_b(x)``, ``W̃ = Σ_b p_b / Σ_b p_b ·
  lsq_b(W)``; with one candidate this is the quantized layer itself: the derived network is this
  class over a one-operation, one-bit-width space in ``"direct"`` mode.

then ``conv(x̃, W̃)`` once (:func:`qsrbench.quant.composite.mix`), and the position's output is
``Σ_k (Σ_b p_kb) · op_k(x)``.

Deviations, stated: LSQ weight steps here are per tensor (the authors' retraining uses per-channel
steps) and are trained in the ``"direct"`` search too (the authors' supernet keeps them in a plain
list, so they stay at their initial value).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qsrbench.errors import QsrbenchError
from qsrbench.quant.composite import mix
from qsrbench.quant.modules import LSQQuantizer
from qsrbench.quant.proxy import hwgq, hwgq_step, range_noise
from qsrbench.quant.size import ModelSize

__all__ = ["OPS", "GROWTH", "BASIC_SPACE", "POSITIONS", "Supernet", "QuantSRNet", "basic_shapes", "check_space", "shape_problems",
           "supernet_choices", "derived_choices", "conv_bits", "derived_size"]

# operation -> its convolutions (kernel h, kernel w, groups); a factorised op is two convs
OPS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "conv1x1": ((1, 1, 1),), "conv3x3": ((3, 3, 1),), "conv5x5": ((5, 5, 1),),
    "conv3x3_g3": ((3, 3, 3),), "conv5x5_g3": ((5, 5, 3),),
    "conv3x1_1x3": ((3, 1, 1), (1, 3, 1)), "conv5x1_1x5": ((5, 1, 1), (1, 5, 1)),
    # the RFDN-inspired space's (reference/quantnas_rfdn.py): 2 groups, and "growth" pairs
    "conv1x1_g2": ((1, 1, 2),), "conv3x3_g2": ((3, 3, 2),), "conv5x5_g2": ((5, 5, 2),),
    "growth1_1x1": ((1, 1, 1), (1, 1, 1)), "growth1_3x3": ((3, 3, 1), (3, 3, 1)),
    "growth1_5x5": ((5, 5, 1), (5, 5, 1)),
}
# operations whose first convolution widens to the network's channel count C (the authors'
# GrowthConv with growth 1: C_in -> C -> C_out); every other op's convs all output C_out
GROWTH = frozenset({"growth1_1x1", "growth1_3x3", "growth1_5x5"})
BASIC_SPACE: dict[str, list[str]] = {
    "head": ["conv3x3", "conv5x5", "conv3x3_g3", "conv5x5_g3"],
    "body": ["conv5x1_1x5", "conv3x1_1x3", "conv3x3", "conv5x5"],
    "skip": ["conv1x1", "conv3x3", "conv5x5"],
    "upsample": ["conv5x5_g3", "conv3x3_g3", "conv3x3", "conv5x5"],
    "tail": ["conv1x1", "conv3x3", "conv5x5", "conv5x5_g3", "conv3x3_g3"],
}
# layer position -> its kind (the candidate list it uses)
POSITIONS: dict[str, str] = {"head1": "head", "head2": "head", "body1": "body", "body2": "body", "skip": "skip",
                             "upsample": "upsample", "tail1": "tail", "tail2": "tail"}


def check_space(space: dict[str, list[str]], bits: list[int], positions: dict[str, str] = POSITIONS) -> None:
    """One-line errors for unknown operations, empty positions and unsupported bit-widths."""
    for kind in sorted(set(positions.values())):
        ops = space.get(kind)
        if not ops:
            raise QsrbenchError(f"search space: position kind {kind!r} has no candidate operation")
        for op in ops:
            if op not in OPS:
                raise QsrbenchError(f"search space: unknown operation {op!r} for {kind!r} (known: {', '.join(OPS)})")
    if not bits:
        raise QsrbenchError("search space: no candidate bit-width")
    for b in bits:
        hwgq_step(b)


class _QConv(nn.Conv2d):
    """One convolution of a candidate operation: its FP weight, one LSQ weight quantizer per
    candidate bit-width, and the relaxed forward of the module docstring (called as a module, so
    that the BitOps counter attributes its MACs to it)."""

    def __init__(self, cin: int, cout: int, kh: int, kw: int, groups: int, bits: list[int], *,
                 stride: int = 1, padding: int | None = None):
        pad = (kh // 2, kw // 2) if padding is None else padding
        super().__init__(cin, cout, (kh, kw), stride=stride, padding=pad, groups=groups, bias=False)
        self.bits = list(bits)
        self.lsq = nn.ModuleList(LSQQuantizer(b, signed=True) for b in bits)
        # whether the LSQ steps hold values (initialised or trained): a buffer, so that a network
        # loaded from a checkpoint does not initialise its trained steps again on its first call
        self.register_buffer("lsq_ready", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor, p: torch.Tensor, mode: str, noise: str) -> torch.Tensor:
        if mode == "direct" and not self.lsq_ready.is_meta and not all(q.initialized for q in self.lsq):
            ready = bool(self.lsq_ready)  # read once per module and process (a GPU sync), not per call
            for q in self.lsq:
                q.initialized = q.initialized or ready
            self.lsq_ready.fill_(True)
        x = F.relu(x)
        if mode == "noise":
            f = 1.0 / (len(self.bits) + 1)
            coef = torch.cat([p.new_tensor([f]), p / (p.sum() + f)])
            xs = [x, *(range_noise(x, b, noise) for b in self.bits)]
            ws = [self.weight, *(range_noise(self.weight, b, noise) for b in self.bits)]
        else:
            coef = p / p.sum().clamp_min(torch.finfo(p.dtype).tiny)  # an op of probability 0 (fixed): 0, not 0/0
            xs = [hwgq(x, b) for b in self.bits]
            ws = [q(self.weight) for q in self.lsq]
        return self._conv_forward(mix(xs, coef), mix(ws, coef), None)


class _Op(nn.Module):
    """One candidate operation: its convolutions in sequence (``mid``: the width a :data:`GROWTH`
    op's first convolution outputs)."""

    def __init__(self, name: str, cin: int, cout: int, bits: list[int], mid: int | None = None):
        super().__init__()
        self.name, self.bits = name, list(bits)
        convs, c = [], cin
        for (kh, kw, g), width in zip(OPS[name], _widths(name, cout, mid)):
            convs.append(_QConv(c, width, kh, kw, g, bits))
            c = width
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor, p: torch.Tensor, mode: str, noise: str) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x, p, mode, noise)
        return x


def _widths(name: str, cout: int, mid: int | None) -> list[int]:
    """Output channels of each convolution of operation ``name``."""
    n = len(OPS[name])
    return [mid if (i == 0 and name in GROWTH and mid) else cout for i in range(n)]


def shape_problems(choices: "Choices", shapes: dict[str, tuple[int, int]], mid: int) -> list[str]:
    """Candidate operations whose groups do not divide their convolutions' channels."""
    out = []
    for pos, (ops, _) in choices.items():
        cin, cout = shapes[pos]
        for op in ops:
            c = cin
            for (_, _, g), width in zip(OPS[op], _widths(op, cout, mid)):
                if c % g or width % g:
                    out.append(f"{op} at {pos} ({c} -> {width} channels) cannot have {g} groups")
                c = width
    return out


class _Position(nn.Module):
    """The candidates of one layer position: ``Σ_k (Σ_b p_kb) · op_k(x)``."""

    def __init__(self, ops: list[str], cin: int, cout: int, bits: list[int], mid: int | None = None):
        super().__init__()
        self.ops = nn.ModuleList(_Op(name, cin, cout, bits, mid) for name in ops)

    def forward(self, x, probs: torch.Tensor, mode: str, noise: str) -> torch.Tensor:
        out = None
        for op, p in zip(self.ops, probs):
            y = p.sum() * op(x, p, mode, noise)
            out = y if out is None else out + y
        return out


class _ADQ(nn.Module):
    def __init__(self, channels: int, enabled: bool):
        super().__init__()
        self.enabled = enabled
        if enabled:
            self.bn = nn.BatchNorm2d(channels)
            self.phi = nn.Conv2d(1, 1, 1)
            with torch.no_grad():
                self.phi.weight.fill_(1.5)
                self.phi.bias.zero_()

    def forward(self, body, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return body(x) + skip
        s = self.phi(skip.std(dim=(1, 2, 3), keepdim=True))
        return body(self.bn(x)) * s + skip


Choices = dict[str, tuple[list[str], list[int]]]  # position -> (candidate operations, candidate bits)


def supernet_choices(space: dict[str, list[str]], bits: list[int], positions: dict[str, str] = POSITIONS) -> Choices:
    """Every position's candidates in a space given per kind (:data:`BASIC_SPACE`)."""
    check_space(space, bits, positions)
    return {pos: (list(space[kind]), list(bits)) for pos, kind in positions.items()}


class Supernet(nn.Module):
    """What every QuantNAS search space shares: one joint (operation x bits) logit vector per
    position in :attr:`alpha` (zeros at start), their softmaxes, the expected BitOps, the entropy,
    the derivation and the one-hot fixing. A space adds its layers, :meth:`layers` and ``forward``
    and calls :meth:`_run` for every searched layer."""

    def __init__(self, choices: Choices, *, scale: int, mode: str, noise: str):
        super().__init__()
        if mode not in ("noise", "direct"):
            raise QsrbenchError(f"unknown search mode {mode!r} (noise, direct)")
        self.choices, self.mode, self.noise, self.scale = choices, mode, noise, scale
        self.alpha = nn.ParameterDict({pos: nn.Parameter(torch.zeros(len(o) * len(b)))
                                       for pos, (o, b) in choices.items()})
        self._fixed: dict[str, int] | None = None

    def layers(self) -> list[tuple[str, "_Position"]]:
        """(position, layer) of every searched layer (a layer sharing its position's logits with
        others is listed once per use)."""
        raise NotImplementedError

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alpha.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def probs(self, pos: str) -> torch.Tensor:
        """``(ops, bits)`` joint probabilities of ``pos``: softmax of its logits (one-hot when fixed)."""
        ops, bits = self.choices[pos]
        a = self.alpha[pos]
        p = (F.one_hot(torch.tensor(self._fixed[pos]), a.numel()).to(a) if self._fixed is not None
             else F.softmax(a, 0))
        return p.reshape(len(ops), len(bits))

    def _run(self, pos: str, layer: _Position, x: torch.Tensor) -> torch.Tensor:
        layer.hw = x.shape[-2] * x.shape[-1]  # per-image pixels, for expected_bitops
        return layer(x, self.probs(pos), self.mode, self.noise)

    def expected_bitops(self) -> torch.Tensor:
        """Search-time BitOps of one image of the last forward's size, the authors' form:
        ``Σ_layers Σ_k Σ_conv Σ_b p_kb · FLOPs_conv · b`` with ``FLOPs = 2 · MACs`` (one bit
        factor, linear in b; differentiable in the logits). Searched layers only: a space's fixed
        layers add a constant."""
        total = self.alpha[next(iter(self.alpha))].new_zeros(())
        for pos, layer in self.layers():
            bits = torch.as_tensor(self.choices[pos][1], dtype=total.dtype, device=total.device)
            for op, p in zip(layer.ops, self.probs(pos)):
                flops = sum(2 * layer.hw * c.out_channels * c.in_channels // c.groups * c.kernel_size[0]
                            * c.kernel_size[1] for c in op.convs)
                total = total + flops * (p * bits).sum()
        return total

    def entropy(self) -> torch.Tensor:
        """``Σ_positions −Σ p log p`` of the joint softmaxes (natural log)."""
        return sum(-(F.softmax(a, 0) * F.log_softmax(a, 0)).sum() for a in self.alpha.values())

    def derive(self) -> dict[str, tuple[str, int]]:
        """Per position the (operation, bits) of largest joint probability."""
        out = {}
        for pos, (ops, bits) in self.choices.items():
            k = int(self.alpha[pos].argmax())
            out[pos] = (ops[k // len(bits)], bits[k % len(bits)])
        return out

    def fix(self, choice: dict[str, tuple[str, int]]) -> None:
        """Make every position one-hot at ``choice`` (for the one-hot = derived-network oracle)."""
        fixed = {}
        for pos, (op, b) in choice.items():
            ops, bits = self.choices[pos]
            fixed[pos] = ops.index(op) * len(bits) + bits.index(b)
        self._fixed = fixed


def basic_shapes(channels: int, scale: int) -> dict[str, tuple[int, int]]:
    """(input, output) channels of every basic-space position."""
    c = channels
    return {"head1": (3, c), "head2": (c, c), "body1": (c, c), "body2": (c, c), "skip": (c, c),
            "upsample": (c, 3 * scale * scale), "tail1": (3, c), "tail2": (c, 3)}


class QuantSRNet(Supernet):
    """The basic space (module docstring) over ``choices``; ``mode`` ``"noise"`` or ``"direct"``.
    Architecture parameters: :attr:`alpha` (one joint logit vector per position, shared by the
    cells); :meth:`arch_parameters` / :meth:`weight_parameters` split them from the rest."""

    SPACE, CHANNELS, CELLS, ADQ = BASIC_SPACE, 36, 3, True
    CHANNEL_MULTIPLE = 3  # grouped convs of 3 groups
    MIN_LR = 1  # LR pixels a side the network needs

    @staticmethod
    def positions(cells: int) -> dict[str, str]:
        """Position -> kind (the cells share their positions)."""
        return dict(POSITIONS)

    @staticmethod
    def shapes(channels: int, scale: int, cells: int) -> dict[str, tuple[int, int]]:
        return basic_shapes(channels, scale)

    def __init__(self, choices: Choices, *, channels: int = 36, cells: int = 3, scale: int = 4,
                 adq: bool = True, mode: str = "noise", noise: str = "gaussian"):
        super().__init__(choices, scale=scale, mode=mode, noise=noise)
        c, shape = channels, basic_shapes(channels, scale)

        def position(pos: str) -> _Position:
            ops, bits = choices[pos]
            return _Position(ops, *shape[pos], bits)

        self.head1, self.head2 = position("head1"), position("head2")
        self.cells = nn.ModuleList(nn.ModuleDict({"body1": position("body1"), "body2": position("body2"),
                                                  "skip": position("skip"), "adq": _ADQ(c, adq)})
                                   for _ in range(cells))
        self.body_adq, self.upsample = _ADQ(c, adq), position("upsample")
        self.tail1, self.tail2, self.tail_adq = position("tail1"), position("tail2"), _ADQ(3, adq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._run("head2", self.head2, self._run("head1", self.head1, x))

        def cells(y):
            for cell in self.cells:
                body = lambda z, cell=cell: self._run("body2", cell["body2"], self._run("body1", cell["body1"], z))
                y = cell["adq"](body, y, self._run("skip", cell["skip"], y))
            return y

        u = F.pixel_shuffle(self._run("upsample", self.upsample, self.body_adq(cells, h, h)), self.scale)
        tail = lambda z: self._run("tail2", self.tail2, self._run("tail1", self.tail1, z))
        return self.tail_adq(tail, u, u)

    def layers(self) -> list[tuple[str, _Position]]:
        out = [("head1", self.head1), ("head2", self.head2)]
        for cell in self.cells:
            out += [(pos, cell[pos]) for pos in ("body1", "body2", "skip")]
        return out + [("upsample", self.upsample), ("tail1", self.tail1), ("tail2", self.tail2)]


def derived_choices(choice: dict[str, tuple[str, int]]) -> Choices:
    """The derived network's space: one operation and one bit-width per position."""
    return {pos: ([op], [b]) for pos, (op, b) in choice.items()}


def conv_bits(net: Supernet) -> dict[str, int]:
    """Module name -> bit-width of every quantized conv of a derived network (one bit-width per
    position, or a space's fixed width; weights and activations at that width); other convs
    (ADQ's φ) are FP."""
    out = {}
    for name, module in net.named_modules():
        if isinstance(module, _QConv):
            if len(module.bits) != 1:
                raise QsrbenchError(f"{name} has {len(module.bits)} candidate bit-widths: not a derived network")
            out[name] = module.bits[0]
    return out


def derived_size(net: Supernet) -> ModelSize:
    """Stored size of a derived network (:mod:`qsrbench.quant.size`'s convention): each quantized
    conv's weight at its bits, every other parameter (LSQ steps, BN, ADQ's φ) at 32 bits."""
    bits = conv_bits(net)
    modules = dict(net.named_modules())
    quantized = {id(modules[name].weight): b for name, b in bits.items()}
    count = sum(p.numel() for p in net.parameters())
    total = sum(p.numel() * quantized.get(id(p), 32) for p in net.parameters())
    return ModelSize(count, total, 32 * count)
