"""The ``qsrbench`` command, tested as a user runs it (a subprocess, exit codes and output)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "suites/specs/smoke/bicubic-demo.toml"


def test_list_shows_registered_names(run_cli):
    out = run_cli("list")
    assert out.returncode == 0
    for name in ("bicubic", "fp", "Set5", "Manga109", "skimage-demo"):
        assert name in out.stdout


def test_schema_is_json_with_method_union(run_cli):
    out = run_cli("schema")
    schema = json.loads(out.stdout)
    assert out.returncode == 0 and "BicubicParams" in schema["$defs"]


def test_validate_default_specs(run_cli):
    out = run_cli("validate")
    assert out.returncode == 0, out.stderr
    assert "0 invalid" in out.stdout


def test_validate_bad_spec_is_one_clear_message(run_cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nversion = 1\ntier = "smoke"\ndatasets = ["Set5"]\nscales = [2]\n'
                   '[method]\nname = "bicubic"\n[protocol]\ncolour = "y"\n')
    out = run_cli("validate", bad)
    assert out.returncode == 2
    assert str(bad) in out.stderr and "protocol.colour: unknown field" in out.stderr
    assert "Traceback" not in out.stderr


def test_run_then_rerun_resumes(run_cli, tmp_path):
    results = tmp_path / "results"
    out = run_cli("run", DEMO, "--results", results, "-q")
    assert out.returncode == 0, out.stderr
    assert "3 recorded" in out.stdout and (results / "bicubic-demo.jsonl").is_file()
    again = run_cli("run", DEMO, "--results", results, "-q")
    assert again.returncode == 0 and "0 recorded, 3 already in" in again.stdout


def test_leaderboard_is_deterministic_and_check_detects_edits(run_cli, tmp_path):
    results, boards = tmp_path / "results", tmp_path / "boards"
    assert run_cli("run", DEMO, "--results", results, "-q").returncode == 0
    assert run_cli("leaderboard", "--results", results, "--out", boards).returncode == 0
    first = (boards / "demo.md").read_bytes()
    assert run_cli("leaderboard", "--results", results, "--out", boards).returncode == 0
    assert (boards / "demo.md").read_bytes() == first
    passed = run_cli("leaderboard", "--results", results, "--out", boards, "--check")
    assert passed.returncode == 0 and "up to date: 1 leaderboards" in passed.stdout
    (boards / "demo.md").write_text("edited by hand\n")
    stale = run_cli("leaderboard", "--results", results, "--out", boards, "--check")
    assert stale.returncode == 1 and "stale" in stale.stderr


def _edit_records(path: Path, fn) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in fn(lines)))


def test_compare_gate(run_cli, tmp_path):
    base = tmp_path / "base"
    assert run_cli("run", DEMO, "--results", base, "-q").returncode == 0
    same = run_cli("compare", base, base)
    assert same.returncode == 0 and "0 regressed" in same.stdout

    worse = tmp_path / "worse"
    shutil.copytree(base, worse)

    def lower(records):
        records[0]["metrics"]["psnr"] -= 0.1
        return records

    _edit_records(worse / "bicubic-demo.jsonl", lower)
    out = run_cli("compare", base, worse)
    assert out.returncode == 1 and "regressed" in out.stdout

    fewer = tmp_path / "fewer"
    shutil.copytree(base, fewer)
    _edit_records(fewer / "bicubic-demo.jsonl", lambda records: records[1:])
    missing = run_cli("compare", base, fewer)
    assert missing.returncode == 1 and "missing" in missing.stdout
    assert run_cli("compare", base, fewer, "--allow-missing").returncode == 0


def test_data_check(run_cli, need_set):
    root = need_set("Set5")
    out = run_cli("data", "check", "--data-root", root)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line.split()[-1] for line in out.stdout.splitlines()[3:] if line.strip()}
    assert lines["Set5"] == "ok" and lines["Set14"] == "ok" and lines["Manga109"] == "absent"


def test_run_with_missing_data_root_is_a_clear_error(run_cli, tmp_path):
    spec = REPO / "suites/specs/sr/bicubic-y.toml"
    out = run_cli("run", spec, "--data-root", tmp_path / "nowhere", "--results", tmp_path / "r")
    assert out.returncode == 2
    assert "data root" in out.stderr and "nowhere" in out.stderr and "Traceback" not in out.stderr
    assert "README, section 'Data'" in out.stderr and "shared/" not in out.stderr
    default = run_cli("run", spec, "--results", tmp_path / "r",
                      env={"QSRBENCH_DATA": "", "QSRBENCH_CACHE": str(tmp_path / "cache")})
    assert default.returncode == 2 and "((" not in default.stderr and "))" not in default.stderr
    assert "(from the default: no --data-root or $QSRBENCH_DATA given)" in default.stderr


def test_missing_weights_say_where_they_were_looked_for(run_cli, tmp_path):
    """The same rule with or without a data root: a PTQ spec on the embedded demo set."""
    spec = tmp_path / "ptq-demo.toml"
    text = (REPO / "suites/specs/ptq/imdn-x4/ptq-imdn-x4-w8a8.toml").read_text()
    spec.write_text(text.replace('name = "ptq-imdn-x4-w8a8"', 'name = "ptq-demo"')
                    .replace('datasets = ["Set5", "Set14"]', 'datasets = ["skimage-demo"]')
                    .replace('datasets = ["Set5"]', 'datasets = ["skimage-demo"]'))
    out = run_cli("run", spec, "--results", tmp_path / "r", "-q",
                  env={"QSRBENCH_WEIGHTS": str(tmp_path / "w"), "QSRBENCH_DATA": ""})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"weights file 'imdn_x4.pth' not found: looked for {tmp_path / 'w' / 'imdn_x4.pth'}" in out.stderr
    assert "$QSRBENCH_WEIGHTS" in out.stderr and "README, section 'Weights'" in out.stderr


def test_version_and_help_read_as_plain_text(run_cli):
    from qsrbench import __version__

    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"qsrbench {__version__}"
    help_text = run_cli("--help").stdout
    assert "``" not in help_text and "Benchmark harness" in help_text


def test_run_summary_shows_the_variant(run_cli, tmp_path, need_set):
    root = need_set("T91")  # the calibration patches
    spec = tmp_path / "ptq-demo.toml"
    text = (REPO / "suites/specs/ptq/imdn-x4/ptq-imdn-x4-w8a8.toml").read_text()
    spec.write_text(text.replace('name = "ptq-imdn-x4-w8a8"', 'name = "ptq-demo"')
                    .replace('datasets = ["Set5"]', 'datasets = ["skimage-demo"]')
                    .replace('datasets = ["Set5", "Set14"]', 'datasets = ["skimage-demo"]')
                    .replace('calibration = ["minmax", "percentile", "mse"]', 'calibration = ["minmax"]')
                    .replace('[method]', '[budget]\nmax_images = 1\n\n[method]', 1))
    from qsrbench.models.weights import weights_root

    weights = weights_root(root)[0]
    if not (weights / "imdn_x4.pth").is_file():
        pytest.skip(f"{weights / 'imdn_x4.pth'} not found")
    out = run_cli("run", spec, "--results", tmp_path / "r", "-q", "--data-root", root,
                  env={"QSRBENCH_WEIGHTS": str(weights)})
    assert out.returncode == 0, out.stderr
    header = out.stdout.splitlines()[1]
    assert header.split()[:3] == ["variant", "dataset", "scale"]
    assert "per-channel, minmax" in out.stdout and "per-tensor, minmax" in out.stdout


def test_list_datasets_says_what_is_present(run_cli, tmp_path):
    out = run_cli("list", "datasets", "--data-root", tmp_path / "nowhere")
    assert out.returncode == 0
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[3:] if line and line[0] != " "}
    assert "no data root" in rows["Set5"] and "embedded" in rows["skimage-demo"]
    assert out.stdout.splitlines()[1].split() == ["name", "description", "present", "verified"]


def test_unwritable_results_dir(run_cli, tmp_path):
    (tmp_path / "file").write_text("")
    out = run_cli("run", DEMO, "--results", tmp_path / "file" / "results")
    assert out.returncode == 2 and "not writable" in out.stderr


def test_env_fingerprint(run_cli):
    out = run_cli("env")
    env = json.loads(out.stdout)
    assert out.returncode == 0 and env["torch"] and env["device"] and "git" in env


def test_bitops_command(run_cli, tmp_path):
    out = run_cli("bitops", DEMO)
    assert out.returncode == 2 and "does not count MACs or BitOps" in out.stderr


@pytest.mark.parametrize("args", [["run"], ["compare", "only-one"], ["frobnicate"]])
def test_usage_errors(run_cli, args):
    assert run_cli(*args).returncode == 2
