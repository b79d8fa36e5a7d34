"""The typed ``[method.train]`` table of a trainable SR method's spec: data, patches, optimizer,
schedule, checkpoints and validation.

Units and conventions: ``patch`` is the HR patch side in pixels (the LR patch is ``patch / scale``);
learning rates are Adam's step sizes; losses are in [0, 255] pixel units whatever the network's own
range (the EDSR-PyTorch code the QAT papers build on trains with ``rgb_range`` 255; Adam does not
depend on the loss scale, the balance of added loss terms does); schedules are stepped once per
iteration; ``*_every`` counts iterations, 0 meaning never (a final checkpoint is always written).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..spec import Strict

__all__ = ["Schedule", "TrainConfig"]


class Schedule(Strict):
    """Learning-rate multiplier per iteration ``t`` (0-based) of ``T`` iterations.

    ``constant``: 1; ``step``: ``gamma ** (t // step)``; ``cosine``:
    ``min_factor + (1 - min_factor) · (1 + cos(π t / T)) / 2``."""

    kind: Literal["constant", "step", "cosine"] = Field("step", description="schedule shape")
    step: Annotated[int, Field(ge=1)] | None = Field(None, description="iterations between decays (step)")
    gamma: Annotated[float, Field(gt=0, le=1)] = Field(0.5, description="decay factor (step)")
    min_factor: Annotated[float, Field(ge=0, le=1)] = Field(0.0, description="final lr / lr (cosine)")

    @model_validator(mode="after")
    def _step_needs_period(self) -> "Schedule":
        if self.kind == "step" and self.step is None:
            raise ValueError("a 'step' schedule needs 'step' (iterations between decays)")
        return self


class TrainConfig(Strict):
    """One training run: L1 on random (LR, HR) patch pairs, Adam, a schedule, checkpoints."""

    sets: list[str] = Field(["T91", "BSD200"], min_length=1, description=(
        "HR training sets under the data root (the shipped '291' = T91 + BSD200; DIV2K/DF2K when present)"))
    max_images: Annotated[int, Field(ge=1)] | None = Field(None, description=(
        "use only the first images of each training set (smoke tiers)"))
    iterations: Annotated[int, Field(ge=1)] = Field(description="optimizer steps")
    batch: Annotated[int, Field(ge=1)] = Field(16, description="patch pairs per step")
    patch: Annotated[int, Field(ge=2)] = Field(96, description="HR patch side, pixels (a multiple of the scale)")
    augment: bool = Field(True, description="random horizontal flip, vertical flip and transpose (8 dihedral)")
    lr: Annotated[float, Field(gt=0)] = Field(1e-4, description="Adam step size of the network weights")
    quant_lr: Annotated[float, Field(gt=0)] | None = Field(None, description=(
        "step size of quantizer parameters (clips, steps); default: lr"))
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = Field(
        (0.9, 0.999), description="Adam betas")
    weight_decay: Annotated[float, Field(ge=0)] = Field(0.0, description=(
        "L2 weight decay of the network weights (never of quantizer parameters)"))
    schedule: Schedule = Field(Schedule(kind="constant"), description="learning-rate schedule")
    grad_clip: Annotated[float, Field(gt=0)] | None = Field(None, description=(
        "clip the global L2 norm of the gradients to this value"))
    ema: Annotated[float, Field(gt=0, lt=1)] | None = Field(None, description=(
        "decay of an exponential moving average of the weights, evaluated instead of the weights"))
    checkpoint_every: Annotated[int, Field(ge=0)] = Field(0, description=(
        "iterations between checkpoints (0: only the final one)"))
    validate_every: Annotated[int, Field(ge=0)] = Field(0, description=(
        "iterations between validations on val_set (0: never during training)"))
    val_set: str = Field("Set5", description="validation set (scored with the spec's protocol)")
    val_images: Annotated[int, Field(ge=1)] | None = Field(None, description="first images of val_set only")

    @property
    def quant_step_size(self) -> float:
        return self.lr if self.quant_lr is None else self.quant_lr
