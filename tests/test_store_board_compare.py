"""Store round trips, leaderboard rules and the compare gate on hand-made records."""

from __future__ import annotations

import pytest

from qsrbench.claims import check_claims
from qsrbench.compare import compare_records, failed
from qsrbench.stats import bootstrap_mean
from qsrbench.boards import build_leaderboards
from qsrbench.registry import Registry
from qsrbench.errors import RegistryError
from qsrbench.store import Record, ResultStore, latest


def claim(psnr, kind="published", **more):
    extra = ({"source": "paper", "table": "Table 1", "read_from": "the paper"} if kind == "published"
             else {"measured_by": "me", "how": "so"})
    return {"kind": kind, "metrics": {"psnr": psnr}, **extra, **more}


def rec(psnr=28.0, ssim=0.8, version=1, ts="2026-01-01T00:00:00", dataset="Set5", scale=4,
        claims=(), direction="higher", spec="s", code="c0", per_image=()):
    return Record(spec=spec, spec_version=version, spec_hash="h", spec_file="f.toml",
                  leaderboard="sr", tier="smoke", method="m", model=None,
                  bits={"weight": 32, "activation": 32}, dataset=dataset, scale=scale,
                  metrics={"psnr": psnr, "ssim": ssim},
                  metric_info={"psnr": {"unit": "dB", "direction": direction, "tolerance": 0.02},
                               "ssim": {"unit": "1", "direction": "higher", "tolerance": 0.002}},
                  claims=[{"dataset": dataset, "scale": scale, **c} for c in claims],
                  per_image=list(per_image), code={"digest": code, "roots": []}, wall_s=1.0,
                  env={"device": "cpu", "torch": "x"}, timestamp=ts)


def test_store_round_trip_and_latest(tmp_path):
    store = ResultStore(tmp_path)
    store.append(rec(psnr=1.0, ts="2026-01-01T00:00:00"))
    store.append(rec(psnr=1.01, ts="2026-01-02T00:00:00"))  # within tolerance: a re-run
    records = store.records("s")
    assert [r.metrics["psnr"] for r in records] == [1.0, 1.01]
    (only,) = latest(records).values()
    assert only.metrics["psnr"] == 1.01


@pytest.mark.parametrize("new", [1.05, 0.95])
def test_store_refuses_to_move_a_result_of_the_same_version(tmp_path, new):
    """Re-recording a key must agree with every earlier record of that version (two-sided);
    the refused record is not written and nothing recorded is lost."""
    from qsrbench.errors import RebaselineError

    store = ResultStore(tmp_path)
    store.append(rec(psnr=1.0, ts="2026-01-01T00:00:00"))
    store.append(rec(psnr=1.015, ts="2026-01-02T00:00:00", code="c1"))  # new code, same result
    with pytest.raises(RebaselineError, match=r"psnr 1\.0000 → .*code c0 → c9.*bump the spec's 'version'"):
        store.append(rec(psnr=new, ts="2026-01-03T00:00:00", code="c9"))
    assert [r.metrics["psnr"] for r in store.records("s")] == [1.0, 1.015]
    store.append(rec(psnr=new, version=2, ts="2026-01-03T00:00:00", code="c9"))  # bumped: fine
    # drift by steps each within tolerance of the last is refused too: 1.0 → 1.015 → 1.03
    with pytest.raises(RebaselineError, match="1.0000 → 1.0300"):
        store.append(rec(psnr=1.03, ts="2026-01-04T00:00:00", code="c1"))


def test_leaderboard_claims_reproduced_and_not():
    ok = rec(psnr=28.43, claims=[claim(28.42)])
    bad = rec(psnr=28.45, scale=3, claims=[claim(28.42, expect="not-reproduced", finding="the weights differ")])
    ref = rec(psnr=30.0, scale=2, claims=[claim(30.0, kind="reference")])
    text = build_leaderboards([ok, bad, ref])["sr.md"]
    published = text.split("## Published claims")[1].split("## Reference measurements")[0]
    rows = [line for line in published.splitlines() if line.startswith("| s ")]
    assert any("| ×4 " in r and "| reproduced " in r for r in rows)
    assert any("| ×3 " in r and "| NOT reproduced " in r for r in rows)
    assert "1 of 2 claimed values reproduced within tolerance, 1 not reproduced" in published
    assert "- s: the weights differ" in published
    reference = text.split("## Reference measurements")[1]
    assert "1 of 1 reference values reproduced" in reference and "| ×2 " in reference
    assert build_leaderboards([ok, bad, ref]) == build_leaderboards([ref, bad, ok])


def test_leaderboard_shows_a_claim_edited_after_the_record():
    """The board compares with the spec's claims now and marks those that changed since."""
    r = rec(psnr=28.43, claims=[claim(28.42)])
    index = {("s", 1): {"claims": {("Set5", 4): [{"dataset": "Set5", "scale": 4, **claim(28.50)}]},
                        "method": "m", "tier": "smoke", "leaderboard": "sr", "history": {}, "roots": ()}}
    text = build_leaderboards([r], index)["sr.md"]
    row = next(line for line in text.split("## Published claims")[1].splitlines() if line.startswith("| s "))
    assert "28.500 † (was 28.420)" in row and "NOT reproduced" in row


def test_claim_interval_is_the_bootstrap_of_the_measurement_minus_the_claim():
    per_image = [{"name": f"i{k}", "psnr": v} for k, v in enumerate([27.0, 28.0, 29.0, 30.0])]
    r = rec(psnr=28.5, per_image=per_image, claims=[claim(28.0)])
    (check,) = [c for c in check_claims(r) if c.metric == "psnr"]
    want = bootstrap_mean([27.0, 28.0, 29.0, 30.0])
    assert check.interval.low == pytest.approx(want.low - 28.0) and check.within_noise
    assert not check.reproduced  # |0.5| > 0.02: a claim can be within noise and not reproduced


def test_leaderboard_shows_only_the_newest_version():
    text = build_leaderboards([rec(psnr=11.11, version=1), rec(psnr=22.22, version=2)])["sr.md"]
    assert "22.22" in text and "11.11" not in text


def test_a_bumped_spec_not_re_recorded_shows_no_old_numbers():
    """The spec file is at v2, the store holds only v1 (made by older code): no v1 number in the
    tables, the history says v1 is superseded and v2 not recorded, with v2's reason."""
    index = {("s", 2): {"claims": {}, "method": "m", "tier": "full", "leaderboard": "sr",
                        "history": {2: "scored in float64"}, "roots": ()},
             ("t", 1): {"claims": {}, "method": "m", "tier": "smoke", "leaderboard": "sr",
                        "history": {}, "roots": ()}}
    text = build_leaderboards([rec(psnr=11.11, version=1), rec(psnr=22.22, spec="t")], index)["sr.md"]
    tables, hist = text.split("## History")
    assert "22.22" in tables and "11.11" not in tables
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line for line in hist.splitlines()
            if line.startswith("| s ")}
    assert "superseded by v2 (not re-recorded)" in rows[("s", "v1")]
    assert "scored in float64" in rows[("s", "v2")] and "not recorded (full tier)" in rows[("s", "v2")]
    without_index = build_leaderboards([rec(psnr=11.11, version=1), rec(psnr=22.22, spec="t")])["sr.md"]
    assert "11.11" in without_index.split("## History")[0]  # no spec files: the newest recorded


def test_compare_directions_and_tolerance():
    base = [rec(psnr=30.0)]
    assert {r.status for r in compare_records(base, [rec(psnr=30.01)])} == {"ok"}
    worse = compare_records(base, [rec(psnr=29.9)])
    assert [r.status for r in worse if r.metric == "psnr"] == ["regressed"] and failed(worse)
    better = compare_records(base, [rec(psnr=30.5)])  # quality metrics are gated on both sides
    assert [r.status for r in better if r.metric == "psnr"] == ["changed"] and failed(better)
    timed = Record.model_validate({**rec(psnr=30.0).model_dump(), "metrics": {"search_s": 100.0}, "metric_info": {
        "search_s": {"unit": "s", "direction": "lower", "tolerance": 5.0, "gate": "one-sided"}}})
    faster = compare_records([timed], [timed.model_copy(update={"metrics": {"search_s": 50.0}})])
    assert [r.status for r in faster] == ["improved"] and not failed(faster)
    slower = compare_records([timed], [timed.model_copy(update={"metrics": {"search_s": 150.0}})])
    assert [r.status for r in slower] == ["regressed"] and failed(slower)
    stale = compare_records(base, [rec(psnr=30.0, code="c1")])
    assert {r.code for r in stale} == {"stale"} and not failed(stale)
    assert {r.code for r in compare_records(base, [rec(psnr=30.0)])} == {"same"}
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


def _q(spec, method, bits, psnr, variant=None, bitops=None, dataset="Set5", board="ptq",
       sha="w1", spread=(0.0, 0.0)):
    per_image = [{"name": "a", "psnr": psnr + spread[0]}, {"name": "b", "psnr": psnr + spread[1]}]
    return rec(psnr=psnr, spec=spec, dataset=dataset, per_image=per_image).model_copy(update={
        "method": method, "model": "net", "bits": {"weight": bits, "activation": bits},
        "variant": variant, "leaderboard": board, "bitops": bitops or bits * bits * 1000,
        "protocol": {"domain": "rgb"}, "checkpoint_sha256": sha})


def test_delta_fp_column_and_plot_points(tmp_path):
    """Δ FP = PSNR minus the FP record of the same checkpoint digest (hand-computed: 31.0 - 32.0),
    with the paired interval (a constant per-image difference has zero width); the plot takes the
    best variant per bit-width and the FP point, in decreasing BitOps."""
    from qsrbench.plots import plot_links, psnr_vs_bitops_points, write_psnr_vs_bitops

    records = [_q("fp-net", "fp", 32, 32.0, board="fp", spread=(-1.0, 1.0)),
               _q("ptq-net-w8", "ptq", 8, 31.0, "per-tensor, minmax", spread=(-1.0, 1.0)),
               _q("ptq-net-w8", "ptq", 8, 31.5, "per-channel, mse", spread=(-1.5, 1.5)),
               _q("ptq-net-w4", "ptq", 4, 25.25, "per-channel, mse", spread=(-1.0, 1.0)),
               _q("ptq-other", "ptq", 4, 20.0, "x", dataset="Set14"),
               _q("ptq-renamed", "ptq", 4, 20.0, "x", sha="w2")]  # same name, other weights
    board = build_leaderboards(records)["ptq.md"]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in board.splitlines()
             if line.startswith("| ptq ")]
    delta = {(row[1], row[2]): row[6] for row in cells}
    assert delta[("ptq-net-w8 v1", "net (per-tensor, minmax)")] == "-1.00 [-1.00, -1.00]"
    # differences -0.5 - 0.5 = -1.0 and -0.5 + 0.5 = 0.0 per image: mean -0.5, interval [-1, 0] ∋ 0
    assert delta[("ptq-net-w8 v1", "net (per-channel, mse)")] == "-0.50 [-1.00, +0.00] ≈"
    assert delta[("ptq-net-w4 v1", "net (per-channel, mse)")] == "-6.75 [-6.75, -6.75]"
    assert delta[("ptq-other v1", "net (x)")] == "—"  # Set14: no FP record
    assert delta[("ptq-renamed v1", "net (x)")] == "—"  # an FP record of other weights is no reference
    pts = psnr_vs_bitops_points(records, "ptq")
    assert pts == {4: {"net": [(32 * 32 * 1000, 32.0, "W32A32"), (64000, 31.5, "W8A8"), (16000, 25.25, "W4A4")]}}
    paths = write_psnr_vs_bitops(records, tmp_path)
    assert [p.name for p in paths] == plot_links(records)["ptq"] == ["ptq_psnr_vs_bitops_x4.png"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"


def test_training_section_compares_with_the_best_ptq_of_the_same_weights_and_bits():
    """Δ best PTQ: the trained record minus the best PTQ variant of the same checkpoint, bits,
    set and scale (hand-computed 27.0 - 25.5 = +1.5, constant per image: zero-width interval);
    a PTQ record of other bits or other weights is no reference; untrained rows get no row."""
    train = {"iterations": 100, "batch": 16, "patch": 96, "sets": ["T91", "BSD200"],
             "train_s": 150.0, "it_per_s": 0.6667, "threads": 2, "resumed_at": None}
    qat = _q("pams-net-w4", "pams", 4, 27.0, board="qat_sr").model_copy(
        update={"extra": {"train": train, "size": {"parameters": 10, "bits": 2**23, "ratio": 3.5}}})
    records = [qat, _q("fp-net", "fp", 32, 32.0, board="fp"),
               _q("ptq-net-w4", "ptq", 4, 25.5, "per-channel, mse"),
               _q("ptq-net-w4", "ptq", 4, 25.0, "per-tensor, minmax"),
               _q("ptq-net-w8", "ptq", 8, 26.9, "per-channel, mse"),
               _q("ptq-renamed", "ptq", 4, 26.99, "x", sha="w2")]
    boards = build_leaderboards(records)
    assert "## Training runs" not in boards["ptq.md"]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in boards["qat_sr.md"].splitlines()
            if line.startswith("| pams ") and "100" in line]
    assert len(rows) == 1
    row = rows[0]
    assert row[6] == "+1.50 [+1.50, +1.50] (ptq per-channel, mse)"
    assert row[7:] == ["100", "16 × 96²", "T91 + BSD200", "2.5 min", "0.67", "2", "1.000", "3.50×"]
    from qsrbench.plots import psnr_vs_bitops_points

    fp = (32 * 32 * 1000, 32.0, "W32A32")
    assert psnr_vs_bitops_points(records, "qat_sr") == {4: {
        "net PTQ": [fp, (64000, 26.9, "W8A8"), (16000, 25.5, "W4A4")],
        "net pams": [fp, (16000, 27.0, "W4A4")]}}


def test_goals_judge_the_measured_delta_and_say_what_is_not_measured():
    """8 bits: Δ FP >= -0.05 dB on Set5 (hand: 31.96 - 32.00 = -0.04 met; 31.94 - 32.00 = -0.06
    missed); 4 bits: Δ best PTQ >= +0.5 dB on Set5 and Urban100 (hand: 26.2 - 25.5 = +0.7 met; no
    Urban100 record: not measured)."""
    train = {"iterations": 1, "batch": 1, "patch": 8, "sets": ["T91"], "train_s": 1.0,
             "it_per_s": 1.0, "threads": 2, "resumed_at": None}

    def trained_rec(spec, bits, psnr):
        return _q(spec, "m", bits, psnr, board="qat_sr").model_copy(update={"extra": {"train": train}})

    records = [trained_rec("a-w8", 8, 31.96), trained_rec("b-w8", 8, 31.94), trained_rec("c-w4", 4, 26.2),
               _q("fp-net", "fp", 32, 32.0, board="fp"), _q("ptq-net-w4", "ptq", 4, 25.5, "per-channel, mse")]
    page = build_leaderboards(records)["qat_sr.md"]
    goals = page.split("### Goals")[1].split("## ")[0]
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): [c.strip() for c in line.split("|")[3:-1]]
            for line in goals.splitlines() if line.startswith("| ") and "Spec" not in line and "---" not in line}
    assert rows[("a-w8", "Set5 ×4")] == ["Δ FP ≥ -0.05 dB", "-0.04 [-0.04, -0.04]", "met"]
    assert rows[("b-w8", "Set5 ×4")][2] == "missed"
    assert rows[("c-w4", "Set5 ×4")] == ["Δ best PTQ ≥ +0.50 dB", "+0.70 [+0.70, +0.70]", "met"]
    assert rows[("c-w4", "Urban100")][2] == "not measured (no record on this set)"


def _trained(spec, method, bits, psnr, variant=None, spread=(0.0, 0.0), tier="small"):
    train = {"iterations": 1, "batch": 1, "patch": 8, "sets": ["T91"], "train_s": 1.0,
             "it_per_s": 1.0, "threads": 2, "resumed_at": None}
    return _q(spec, method, bits, psnr, variant, board="qat_sr", spread=spread).model_copy(
        update={"extra": {"train": train}, "tier": tier})


def test_goals_judge_each_trained_variant_of_a_spec_on_its_own():
    """A spec that trains several variants (a search and a fixed baseline) gets one goal row per
    variant: hand, 25.7 - 25.5 = +0.2 missed, 26.2 - 25.5 = +0.7 met (not whichever came first)."""
    records = [_trained("d-w4", "m", 4, 25.7, "search"), _trained("d-w4", "m", 4, 26.2, "fixed"),
               _q("ptq-net-w4", "ptq", 4, 25.5, "per-channel, mse")]
    goals = build_leaderboards(records)["qat_sr.md"].split("### Goals")[1].split("## ")[0]
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): [c.strip() for c in line.split("|")[3:-1]]
            for line in goals.splitlines() if line.startswith("| d-w4")}
    assert rows[("d-w4 (search)", "Set5 ×4")] == ["Δ best PTQ ≥ +0.50 dB", "+0.20 [+0.20, +0.20]", "missed"]
    assert rows[("d-w4 (fixed)", "Set5 ×4")] == ["Δ best PTQ ≥ +0.50 dB", "+0.70 [+0.70, +0.70]", "met"]
    assert len(rows) == 4  # Set5 and Urban100 per variant


def test_ablation_rows_pair_a_spec_with_its_name_prefix_of_the_same_family():
    """``q-net-w4-nocalib`` ablates ``q-net-w4`` (same board, tier, method, model, bits): Δ by
    hand 25.6 - 26.0 = -0.40 per image (zero-width interval); a ``-smoke`` spec of another tier
    and a same-prefix spec of other bits are not ablations; the changes column lists the method
    parameters that differ, nested keys dotted."""
    from qsrbench.ablation_board import ablation_bases, ablation_section, changed_params

    records = [_trained("q-net-w4", "fqsr", 4, 26.0, spread=(-1.0, 1.0)),
               _trained("q-net-w4-nocalib", "fqsr", 4, 25.6, spread=(-1.0, 1.0)),
               _trained("q-net-w4-smoke", "fqsr", 4, 20.0, tier="smoke"),
               _trained("q-net-w4-wide", "fqsr", 8, 30.0)]
    assert ablation_bases(records) == {"q-net-w4-nocalib": "q-net-w4"}
    # a grand-child whose parent spec exists but has no current records pairs with nothing
    child = _trained("q-net-w4-nocalib-x", "fqsr", 4, 25.0)
    assert ablation_bases([*records[:1], child], names={"q-net-w4-nocalib"}) == {}
    assert ablation_bases([*records[:1], child]) == {"q-net-w4-nocalib-x": "q-net-w4"}
    index = {("q-net-w4", 1): {"params": {"name": "fqsr", "calibration_weight": 0.3, "train": {"lr": 1e-4}}},
             ("q-net-w4-nocalib", 1): {"params": {"name": "fqsr", "calibration_weight": 0.0, "train": {"lr": 1e-4}}}}
    lines = "\n".join(ablation_section(records, index)).splitlines()
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in lines if line.startswith("| q-net")]
    assert rows == [["q-net-w4-nocalib v1", "q-net-w4 v1", "calibration_weight: 0.3 → 0.0", "Set5 ×4",
                     "25.60", "26.00", "-0.40 [-0.40, -0.40]"]]
    assert changed_params({"train": {"lr": 1}}, {"train": {"lr": 2}, "x": True}) == "train.lr: 1 → 2; x: — → true"
    assert changed_params(None, {"x": 1}) == "—"
    page = build_leaderboards(records)["qat_sr.md"]
    assert "## Ablations" in page and "| q-net-w4-smoke" not in page.split("## Ablations")[1].split("## ")[0]


def test_mixed_precision_ptq_is_no_uniform_reference_and_plots_as_its_own_line():
    """A mixed-precision PTQ record (base bits 4/4, ``extra.mixed_precision``) is neither the best
    W4A4 PTQ a 4-bit QAT run is judged against (hand: 27.0 - 25.5 = +1.5, not 27.0 - 28.0) nor
    the PTQ page's W4A4 point: it is a point of its own "<model> mixed" line, labelled by mean bits."""
    from qsrbench.plots import psnr_vs_bitops_points

    mixed = _q("ptq-mixed-net-w4", "ptq-mixed", 4, 28.0, "budget 0.1", bitops=20000).model_copy(
        update={"extra": {"mixed_precision": {"mean_bits": 5.25, "layers": {}}}})
    records = [_trained("pams-net-w4", "pams", 4, 27.0), mixed, _q("ptq-net-w4", "ptq", 4, 25.5, "per-channel, mse"),
               _q("fp-net", "fp", 32, 32.0, board="fp")]
    goals = build_leaderboards(records)["qat_sr.md"].split("### Goals")[1]
    assert "| +1.50 [+1.50, +1.50] | met" in goals.replace("  ", " ").replace("  ", " ")
    points = psnr_vs_bitops_points(records, "ptq")[4]
    assert points["net"] == [(32 * 32 * 1000, 32.0, "W32A32"), (16000, 25.5, "W4A4")]
    assert points["net mixed"] == [(32 * 32 * 1000, 32.0, "W32A32"), (20000, 28.0, "mean 5.2 b")]


def test_published_claims_without_a_record_are_listed_as_not_run():
    """A page lists the published claims of its spec files that have no current record, with the
    spec's tier: by hand, q-full's Set14 PSNR / SSIM claim (not run), not p's (it has a record and
    its claim is judged in the claims table), not a reference claim, not another page's spec."""
    published = {"kind": "published", "dataset": "Set14", "scale": 4, "metrics": {"psnr": 28.585, "ssim": 0.7811},
                 "source": "Li et al., PAMS, ECCV 2020", "table": "README table", "read_from": "the README"}
    reference = {**published, "kind": "reference", "measured_by": "us", "how": "a run"}

    def info(board, tier, *claims):
        return {"claims": {("Set14", 4): list(claims)}, "method": "pams", "tier": tier, "leaderboard": board,
                "history": {}, "roots": [], "params": {}}

    index = {("q-full", 1): info("qat_sr", "full", published), ("p", 1): info("qat_sr", "small", published),
             ("r-full", 1): info("qat_sr", "full", reference), ("s-full", 1): info("sr", "full", published)}
    page = build_leaderboards([_trained("p", "pams", 8, 28.0)], index)["qat_sr.md"]
    section = page.split("## Published claims not run here")[1].split("\n## ")[0]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines() if line.startswith("| q")]
    assert rows == [["q-full v1", "Set14", "×4", "psnr", "28.585", "not run (full tier)", "[1]"],
                    ["q-full v1", "Set14", "×4", "ssim", "0.7811", "not run (full tier)", "[1]"]]
    assert "| p v1" not in section and "r-full" not in section and "s-full" not in section
    assert "1. Li et al., PAMS, ECCV 2020; README table; read from the README" in section
