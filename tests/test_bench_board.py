"""Side-by-side timing sections (qsrbench.bench_board) and the method page they make.

Hand values: subject 2 s and 4 s, reference 10 s and 10.5 s → ratio of means 3 / 10.25 = 0.293;
log-scale standard error sqrt((2/(2·9)) + (0.125/(2·105.0625))) = 0.3342 (variances 2 and
0.125 over n · mean²), Welch df = 1.0107, t(0.975, df) = 12.39 → 0.293 · exp(∓12.39 · 0.3342) =
[0.005, 18.416], which contains 0.6: the claim is not decided. A second run with four tight rounds decides it.
"""

from __future__ import annotations

import json

import pytest

from qsrbench.bench_board import claim_verdict, load_benchmarks, timing_sections
from qsrbench.boards import build_leaderboards
from qsrbench.errors import DataError
from qsrbench.latency_board import latency_plots, latency_sections
from qsrbench.nas_board import is_variant

from .test_nas_method import rec


def _write(folder, name, subject_s, reference_s, board="bnas", claim=True):
    info = {"board": board, "threads": 2,
            "compare": {"labels": ["bnas", "pc-darts"], "what": "Whole searches, same budget.",
                        "seconds": {"bnas": subject_s, "pc-darts": reference_s}}}
    if claim:
        info["claim"] = {"max_ratio": 0.6, "text": "40 % faster", "source": "the abstract"}
    data = {"machine_info": {"cpu": {"brand_raw": "Test CPU"}}, "commit_info": {"id": "abcdef123"},
            "datetime": "2026-12-03T00:00:00", "benchmarks": [{"name": "test_speed", "extra_info": info},
                                                             {"name": "unrelated", "extra_info": {}}]}
    (folder / name).write_text(json.dumps(data))


def test_claim_verdicts_by_hand():
    assert claim_verdict(0.2, 0.6, 0.6) == "met"
    assert claim_verdict(0.61, 0.9, 0.6) == "not met"
    assert claim_verdict(0.5, 0.7, 0.6).startswith("not decided")


def test_sections_recompute_the_ratio_and_judge_the_claim(tmp_path):
    _write(tmp_path, "a.json", [2.0, 4.0], [10.0, 10.5])
    benches = load_benchmarks(tmp_path)
    assert len(benches) == 1 and benches[0]["file"] == "a.json"  # the benchmark without a board is left out
    text = "\n".join(timing_sections(benches, "bnas"))
    assert "**0.293** [0.005, 18.416] (95% interval over 2 rounds)" in text
    assert "| 1       | 2.00       | 10.00          |" in text and "| 2       | 4.00       | 10.50          |" in text
    assert "**not decided" in text and "Test CPU, 2 threads, commit abcdef1" in text
    assert timing_sections(benches, "other") == []

    _write(tmp_path, "a.json", [3.0, 3.1, 2.9, 3.0], [10.0, 10.2, 9.8, 10.0])
    assert "**met**" in "\n".join(timing_sections(load_benchmarks(tmp_path), "bnas"))
    _write(tmp_path, "a.json", [8.0, 8.1, 7.9, 8.0], [10.0, 10.2, 9.8, 10.0])
    assert "**not met**" in "\n".join(timing_sections(load_benchmarks(tmp_path), "bnas"))


def test_method_page_has_the_timing_rows_twins_and_claims(tmp_path):
    _write(tmp_path, "a.json", [3.0, 3.1, 2.9, 3.0], [10.0, 10.2, 9.8, 10.0])
    records = [rec("darts", 90.0, 100.0), rec("bnas", 80.0, 30.0, seed=0), rec("bnas", 82.0, 34.0, seed=1)]
    records[1] = records[1].model_copy(update={"extra": {**records[1].extra, "fp_twin": {"top1": 85.0}}})
    index = {("bnas-full", 1): {"leaderboard": "nas_cifar10", "method": "bnas", "claims": {"CIFAR-10": [
        {"kind": "published", "metrics": {"error": 3.47}, "source": "AAAI 2020", "table": "abstract",
         "read_from": "the proceedings text"}]}}}
    boards = build_leaderboards(records, index, benchmarks=load_benchmarks(tmp_path))
    page = boards["bnas.md"]
    assert page.startswith("# bnas leaderboard")
    assert "## Timed side by side" in page and "**met**" in page
    runs = page.split("## Recorded runs")[1].split("\n## ")[0]
    rows = [line for line in runs.splitlines() if line.startswith("| bnas")]
    assert len(rows) == 1 and "| 81.00 ± 1.41 " in rows[0] and "| 0.320 " in rows[0]  # 32 s / DARTS's 100 s
    assert "full-precision twins" in page and "| 3.47 " in page and "AAAI 2020" in page
    assert "darts-small" not in runs
    assert "bnas-small" in boards["nas_cifar10.md"]  # the group's page keeps every row


def test_timing_joins_an_existing_group_page(tmp_path):
    _write(tmp_path, "a.json", [3.0, 3.1], [10.0, 10.2], board="nas_cifar10", claim=False)
    page = build_leaderboards([rec("darts", 90.0, 100.0)], benchmarks=load_benchmarks(tmp_path))["nas_cifar10.md"]
    assert "## Timed side by side" in page and "Claim:" not in page


@pytest.mark.parametrize("content,what", [
    ("{not json", "not a pytest-benchmark JSON file"),
    (json.dumps({"benchmarks": [{"extra_info": {"board": "b", "compare": {"labels": ["a"]}}}]}), "two 'labels'"),
    (json.dumps({"benchmarks": [{"extra_info": {"board": "b", "compare": {
        "labels": ["a", "b"], "seconds": {"a": [1.0], "b": [0.0]}}}}]}), "seconds.b must be positive"),
])
def test_malformed_benchmark_files_are_one_line_errors(tmp_path, content, what):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(DataError) as exc:
        load_benchmarks(tmp_path)
    assert what in str(exc.value) and "bad.json" in str(exc.value) and "\n" not in str(exc.value)


def _latency_file(folder, rows, skipped=()):
    info = {"board": "latency", "threads": 2,
            "latency_table": {"rows": rows, "what": "Whole models.", "skipped": list(skipped)}}
    data = {"machine_info": {"cpu": {"brand_raw": "Test CPU"}}, "commit_info": {"id": "abcdef123"},
            "datetime": "2026-12-03T00:00:00", "benchmarks": [{"name": "test_latency", "extra_info": info}]}
    (folder / "lat.json").write_text(json.dumps(data))


def test_latency_table_by_hand(tmp_path):
    """Three models, two backends; medians 0.2/0.4/0.8 s (fp32) and 0.1/0.5/0.3 s (int8). fp32
    BitOps rank like the latencies (ρ = 1); int8 BitOps 10, 20, 30 against 0.1, 0.5, 0.3 s rank
    (1, 2, 3) against (1, 3, 2): ρ = 1 - 6·(0 + 1 + 1) / (3·8) = 0.5. Model a: BitOps predicts
    1000 / 10 = 100x, measured 0.2 / 0.1 = 2x."""
    rows = []
    for m, fp_s, int_s, bitops in (("a", 0.2, 0.1, 10), ("b", 0.4, 0.5, 20), ("c", 0.8, 0.3, 30)):
        rows += [{"model": m, "scale": 4, "backend": "fp32 eager", "macs": bitops, "bitops": 100 * bitops,
                  "seconds": [fp_s * 0.9, fp_s, fp_s * 1.1]},
                 {"model": m, "scale": 4, "backend": "int8", "macs": bitops, "bitops": bitops,
                  "seconds": [int_s, int_s, int_s]}]
    _latency_file(tmp_path, rows)
    page = build_leaderboards([], benchmarks=load_benchmarks(tmp_path))["latency.md"]
    assert "ρ(BitOps, median latency) = **1.00**" in page.split("within fp32 eager")[1].split("\n")[0]
    assert "= **0.50**" in page.split("within int8")[1].split("\n")[0]
    line = next(l for l in page.splitlines() if l.startswith("| a ") and "int8" in l)
    assert "| 100.0x " in line and "| 2.00x " in line and "| 100 " in line  # median 100 ms
    fp_line = next(l for l in page.splitlines() if l.startswith("| a ") and "fp32" in l)
    assert "| 200 " in fp_line and "| 20 " in fp_line  # median 200 ms, IQR 20 ms
    assert "![latency_vs_bitops.png](latency_vs_bitops.png)" in page
    png = latency_plots(load_benchmarks(tmp_path))
    assert list(png) == ["latency_vs_bitops.png"] and png["latency_vs_bitops.png"].startswith(b"\x89PNG")
    assert png == latency_plots(load_benchmarks(tmp_path))  # deterministic bytes (leaderboard --check)


def test_latency_table_with_a_compiled_reference_by_hand(tmp_path):
    """Medians: fp32 eager 300 ms, fp32 compiled 150 ms, int8 100 ms → int8 is 3.00x eager and
    1.50x compiled; compiled 2.00x eager, eager 0.50x compiled, none to itself; a table without a compiled
    row has no such column (the test above)."""
    rows = [{"model": "a", "scale": 4, "backend": b, "macs": 10, "bitops": bits, "seconds": [s, s, s]}
            for b, bits, s in (("fp32 eager", 10240, 0.3), ("fp32 compiled", 10240, 0.15), ("int8", 640, 0.1))]
    _latency_file(tmp_path, rows, [{"model": "a", "scale": 4, "backend": "int8 x", "reason": "ValueError: no"}])
    page = build_leaderboards([], benchmarks=load_benchmarks(tmp_path))["latency.md"]
    assert "| measured vs fp32 compiled" in page
    cells = {}
    for line in page.splitlines():
        parts = [c.strip() for c in line.split("|")[1:-1]]
        if parts and parts[0] == "a":
            cells[parts[2]] = parts[-3:]  # BitOps predicts, measured vs eager, measured vs compiled
    assert cells["int8"] == ["16.0x", "3.00x", "1.50x"]
    assert cells["fp32 compiled"] == ["1.0x", "2.00x", "—"]
    assert cells["fp32 eager"] == ["—", "—", "0.50x"]
    assert "- Not timed: a ×4 on int8 x: ValueError: no" in page


def test_latency_rows_read_their_set5_psnr_from_the_named_records(tmp_path):
    """A row's PSNR is the Set5 record of the spec it names at its scale: fp32 eager names fp-a
    (records at x2 = 30.0 and x4 = 28.5: the x4 one is read), int8 names int-a (no record), int8 tao
    names tao-a (two records at x4: no single PSNR), fp32 compiled names none. Other sets and other
    specs' records are not read."""
    from types import SimpleNamespace as R

    rows = [{"model": "a", "scale": 4, "backend": b, "macs": 10, "bitops": bits, "seconds": [s, s], "scored_by": by}
            for b, bits, s, by in (("fp32 eager", 1000, 0.3, "fp-a"), ("fp32 compiled", 1000, 0.2, None),
                                   ("int8", 100, 0.1, "int-a"), ("int8 tao", 100, 0.05, "tao-a"))]
    _latency_file(tmp_path, rows)
    records = [R(spec="fp-a", scale=2, dataset="Set5", metrics={"psnr": 30.0}),
               R(spec="fp-a", scale=4, dataset="Set5", metrics={"psnr": 28.5}),
               R(spec="fp-a", scale=4, dataset="Set14", metrics={"psnr": 26.0}),
               R(spec="int-b", scale=4, dataset="Set5", metrics={"psnr": 27.0}),
               R(spec="tao-a", scale=4, dataset="Set5", metrics={"psnr": 27.1}),
               R(spec="tao-a", scale=4, dataset="Set5", metrics={"psnr": 27.2})]  # two variants
    page = "\n".join(latency_sections(load_benchmarks(tmp_path), "latency", records))
    cells = {}
    for line in page.splitlines():
        parts = [c.strip() for c in line.split("|")[1:-1]]
        if parts and parts[0] == "a":
            cells[parts[2]] = parts[-1]
    assert "| Set5 PSNR (dB) " in page
    assert cells == {"fp32 eager": "28.50", "fp32 compiled": "—", "int8": "no record", "int8 tao": "several records"}
    assert "Not scored on any model: fp32 compiled." in page
    for row in rows:
        del row["scored_by"]  # an older table: no column
    _latency_file(tmp_path, rows)
    assert "PSNR" not in "\n".join(latency_sections(load_benchmarks(tmp_path), "latency", records))
    rows[0]["scored_by"] = 3
    _latency_file(tmp_path, rows)
    with pytest.raises(DataError, match=r"rows\[0\].scored_by must be a spec name or null"):
        load_benchmarks(tmp_path)


def test_malformed_latency_table_is_a_one_line_error(tmp_path):
    _latency_file(tmp_path, [{"model": "a", "scale": 4, "backend": "x", "macs": 1, "bitops": 1, "seconds": []}])
    with pytest.raises(DataError, match=r"lat.json: extra_info.latency_table.rows\[0\] needs"):
        load_benchmarks(tmp_path)


def test_malformed_skipped_latency_row_is_a_one_line_error(tmp_path):
    row = {"model": "a", "scale": 4, "backend": "x", "macs": 1, "bitops": 1, "seconds": [0.1]}
    _latency_file(tmp_path, [row], [{"model": "a", "scale": 4, "backend": "int8 x"}])
    with pytest.raises(DataError) as exc:
        load_benchmarks(tmp_path)
    assert str(exc.value).endswith("lat.json: extra_info.latency_table.skipped[0] needs model, scale, backend and reason")
    assert "\n" not in str(exc.value)


def test_method_page_holds_the_methods_registered_variants(tmp_path):
    """bnas-pcnn subclasses bnas (another binarizer): its rows join bnas's page; pc-darts (no
    subclass of bnas) and a method name the registry does not know stay off it."""
    _write(tmp_path, "a.json", [3.0, 3.1, 2.9, 3.0], [10.0, 10.2, 9.8, 10.0])
    records = [rec("darts", 90.0, 100.0), rec("bnas", 80.0, 30.0), rec("bnas-pcnn", 84.0, 36.0),
               rec("pc-darts", 86.0, 40.0), rec("retired-method", 70.0, 10.0)]
    page = build_leaderboards(records, benchmarks=load_benchmarks(tmp_path))["bnas.md"]
    runs = page.split("## Recorded runs")[1].split("\n## ")[0]
    assert sorted(line.split("|")[1].strip() for line in runs.splitlines()
                  if line.startswith("| ") and "-small" in line) == ["bnas", "bnas-pcnn"]
    assert is_variant("bnas-pcnn", "bnas") and is_variant("bnas", "bnas")
    assert not is_variant("bnas", "bnas-pcnn") and not is_variant("pc-darts", "bnas")
    assert not is_variant("retired-method", "bnas")
