"""The training section of an SR leaderboard page: for every result whose model the harness
trained (records with ``extra["train"]``), the Δ to the best post-training-quantized result of
the same checkpoint, bits, set, scale and protocol (paired bootstrap over images), and the run
itself: iterations, batch × patch, training sets, wall time and it/s of the optimizer steps,
threads, model size and compression ratio (:mod:`qsrbench.quant.size`).

"Post-training quantized" = quantized and not trained by the harness (no ``extra["train"]``), so
this module needs no method name.
"""

from __future__ import annotations

from .leaderboard import quantized, table, trained
from .sr_board import protocol_key
from .stats import LEVEL, paired_bootstrap, paired_values
from .store import Record

__all__ = ["ptq_reference", "training_section"]


def _key(r: Record) -> tuple:
    return (r.checkpoint_sha256, r.bits.get("weight"), r.bits.get("activation"), r.scale, r.dataset,
            protocol_key(r.protocol))


def ptq_reference(records: list[Record]) -> dict[tuple, Record]:
    """Best-PSNR post-training-quantized record per (checkpoint, bits, scale, set, protocol)."""
    best: dict[tuple, Record] = {}
    for r in records:
        if quantized(r) and not trained(r) and r.checkpoint_sha256 and "psnr" in r.metrics:
            k = _key(r)
            if k not in best or r.metrics["psnr"] > best[k].metrics["psnr"]:
                best[k] = r
    return best


def _delta(r: Record, ref: Record | None) -> str:
    if ref is None or "psnr" not in r.metrics:
        return "—"
    a, b = paired_values({p["name"]: p["psnr"] for p in r.per_image},
                         {p["name"]: p["psnr"] for p in ref.per_image})
    if not a:
        return "—"
    d = paired_bootstrap(a, b)
    return d.fmt(2, signed=True) + (" ≈" if d.contains(0) else "") + f" ({ref.variant or ref.spec})"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def training_section(records: list[Record], ptq: dict[tuple, Record]) -> list[str]:
    """Markdown lines of the section (empty when no record of ``records`` was trained)."""
    rows = []
    for r in sorted(filter(trained, records), key=lambda r: (r.scale or 0, r.dataset, r.spec)):
        t, size = r.extra["train"], r.extra.get("size") or {}
        rows.append([r.method, f"{r.spec} v{r.spec_version}", r.model or "—",
                     f"{r.bits.get('weight')}/{r.bits.get('activation')}", f"{r.dataset} ×{r.scale}",
                     f"{r.metrics['psnr']:.2f}" if "psnr" in r.metrics else "—", _delta(r, ptq.get(_key(r))),
                     str(t["iterations"]), f"{t['batch']} × {t['patch']}²", " + ".join(t["sets"]),
                     _minutes(t["train_s"]), f"{t['it_per_s']:.2f}", str(t.get("threads", "?")),
                     f"{size['bits'] / 8 / 2**20:.3f}" if size else "—",
                     f"{size['ratio']:.2f}×" if size else "—"])
    if not rows:
        return []
    headers = ["Method", "Spec", "Model", "W/A bits", "Set", "PSNR ↑", f"Δ best PTQ [{LEVEL:.0%} CI]",
               "Iterations", "Batch × HR patch", "Training sets", "Train time", "it/s", "Threads",
               "Size (MiB)", "FP size / size"]
    return ["## Training runs", "",
            "Models trained by the harness (`qsrbench.train`): Δ best PTQ is the PSNR minus that of "
            "the best post-training-quantized variant of the same checkpoint, bits, set, scale and "
            "protocol (named in brackets), paired over images. Train time and it/s cover the "
            "optimizer steps (sampling, forward, backward, update), not validation; size counts "
            "quantized weights at their bits and every other parameter at 32 bits.", "",
            table(rows, headers), ""]
