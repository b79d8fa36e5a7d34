"""The training section of an SR leaderboard page: for every result whose model the harness
trained (records with ``extra["train"]``), the Δ to the best post-training-quantized result of
the same checkpoint, bits, set, scale and protocol (paired bootstrap over images), and the run
itself: iterations, batch × patch, training sets, wall time and it/s of the optimizer steps,
threads, model size and compression ratio (:mod:`qsrbench.quant.size`).

"Post-training quantized" = quantized and not trained by the harness (no ``extra["train"]``), so
this module needs no method name.

Goals (:data:`GOALS`, the QAT goals this benchmark sets for its small tier, issue 14): at 8 bits a
trained model is within 0.05 dB of its FP checkpoint on Set5 (Δ FP >= -0.05 dB); at 4 bits it is
at least 0.5 dB above the best post-training quantization of the same checkpoint and bits on Set5
and on Urban100. A goal is judged on the point estimate, printed with its paired bootstrap
interval; a set with no trained record, or no reference record, is "not measured". A recipe with
seed replicas is also judged on the mean of its runs' Δ, with the Student-t interval over runs.
"""

from __future__ import annotations

from .leaderboard import bits_label, delta_cell, mixed_precision, quantized, table, trained
from .sr_board import delta_fp, protocol_key
from .stats import LEVEL, paired_bootstrap, paired_values
from .store import Record

__all__ = ["GOALS", "goal_delta", "goal_of", "paired_psnr", "ptq_reference", "training_section"]

# bits (weight = activation) -> (reference, threshold in dB, sets): Δ vs reference >= threshold
GOALS: dict[int, tuple[str, float, tuple[str, ...]]] = {
    8: ("FP", -0.05, ("Set5",)),
    4: ("best PTQ", 0.5, ("Set5", "Urban100")),
}


def _key(r: Record) -> tuple:
    return (r.checkpoint_sha256, r.bits.get("weight"), r.bits.get("activation"), r.scale, r.dataset,
            protocol_key(r.protocol))


def ptq_reference(records: list[Record]) -> dict[tuple, Record]:
    """Best-PSNR post-training-quantized record per (checkpoint, bits, scale, set, protocol);
    uniform bits only (a mixed-precision network spends more BitOps than its base bits say)."""
    best: dict[tuple, Record] = {}
    for r in records:
        if (quantized(r) and not trained(r) and not mixed_precision(r) and r.checkpoint_sha256
                and "psnr" in r.metrics):
            k = _key(r)
            if k not in best or r.metrics["psnr"] > best[k].metrics["psnr"]:
                best[k] = r
    return best


def paired_psnr(r: Record, ref: Record | None):
    """PSNR of ``r`` minus ``ref``'s, paired over their images (an Interval), or None."""
    if ref is None or "psnr" not in r.metrics or "psnr" not in ref.metrics:
        return None
    a, b = paired_values({p["name"]: p["psnr"] for p in r.per_image},
                         {p["name"]: p["psnr"] for p in ref.per_image})
    return paired_bootstrap(a, b) if a else None


def _delta(r: Record, ref: Record | None) -> str:
    d = paired_psnr(r, ref)
    return "—" if d is None else delta_cell(d) + f" ({ref.method} {ref.variant or ref.spec})"


def goal_of(records: list[Record]) -> tuple[str, float, tuple[str, ...]] | None:
    """The goal of a spec's records: one bit-width, equal for weights and activations."""
    bits = {(r.bits.get("weight"), r.bits.get("activation")) for r in records}
    (w, a), = bits if len(bits) == 1 else ((None, None),)
    return GOALS.get(w) if w == a else None


def goal_rows(records: list[Record], ptq: dict[tuple, Record], fp: dict[tuple, Record]) -> list[list[str]]:
    """One row per trained spec, variant (a spec may train several, e.g. a search and its fixed
    baselines: each is judged on its own) and goal set: goal, measured Δ [interval], status."""
    rows = []
    for spec, variant in sorted({(r.spec, r.variant or "") for r in records if trained(r)}):
        mine = [r for r in records if r.spec == spec and (r.variant or "") == variant and trained(r)]
        goal = goal_of(mine)
        if goal is None:
            continue
        ref_name, threshold, sets = goal
        label = f"{spec} ({variant})" if variant else spec
        for name in sets:
            r = next((x for x in mine if x.dataset == name), None)
            d = None if r is None else goal_delta(r, ref_name, ptq, fp)
            status = ("not measured (no record on this set)" if r is None else
                      f"not measured (no {ref_name} record)" if d is None else
                      "met" if d.estimate >= threshold else "missed")
            where = f"{name} ×{r.scale}" if r is not None else name
            rows.append([label, where, f"Δ {ref_name} ≥ {threshold:+.2f} dB",
                         "—" if d is None else d.fmt(2, signed=True), status])
    return rows


def goal_delta(r: Record, ref_name: str, ptq: dict[tuple, Record], fp: dict[tuple, Record]):
    return delta_fp(r, fp) if ref_name == "FP" else paired_psnr(r, ptq.get(_key(r)))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def training_section(records: list[Record], ptq: dict[tuple, Record],
                     fp: dict[tuple, Record] | None = None, seed_goals: list[list[str]] = ()) -> list[str]:
    """Markdown lines of the section (empty when no record of ``records`` was trained);
    ``seed_goals``: the goal rows over training runs (:func:`qsrbench.seed_board.seed_goal_rows`)."""
    rows = []
    for r in sorted(filter(trained, records), key=lambda r: (r.scale or 0, r.dataset, r.spec)):
        t, size = r.extra["train"], r.extra.get("size") or {}
        rows.append([r.method, f"{r.spec} v{r.spec_version}", (r.model or "—") + (f" ({r.variant})" if r.variant else ""),
                     bits_label(r), f"{r.dataset} ×{r.scale}",
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
            table(rows, headers), ""] + _goals_section(goal_rows(records, ptq, fp or {}), list(seed_goals))


def _goals_section(rows: list[list[str]], seed_rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    over_runs = [] if not seed_rows else [
        "Over training runs: where a recipe was trained with several seeds (`<spec>-seed<k>`, each run also "
        "judged alone above), the mean over its runs of each run's Δ, with the Student-t interval over runs, "
        "judged on that mean.", "",
        table(seed_rows, ["Recipe", "Set", "Goal", f"Mean Δ [{LEVEL:.0%} CI]", "Status"]), ""]
    return ["### Goals", "",
            "The small tier's QAT goals (issue 14; `qsrbench.train_board.GOALS`), judged for every "
            "trained spec and variant: at 8 bits within 0.05 dB of the "
            "FP checkpoint on Set5; at 4 bits at least 0.5 dB above the best post-training "
            "quantization of the same checkpoint and bits on Set5 and Urban100. Judged on the "
            "measured Δ; the interval (paired bootstrap over images) says how firmly.", "",
            table(rows, ["Spec", "Set", "Goal", f"Measured Δ [{LEVEL:.0%} CI]", "Status"]), ""] + over_runs
