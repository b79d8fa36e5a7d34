"""Store round trips, leaderboard rules and the compare gate on hand-made records."""

from __future__ import annotations

import pytest

from qsrbench.compare import compare_records, failed
from qsrbench.leaderboard import build_leaderboards
from qsrbench.registry import Registry
from qsrbench.errors import RegistryError
from qsrbench.store import Record, ResultStore, latest


def rec(psnr=28.0, ssim=0.8, version=1, ts="2026-01-01T00:00:00", dataset="Set5", scale=4,
        expected=None, direction="higher", spec="s"):
    return Record(spec=spec, spec_version=version, spec_hash="h", spec_file="f.toml",
                  leaderboard="sr", tier="smoke", method="m", model=None,
                  bits={"weight": 32, "activation": 32}, dataset=dataset, scale=scale,
                  metrics={"psnr": psnr, "ssim": ssim},
                  metric_info={"psnr": {"unit": "dB", "direction": direction, "tolerance": 0.02},
                               "ssim": {"unit": "1", "direction": "higher", "tolerance": 0.002}},
                  expected=expected, wall_s=1.0, env={"device": "cpu", "torch": "x"}, timestamp=ts)


def test_store_round_trip_and_latest(tmp_path):
    store = ResultStore(tmp_path)
    store.append(rec(psnr=1.0, ts="2026-01-01T00:00:00"))
    store.append(rec(psnr=2.0, ts="2026-01-02T00:00:00"))
    records = store.records("s")
    assert [r.metrics["psnr"] for r in records] == [1.0, 2.0]
    (only,) = latest(records).values()
    assert only.metrics["psnr"] == 2.0


def test_leaderboard_claims_pass_and_fail():
    ok = rec(psnr=28.43, expected={"metrics": {"psnr": 28.42}, "source": "paper"})
    bad = rec(psnr=28.45, scale=3, expected={"metrics": {"psnr": 28.42}, "source": "paper"})
    text = build_leaderboards([ok, bad])["sr.md"]
    rows = [line for line in text.splitlines() if line.startswith("| s ")]
    assert any("| ×4 " in r and "| pass " in r for r in rows)
    assert any("| ×3 " in r and "| FAIL " in r for r in rows)
    assert build_leaderboards([ok, bad]) == build_leaderboards([bad, ok])


def test_leaderboard_shows_only_the_newest_version():
    text = build_leaderboards([rec(psnr=11.11, version=1), rec(psnr=22.22, version=2)])["sr.md"]
    assert "22.22" in text and "11.11" not in text


def test_compare_directions_and_tolerance():
    base = [rec(psnr=30.0)]
    assert {r.status for r in compare_records(base, [rec(psnr=30.01)])} == {"ok"}
    worse = compare_records(base, [rec(psnr=29.9)])
    assert [r.status for r in worse if r.metric == "psnr"] == ["regressed"] and failed(worse)
    better = compare_records(base, [rec(psnr=30.5)])
    assert [r.status for r in better if r.metric == "psnr"] == ["improved"] and not failed(better)
    lower_better = compare_records([rec(psnr=1.0, direction="lower")], [rec(psnr=1.5, direction="lower")])
    assert [r.status for r in lower_better if r.metric == "psnr"] == ["regressed"]
    gone = compare_records(base, [])
    assert {r.status for r in gone} == {"missing"} and failed(gone) and not failed(gone, allow_missing=True)


def test_registry_decorators_suggestions_and_broken_modules():
    reg = Registry("thing", "qsrbench.test-no-such-group", ("json.no_such_submodule_xyz",))

    @reg.register
    class Alpha:
        name = "alpha"

    reg.register("beta")(object())
    assert reg.get("alpha") is Alpha and reg.names() == ["alpha", "beta"]
    with pytest.raises(RegistryError, match="did you mean 'alpha'"):
        reg.get("alpah")
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("alpha")(object())


def test_broken_builtin_module_does_not_break_lookups(tmp_path, monkeypatch):
    (tmp_path / "qsrbench_broken_mod.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("thing", "qsrbench.test-no-such-group", ("qsrbench_broken_mod",))
    reg.register("ok")(object())
    assert reg.get("ok") is not None
    assert "boom" in reg.broken["qsrbench_broken_mod"]


def test_import_qsrbench_imports_no_method(run_cli):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import qsrbench, qsrbench.spec, sys; "
                          "print('reference' in sys.modules, 'reference.bicubic' in sys.modules)"],
                         capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"]


def _q(spec, method, bits, psnr, variant=None, bitops=None, dataset="Set5", board="ptq"):
    return rec(psnr=psnr, spec=spec, dataset=dataset).model_copy(update={
        "method": method, "model": "net", "bits": {"weight": bits, "activation": bits},
        "variant": variant, "leaderboard": board, "bitops": bitops or bits * bits * 1000,
        "protocol": {"domain": "rgb"}})


def test_delta_fp_column_and_plot_points(tmp_path):
    """Δ FP = PSNR minus the same model's FP record (hand-computed: 31.0 - 32.0); the plot takes the
    best variant per bit-width and the FP point, in decreasing BitOps."""
    from qsrbench.plots import plot_links, psnr_vs_bitops_points, write_psnr_vs_bitops

    records = [_q("fp-net", "fp", 32, 32.0, board="fp"),
               _q("ptq-net-w8", "ptq", 8, 31.0, "per-tensor, minmax"),
               _q("ptq-net-w8", "ptq", 8, 31.5, "per-channel, mse"),
               _q("ptq-net-w4", "ptq", 4, 25.25, "per-channel, mse"),
               _q("ptq-other", "ptq", 4, 20.0, "x", dataset="Set14")]
    board = build_leaderboards(records)["ptq.md"]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in board.splitlines()
             if line.startswith("| ptq ")]
    delta = {(row[1], row[2]): row[6] for row in cells}
    assert delta[("ptq-net-w8 v1", "net (per-tensor, minmax)")] == "-1.00"
    assert delta[("ptq-net-w8 v1", "net (per-channel, mse)")] == "-0.50"
    assert delta[("ptq-net-w4 v1", "net (per-channel, mse)")] == "-6.75"
    assert delta[("ptq-other v1", "net (x)")] == "—"  # Set14: no FP record
    pts = psnr_vs_bitops_points(records, "ptq")
    assert pts == {4: {"net": [(32 * 32 * 1000, 32.0, "W32A32"), (64000, 31.5, "W8A8"), (16000, 25.25, "W4A4")]}}
    paths = write_psnr_vs_bitops(records, tmp_path)
    assert [p.name for p in paths] == plot_links(records)["ptq"] == ["ptq_psnr_vs_bitops_x4.png"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
