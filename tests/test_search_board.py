"""The searched-network sections and the PSNR-BitOps front, on hand-made records."""

from __future__ import annotations

from qsrbench.pareto import dominance_rows, dominance_section, front, pareto_links, pareto_points, pareto_section
from qsrbench.search_board import search_sections
from qsrbench.store import Record

ARCH = {"head1": {"op": "conv3x3", "bits": 8}, "tail2": {"op": "conv1x1", "bits": 4}}


def _rec(spec, psnr, bitops, *, variant=None, model=None, bits=(32, 32), search=None, tier="small",
         board="b", method="m", sha="w"):
    extra = {}
    if search is not None:
        extra = {"search": {"mode": variant, "baseline_mode": "direct", "architecture": ARCH, "search_s": search,
                            "iterations": 10, "s_per_iteration": search / 10, "device": "cpu", "threads": 2},
                 "mixed_precision": {"mean_bits": 6.0, "layers": {"a": 8, "b": 4}}}
    return Record(spec=spec, spec_version=1, spec_hash="h", spec_file="f.toml", leaderboard=board, tier=tier,
                  method=method, model=model, bits={"weight": bits[0], "activation": bits[1]}, dataset="Set5",
                  scale=4, variant=variant, metrics={"psnr": psnr},
                  metric_info={"psnr": {"unit": "dB", "direction": "higher", "tolerance": 0.01}},
                  bitops=bitops, wall_s=1.0, env={"device": "cpu"}, timestamp="2026-01-01T00:00:00",
                  checkpoint_sha256=None if search is not None else sha, extra=extra)


RECORDS = [
    _rec("qn", 30.0, 400, variant="noise", search=70.0, board="q", method="quantnas"),
    _rec("qn", 29.0, 500, variant="direct", search=100.0, board="q", method="quantnas"),
    _rec("qn-smoke", 8.0, 10, variant="noise", search=1.0, board="qs", method="quantnas", tier="smoke"),
    _rec("ptq-a", 31.0, 1000, model="imdn", bits=(8, 8), board="ptq", method="ptq"),
    _rec("ptq-a", 29.5, 300, model="imdn", bits=(4, 4), board="ptq", method="ptq"),
    _rec("ptq-b", 29.4, 300, model="imdn", bits=(4, 4), board="ptq", method="ptq"),  # worse variant: not a point
    _rec("fp-a", 31.5, 32000, model="imdn", board="fp", method="fp"),
]


def test_front_by_hand():
    points = pareto_points(RECORDS)
    assert len(points) == 5  # 2 searched (smoke left out) + imdn FP, W8A8, best W4A4
    on = front(points)
    # (300, 29.5) (400, 30.0) (1000, 31.0) (32000, 31.5) are non-dominated; (500, 29.0) is dominated by (400, 30.0)
    assert [(p.bitops, p.psnr) for p in on] == [(300, 29.5), (400, 30.0), (1000, 31.0), (32000, 31.5)]
    assert {p.series for p in points if p.kind == "fixed"} == {"imdn FP", "imdn ptq"}


def test_front_is_linked_only_from_pages_with_searched_records_beyond_smoke():
    assert pareto_links(RECORDS) == {"q": ["search_pareto_Set5_x4.png"]}
    lines = "\n".join(pareto_section(RECORDS)).splitlines()
    assert lines[0] == "## PSNR-BitOps front, Set5 ×4"
    assert sum("| yes" in line for line in lines) == 4


def test_search_sections_show_choices_and_the_time_ratio():
    text = "\n".join(search_sections(RECORDS[:2]))
    lines = text.splitlines()
    assert "conv3x3 @ 8" in text and "conv1x1 @ 4" in text and "mixed, mean 6.00" in text
    (ratio_row,) = [line for line in lines if line.startswith("| qn v1") and "| noise " in line and "direct" in line]
    assert "0.700" in ratio_row  # 7.0 s / 10 it against 10.0 s / 10 it
    assert search_sections(RECORDS[3:]) == []


def test_each_space_has_its_own_choice_table_and_a_wide_one_is_transposed():
    wide = {f"cell1_body{j}": {"op": "conv5x5", "bits": 4} for j in range(1, 12)}
    other = _rec("qr", 28.0, 200, variant="noise", search=50.0, board="q", method="quantnas")
    other.extra["search"]["architecture"] = wide
    text = "\n".join(search_sections([*RECORDS[:2], other]))
    choices = text.split("### Per-layer choices")[1].split("###")[0].splitlines()
    heads = [line for line in choices if line.startswith("| Spec ") or line.startswith("| Position ")]
    assert len(heads) == 2  # the narrow space and the wide one, apart
    assert [c.strip() for c in heads[0].split("|")[1:-1]] == ["Spec", "Scale", "Mode", "head1", "tail2"]
    assert [c.strip() for c in heads[1].split("|")[1:-1]] == ["Position", "qr v1 ×4 noise"]
    lines = text.splitlines()
    rows = [line for line in lines if line.startswith("| cell1_body")]
    assert len(rows) == 11 and all("conv5x5 @ 4" in row for row in rows)


def _strategy_rec(variant, per_image, counts=None):
    r = _rec("dq", sum(per_image) / len(per_image), 100, variant=variant, model="imdn", bits=(4, 4), board="dqss",
             method="dqss")
    extra = {"strategies": {"variant": variant, "layers": {"a": {"activation": "mse", "weight": "lsq"}},
                            "counts": counts or {}}}
    return r.model_copy(update={"extra": extra, "per_image": [{"name": f"i{k}", "psnr": v}
                                                              for k, v in enumerate(per_image)]})


def test_strategy_section_compares_with_the_best_fixed_pair_by_hand():
    from qsrbench.strategy_board import strategy_sections

    recs = [_strategy_rec("search", [30.0, 31.0, 32.0], {"mse/lsq": 30, "lsq/lsq": 14}),
            _strategy_rec("fixed mse/mse", [29.5, 30.0, 31.5]),  # best fixed: mean 30.33
            _strategy_rec("fixed minmax/minmax", [25.0, 26.0, 27.0])]
    lines = "\n".join(strategy_sections(recs)).splitlines()
    (row,) = [line for line in lines if line.startswith("| dq v1")]
    # paired differences 0.5, 1.0, 0.5: mean +0.67
    assert "30.33 (fixed mse/mse)" in row and "+0.67" in row and "mse/lsq ×30, lsq/lsq ×14" in row
    assert "| met " in row  # +0.67 >= 0.1, the interval [0.5, 1.0] excludes 0
    assert strategy_sections(recs[1:]) == []  # no searched variant: no row
    close = [_strategy_rec("search", [30.0, 31.0, 32.05]), _strategy_rec("fixed mse/mse", [30.0, 31.0, 32.0])]
    (row,) = [line for line in "\n".join(strategy_sections(close)).splitlines() if line.startswith("| dq v1")]
    assert "| not met " in row  # +0.02 < 0.1


def _on(r: Record, dataset: str, per_image: list[float]) -> Record:
    return r.model_copy(update={"dataset": dataset, "metrics": {"psnr": sum(per_image) / len(per_image)},
                                "per_image": [{"name": f"{dataset}{k}", "psnr": v} for k, v in enumerate(per_image)]})


def test_dominance_over_uniform_4bit_by_hand():
    searched = _rec("qn", 0.0, 400, variant="noise", search=70.0, board="q", method="quantnas")
    cheap = _rec("ptq-c", 0.0, 300, model="carn-m", bits=(4, 4), board="ptq", method="ptq")
    beaten = _rec("ptq-i", 0.0, 1000, model="imdn", bits=(4, 4), board="ptq", method="ptq")
    better = _rec("ptq-p", 0.0, 2000, model="pan", bits=(4, 4), board="ptq", method="ptq")
    no_urban = _rec("ptq-r", 0.0, 900, model="rfdn", bits=(4, 4), board="ptq", method="ptq")
    close = _rec("ptq-l", 0.0, 800, model="latticenet", bits=(4, 4), board="ptq", method="ptq")
    w8 = _rec("ptq-i8", 0.0, 3000, model="imdn", bits=(8, 8), board="ptq", method="ptq")  # not 4-bit: no row
    records = [_on(searched, "Set5", [30, 31]), _on(searched, "Urban100", [25, 26]),
               _on(cheap, "Set5", [20, 21]), _on(cheap, "Urban100", [20, 20]),          # fewer BitOps: no
               _on(beaten, "Set5", [29, 30]), _on(beaten, "Urban100", [24, 25.5]),     # +1.0 and +0.75: yes
               _on(better, "Set5", [29, 30]), _on(better, "Urban100", [26, 26]),       # Urban100 -0.5: no
               _on(close, "Set5", [29, 30]), _on(close, "Urban100", [25.5, 25]),      # -0.5, +1.0: ≈
               _on(no_urban, "Set5", [29, 30]), _on(w8, "Set5", [32, 33])]             # undecided
    rows = {r[1]: r for r in dominance_rows(records)}
    assert set(rows) == {"carn-m ptq", "imdn ptq", "latticenet ptq", "pan ptq", "rfdn ptq"}
    assert rows["imdn ptq"][3] == "0.400" and rows["imdn ptq"][4].startswith("+1.00 [")
    assert rows["imdn ptq"][5].startswith("+0.75 [") and rows["imdn ptq"][-1] == "yes"
    assert rows["carn-m ptq"][-1] == "no" and rows["pan ptq"][-1] == "no"
    assert rows["rfdn ptq"][5] == "—" and rows["rfdn ptq"][-1] == "undecided: Urban100 not measured"
    # Urban100 paired differences -0.5 and +1.0: mean +0.25, the bootstrap interval [-0.5, 1.0] holds 0
    assert rows["latticenet ptq"][5].startswith("+0.25 [") and rows["latticenet ptq"][5].endswith("≈")
    assert rows["latticenet ptq"][-1] == "within noise"
    assert "**Goal: met.**" in "\n".join(dominance_section(records))
    decided = [r for r in records if r.model not in ("imdn", "rfdn")]  # no yes, none undecided: ≈ is not a win
    assert "**Goal: not met.**" in "\n".join(dominance_section(decided))
    # another space's network, same method and variant, without its own Urban100 record: no borrowed twin
    other = _on(_rec("qr", 0.0, 500, variant="noise", search=50.0, board="q", method="quantnas"), "Set5", [30, 31])
    (row,) = [r for r in dominance_rows([*records, other]) if r[0] == "qr (noise)" and r[1] == "imdn ptq"]
    assert row[5] == "—" and row[-1] == "undecided: Urban100 not measured"
    assert "**Goal: not met.**" in "\n".join(dominance_section([r for r in records if r.model != "imdn"][:6]))


def test_mixed_precision_allocations_of_a_fixed_model_are_points_of_their_own_not_uniform_rows():
    """Two allocations of one model (spec bits 4/4, ``extra.mixed_precision``) are two fixed
    points labelled by their mean bits, beside the best uniform W4A4 one; the dominance table,
    which is about uniform 4-bit models, leaves them out."""
    def mixed(psnr, bitops, mean, variant):
        r = _rec("ptq-mixed-i", psnr, bitops, model="imdn", bits=(4, 4), board="ptq", method="ptq-mixed",
                 variant=variant)
        return r.model_copy(update={"extra": {"mixed_precision": {"mean_bits": mean, "layers": {}}}})

    records = [*RECORDS, mixed(29.9, 320, 5.2, "budget 0.1"), mixed(30.5, 350, 6.1, "budget 0.25")]
    fixed = {(p.series, p.label): p.psnr for p in pareto_points(records) if p.kind == "fixed"}
    assert fixed[("imdn ptq-mixed", "mixed, mean 5.20")] == 29.9
    assert fixed[("imdn ptq-mixed", "mixed, mean 6.10")] == 30.5
    assert fixed[("imdn ptq", "W4A4")] == 29.5
    assert {row[1] for row in dominance_rows(records)} == {"imdn ptq"}
