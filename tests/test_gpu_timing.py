"""The GPU timing rule's summary (qsrbench/kernels/gpu_timing.py) against hand-computed quartiles;
the CUDA timing itself runs only on a GPU machine (suites/test_triton_speed.py)."""

from __future__ import annotations

import pytest
import torch

from qsrbench.kernels.gpu_timing import cuda_times_ms, summary


def test_summary_by_hand():
    # inclusive quartiles of 1..5: 2, 3, 4; of 1, 2, 10, 11: 1.75, 6, 10.25
    assert summary([5.0, 1.0, 3.0, 2.0, 4.0]) == {"median_ms": 3.0, "q1_ms": 2.0, "q3_ms": 4.0, "iqr_ms": 2.0, "n": 5}
    s = summary([1.0, 2.0, 10.0, 11.0])
    assert (s["q1_ms"], s["median_ms"], s["q3_ms"]) == pytest.approx((1.75, 6.0, 10.25))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a CUDA device")
def test_cuda_timing_without_a_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA device"):
        cuda_times_ms(lambda: None)
