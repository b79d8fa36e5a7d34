"""A trained method end to end through the CLI (the PAMS smoke spec: 6 iterations of PAN x4 at
W4A4 on four T91 images): the record's training facts, a finished run scored again without
training, a corrupt checkpoint reported in one line with nothing recorded lost (resume after a
kill: tests/test_train_loop.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qsrbench.testing import missing_weights
from qsrbench.spec import load_spec

SMOKE = "suites/specs/qat/pams-pan-x4-w4a4-smoke.toml"


@pytest.fixture
def smoke_env(request, need_set, tmp_path):
    root = need_set("T91")
    need_set("Set5")
    missing_weights(request.config, load_spec(SMOKE), root)
    return {"QSRBENCH_RUNS": str(tmp_path / "runs")}


def _records(results: Path) -> list[dict]:
    return [json.loads(line) for line in (results / "pams-pan-x4-w4a4-smoke.jsonl").read_text().splitlines()]


def test_trained_spec_records_its_run_and_reuses_it(run_cli, tmp_path, smoke_env):
    results = tmp_path / "results"
    out = run_cli("run", SMOKE, "--results", results, "-q", env=smoke_env)
    assert out.returncode == 0, out.stderr
    (first,) = _records(results)
    train = first["extra"]["train"]
    assert train["iterations"] == 6 and train["batch"] == 2 and train["patch"] == 48
    assert train["resumed_at"] is None and train["it_per_s"] > 0 and len(train["weights_sha256"]) == 64
    assert [h["iteration"] for h in train["history"]] == [3, 6]
    assert first["extra"]["size"]["ratio"] > 1 and first["bitops"] > 0
    run_dir = Path(train["run_dir"])
    assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "model.pt").is_file()

    out = run_cli("run", SMOKE, "--results", results, "-q", "--force", env=smoke_env)
    assert out.returncode == 0, out.stderr
    second = _records(results)[-1]
    assert second["extra"]["train"]["resumed_at"] == 6  # finished run: scored again, not retrained
    assert second["extra"]["train"]["weights_sha256"] == train["weights_sha256"]
    assert second["metrics"] == first["metrics"]

    (run_dir / "checkpoint.pt").write_bytes(b"truncated")
    out = run_cli("run", SMOKE, "--results", results, "-q", "--force", env=smoke_env)
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "checkpoint.pt: not a readable training checkpoint" in lines[0], out.stderr
    assert len(_records(results)) == 2  # nothing recorded is lost


def test_trained_model_scores_in_float64_alike_at_one_and_two_threads(need_set, request, tmp_path,
                                                                        monkeypatch):
    """A trained method scores in float64 by default (training is float32), and the score of given
    weights is then the same at 1 and 2 threads, image by image."""
    import torch

    from qsrbench.methods import Job, RunContext
    from qsrbench.registry import methods

    root = need_set("T91")
    need_set("Set5")
    spec = load_spec(SMOKE)
    missing_weights(request.config, spec, root)
    monkeypatch.setenv("QSRBENCH_RUNS", str(tmp_path / "runs"))
    assert spec.method.eval_dtype == "float64"
    job = Job("Set5", 4, spec.model.name, None)
    scores = []
    for threads in (1, 2):
        torch.set_num_threads(threads)  # restored after the test by conftest's fixture
        method = methods.get(spec.method.name)()
        scored = method.model_for(spec, 4, RunContext(data_root=root), None)
        assert {p.dtype for p in scored.parameters()} == {torch.float64}
        res = method.run_job(spec, job, RunContext(data_root=root))
        scores.append([i["psnr"] for i in res.per_image])
    assert scores[0] == scores[1]
