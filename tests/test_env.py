"""Environment guards: strict FP32 during jobs, and no torch thread count leaking between tests."""

from __future__ import annotations

import pytest
import torch

from qsrbench.env import fingerprint, strict_fp32


def _flags() -> tuple[bool, bool]:
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize("before", [(True, True), (True, False), (False, False)])
def test_strict_fp32_turns_tf32_off_and_restores(before):
    saved = _flags()
    try:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
        with strict_fp32():
            assert _flags() == (False, False)
        assert _flags() == before
        with pytest.raises(RuntimeError), strict_fp32():
            raise RuntimeError("job failed")
        assert _flags() == before
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_records_state_the_tf32_mode_read_back_from_torch(tmp_path, monkeypatch):
    """A record's ``env.tf32`` is what torch's flags said during the job: False under
    strict_fp32, True when the runner forgets it (torch's cuDNN default allows TF32)."""
    from contextlib import nullcontext

    from qsrbench import runner
    from qsrbench.methods import RunContext
    from qsrbench.spec import load_spec
    from qsrbench.store import ResultStore

    spec = load_spec("suites/specs/smoke/bicubic-demo.toml")
    saved = _flags()
    try:
        torch.backends.cudnn.allow_tf32 = True
        (r,) = runner.run_spec(spec, ResultStore(tmp_path / "a"), RunContext(), ).recorded[:1]
        assert r.env["tf32"] is False
        monkeypatch.setattr(runner, "strict_fp32", nullcontext)
        (r,) = runner.run_spec(spec, ResultStore(tmp_path / "b"), RunContext()).recorded[:1]
        assert r.env["tf32"] is True
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    assert "tf32" not in fingerprint("cpu")  # not a constant of the environment


# The two tests below run in file order: the first changes torch's thread count, the second
# checks that the autouse fixture in conftest.py restored it (golden fake-quant records depend
# on the thread count, so a leak would make later checks flaky).
_threads_seen: list[int] = []


def test_a_test_may_change_the_thread_count():
    _threads_seen.append(torch.get_num_threads())
    torch.set_num_threads(2 if torch.get_num_threads() == 1 else 1)
    assert torch.get_num_threads() != _threads_seen[0]


def test_the_next_test_sees_the_thread_count_restored():
    if not _threads_seen:
        pytest.skip("runs after test_a_test_may_change_the_thread_count only")
    assert torch.get_num_threads() == _threads_seen[0]


def test_jobs_run_in_strict_fp32():
    """``run`` and ``sweep`` execute every job through ``runner.execute``: TF32 is off inside."""
    from qsrbench.runner import execute

    from qsrbench.methods import JobResult

    class Probe:
        def run_job(self, spec, job, ctx):
            return JobResult(metrics={}, extra={"flags": _flags()})

    saved = _flags()
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        res = execute(Probe(), None, None, None)
        assert res.extra["flags"] == (False, False) and res.tf32 is False
        assert _flags() == (True, True)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
