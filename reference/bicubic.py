"""Bicubic interpolation: the baseline of every SR table.

``imresize(LR, s, 'bicubic')`` as MATLAB computes it (``qsrbench.data.imresize``). Under the
'y' protocol domain this is the SRCNN/VDSR evaluation (luma plane resized in double precision),
which produced the classic published bicubic table; under 'rgb' it upsamples the RGB LR image
(uint8 per pass, like MATLAB on a uint8 image).

References: Keys, "Cubic convolution interpolation for digital image processing", IEEE TASSP
1981; Dong et al., "SRCNN", ECCV 2014 / TPAMI 2016; Kim et al., "VDSR", CVPR 2016 (Table 3).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qsrbench.methods import SRMethod
from qsrbench.models import create_model
from qsrbench.registry import register_method
from qsrbench.spec import MethodParams


class BicubicParams(MethodParams):
    """Bicubic has no parameters besides its name."""

    name: Literal["bicubic"] = Field(description="bicubic interpolation")


@register_method
class Bicubic(SRMethod):
    name = "bicubic"
    Params = BicubicParams
    requires_model = False
    citation = "Keys, IEEE TASSP 1981; evaluation protocol of Kim et al., VDSR, CVPR 2016"

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        if spec.model is not None and spec.model.name != "bicubic":
            problems.append(("model.name", "the bicubic method evaluates the 'bicubic' model only; "
                                           "use method 'fp' to evaluate another model"))
        if spec.bits.weight != 32 or spec.bits.activation != 32:
            problems.append(("bits", "bicubic has no weights or activations to quantize"))
        return problems

    def build(self, spec, scale, ctx, variant=None):
        return create_model("bicubic", scale, uint8_passes=spec.protocol.domain == "rgb")
