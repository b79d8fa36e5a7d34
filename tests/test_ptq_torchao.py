"""torchao PT2E int8 PTQ (reference/ptq_torchao.py): spec errors, the FP layers it leaves out, and
an end-to-end run on the stand-ins (eager quantized graph: compiling IMDN takes ~40 s here; the
compiled path runs in the suites' golden sample of suites/specs/torchao/ on Set5)."""

from __future__ import annotations

import pytest

from qsrbench.errors import SpecError
from qsrbench.methods import RunContext
from qsrbench.models import create_model
from qsrbench.quant.config import quantizable_layers
from qsrbench.runner import run_spec
from qsrbench.spec import parse_spec
from qsrbench.store import ResultStore

from .test_standins import standin  # noqa: F401  (the stand-in data root fixture)

pytest.importorskip("torchao", reason="torchao is not installed (pip install 'qsrbench[torchao]')")

from reference.ptq_torchao import PTQTorchao  # noqa: E402

SPEC = {
    "name": "ptq-torchao-test", "version": 1, "tier": "small", "leaderboard": "latency", "datasets": ["Set5"],
    "scales": [4], "budget": {"max_images": 1},
    "method": {"name": "ptq-torchao", "calib_images": 2, "calib_patch": 16, "compile": False},
    "model": {"name": "imdn", "weights": "imdn_x4.pth"}, "bits": {"weight": 8, "activation": 8}}


@pytest.mark.parametrize("changes, message", [
    ({"bits": {"weight": 4, "activation": 4}}, "bits: torchao's X86InductorQuantizer quantizes to int8 only"),
    ({"method": {**SPEC["method"], "calibration": ["mse"]}}, "method.calibration"),
])
def test_bad_specs_name_the_file_and_field(changes, message):
    with pytest.raises(SpecError, match=f"x.toml(.|\n)*{message}"):
        parse_spec({**SPEC, **changes}, "x.toml")


def test_first_and_last_layers_stay_fp():
    # IMDN (Hui et al. 2019): fea_conv reads the RGB input; the upsampler's conv before the pixel shuffle writes it
    assert PTQTorchao().fp_layers(parse_spec(SPEC, "x.toml"), 4) == ["fea_conv", "upsampler.0"]


def test_end_to_end_records_the_quantized_graph(standin, tmp_path):  # noqa: F811
    spec = parse_spec(SPEC, "ptq-torchao-test.toml")
    (record,) = run_spec(spec, ResultStore(tmp_path), RunContext(data_root=standin)).recorded
    info = record.extra["integer_execution"]
    # every conv but the two FP ends carries a per-channel int8 weight in the converted graph
    assert info["layers_integer"] == len(quantizable_layers(create_model("imdn", 4))) - 2
    assert info["backend"] == "torchao PT2E, eager"
    # eager scored against itself: no difference at all (the compiled path is what differs)
    assert info["max_output_steps"] == 0.0 and info["delta_db"]["estimate"] == 0.0
    assert info["fake_psnr"] == pytest.approx(record.metrics["psnr"])
    # the latency page's integer-execution table names the backend and has no float64 floors for it
    from qsrbench.integer_board import integer_section

    row = next(line for line in "\n".join(integer_section([record])).splitlines() if line.startswith("| imdn"))
    assert "torchao PT2E, eager" in row and "| —" in row
