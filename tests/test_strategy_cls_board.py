"""The classification strategy-search page on hand-made records: top-1 intervals, paired Δ to the
FP network and to the best fixed pair, computed from the records' per-image correctness."""

from __future__ import annotations

import numpy as np

from qsrbench.boards import build_leaderboards
from qsrbench.stats import paired_bootstrap
from qsrbench.store import Record
from qsrbench.strategy_cls_board import correct_bits, is_strategy_cls_group

FP = [1, 1, 1, 1, 0, 1, 1, 1]


def _hex(bits: list[int]) -> str:
    return np.packbits(np.array(bits, dtype=np.uint8)).tobytes().hex()


def _rec(variant: str, bits: list[int]) -> Record:
    layers = {"3": {"activation": "mse", "weight": "lsq"}}
    return Record(spec="dq", spec_version=1, spec_hash="h", spec_file="f.toml", leaderboard="dqc", tier="small",
                  method="dqss-cifar", model=None, bits={"weight": 4, "activation": 4}, dataset="CIFAR-10",
                  scale=None, variant=variant, metrics={"top1": 100 * sum(bits) / len(bits)},
                  metric_info={"top1": {"unit": "%", "direction": "higher", "tolerance": 0.5}},
                  bitops=1000, params=10, wall_s=1.0, env={"device": "cpu"}, timestamp="2026-01-01T00:00:00",
                  extra={"strategies": {"variant": variant, "layers": layers, "counts": {"mse/lsq": 1}},
                         "test_images": len(bits), "correct": _hex(bits),
                         "fp": {"top1": 100 * sum(FP) / len(FP), "correct": _hex(FP)}})


def test_page_by_hand():
    search = [1, 1, 1, 0, 0, 1, 1, 1]   # 75.0 %
    best = [1, 1, 0, 0, 0, 1, 1, 1]     # 62.5 %, the best fixed pair
    worse = [1, 0, 0, 0, 0, 1, 1, 0]    # 37.5 %
    records = [_rec("search", search), _rec("fixed mse/mse", best), _rec("fixed lsq/lsq", worse)]
    assert is_strategy_cls_group(records)
    assert correct_bits(_hex(search), 8).tolist() == search
    page = build_leaderboards(records)["dqc.md"]
    (row,) = [line for line in page.splitlines() if "| search " in line]
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[4].startswith("75.00 [") and cells[5] == "87.50"
    assert cells[6] == paired_bootstrap(np.array(search) * 100.0, np.array(FP) * 100.0).fmt(2, signed=True) + " ≈"
    assert cells[7].startswith("+12.50 [") and cells[7].endswith("(fixed mse/mse)")
    (worse_row,) = [line for line in page.splitlines() if "| fixed lsq/lsq " in line]
    assert [c.strip() for c in worse_row.split("|")[1:-1]][7] == "—"
