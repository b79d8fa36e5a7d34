"""The SR leaderboard pages (``sr``, ``fp``, ``ptq``, ...): results per set and scale, the Δ to
the full-precision model, published claims and reference measurements, history, environments.

* Per set and scale, one row per result (newest record, current spec version), by PSNR.
* Δ FP (groups with quantized rows): PSNR minus that of the full-precision (32/32-bit) record of
  the *same checkpoint* (by the weights' sha256, not by name), scale, set and protocol, with the
  paired bootstrap interval over the images both scored (:mod:`qsrbench.stats`).
* Published claims and reference measurements (:mod:`qsrbench.claims`) in separate tables, each
  with its own summary line: reproduced when within the metric's tolerance; Δ with the bootstrap
  interval of the measurement; the sources as numbered notes; the findings of claims that do not
  reproduce.
"""

from __future__ import annotations

from collections import defaultdict

from .claims import ClaimCheck, check_claims
from .leaderboard import bits_label, delta_cell, environments, history, human, quantized, table, trained
from .stats import LEVEL, RESAMPLES, SEED, Interval, paired_bootstrap, paired_values
from .store import Record

__all__ = ["sr_board", "fp_reference", "delta_fp", "protocol_label", "protocol_key", "DATASET_ORDER", "dataset_rank"]

DATASET_ORDER = ["skimage-demo", "Set5", "Set14", "B100", "Urban100", "Manga109"]
TITLES = {"sr": "Super-resolution", "demo": "Embedded demo (scikit-image images)",
          "fp": "Full-precision models (shipped checkpoints)", "ptq": "Post-training quantization",
          "qat_sr": "Quantization-aware training of SR models",
          "latency": "Low-bit execution (integer models and kernel latency)",
          "qat_smoke": "Quantization-aware training, smoke tier (CI: a few iterations; not a result)"}


def dataset_rank(name: str) -> tuple[int, str]:
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)


def protocol_label(p: dict) -> str:
    if not p:
        return "—"
    crop = "s" if p.get("crop") == "scale" else p.get("crop")
    if p.get("domain") == "y":
        return f"Y-domain (SRCNN/VDSR), crop {crop}"
    chan = "Y" if p.get("channel") == "y" else "RGB"
    notes = [n for n, on in (("unrounded Y", chan == "Y" and p.get("y_rounding") == "double"),
                             ("gray as RGB", p.get("gray_gt") == "as-rgb")) if on]
    extra = f" ({', '.join(notes)})" if notes else ""
    return f"RGB model, {chan} metric{extra}, crop {crop}, LR {p.get('lr_source')}"


def protocol_key(p: dict) -> str:
    return repr(sorted(p.items()))


def fp_reference(records: list[Record]) -> dict[tuple, Record]:
    """``{(checkpoint sha256, scale, dataset, protocol): record}`` of full-precision records (of
    the checkpoint as it is: a model the harness trained from it is no reference)."""
    return {(r.checkpoint_sha256, r.scale, r.dataset, protocol_key(r.protocol)): r
            for r in records if not quantized(r) and not trained(r) and r.checkpoint_sha256
            and "psnr" in r.metrics}


def delta_fp(r: Record, fp: dict[tuple, Record]) -> Interval | None:
    """PSNR of ``r`` minus its FP record's, paired over the images both scored."""
    ref = fp.get((r.checkpoint_sha256, r.scale, r.dataset, protocol_key(r.protocol)))
    if ref is None or not r.checkpoint_sha256 or "psnr" not in r.metrics:
        return None
    a, b = paired_values({p["name"]: p["psnr"] for p in r.per_image},
                         {p["name"]: p["psnr"] for p in ref.per_image})
    if not a:
        return None
    return paired_bootstrap(a, b)


HOW_TO_READ = [
    "## How to read these numbers", "",
    "- PSNR (dB) and SSIM are means over the images of a set, on the protocol of the row "
    "(`qsrbench.metrics`); ↑ higher is better.",
    f"- Every Δ carries a {LEVEL:.0%} bootstrap interval over the images ({RESAMPLES:,} resamples, "
    f"fixed seed {SEED}): paired over images for Δ FP, the measured mean's interval minus the "
    "claim for claims. The interval describes how much another set of such images could move the "
    "number; it is not a measurement error of a fixed model on a fixed set.",
    "- ≈ marks a Δ whose interval contains 0 (within noise); a claim is *reproduced* when "
    "|Δ| ≤ the metric's tolerance, which is a stricter, separate test.",
    "- *Published* claims are numbers the method's authors published (source, table, and where "
    "this project read them in the notes); *reference* measurements are earlier measurements of "
    "the same checkpoint that hold the harness to itself. A published claim that does not "
    "reproduce is a finding about the checkpoint or the paper, listed with its explanation.", ""]


def _results_tables(records: list[Record], fp: dict[tuple, Record]) -> list[str]:
    with_delta = any(quantized(r) for r in records)
    by_set: dict[tuple, list[Record]] = defaultdict(list)
    for r in records:
        by_set[(dataset_rank(r.dataset), r.scale or 0)].append(r)
    lines = []
    for (rank, scale), rows in sorted(by_set.items()):
        out = []
        for r in sorted(rows, key=lambda r: (-r.metrics.get("psnr", 0.0), r.spec, r.model or "",
                                             r.variant or "")):
            model = (r.model or "—") + (f" ({r.variant})" if r.variant else "")
            row = [r.method, f"{r.spec} v{r.spec_version}", model,
                   bits_label(r), protocol_label(r.protocol),
                   f"{r.metrics['psnr']:.2f}" if "psnr" in r.metrics else "—",
                   f"{r.metrics['ssim']:.4f}" if "ssim" in r.metrics else "—",
                   human(r.params), human(r.bitops)]
            if with_delta:
                d = delta_fp(r, fp) if quantized(r) else None
                row.insert(6, delta_cell(d))
            out.append(row)
        headers = ["Method", "Spec", "Model", "W/A bits", "Protocol", "PSNR ↑", "SSIM ↑", "Params",
                   "BitOps"]
        if with_delta:
            headers.insert(6, f"Δ FP [{LEVEL:.0%} CI]")
        lines += [f"## {rank[1]} ×{scale}", "", table(out, headers), ""]
    return lines


def _claim_rows(checks: list[ClaimCheck], notes: dict[str, int]) -> list[list[str]]:
    rows = []
    for c in checks:
        r = c.record
        digits = 4 if c.metric == "ssim" else 3
        who = r.spec + (f" [{r.variant}]" if r.variant else "")
        claimed = f"{c.claimed:.{digits}f}" + (f" ± {c.claim['plus_minus'][c.metric]:g}"
                                              if c.metric in c.claim.get("plus_minus", {}) else "")
        if c.edited_from is not None:
            claimed += f" † (was {c.edited_from:.{digits}f})"
        delta = (c.interval.fmt(digits, signed=True) if c.interval is not None
                 else f"{c.delta:+.{digits}f}")
        noise = "—" if c.within_noise is None else ("≈" if c.within_noise else "outside")
        rows.append([who, r.dataset, f"×{r.scale}" if r.scale else "—", c.metric, claimed,
                     f"{c.measured:.{digits}f}", delta, f"±{c.tolerance:g}",
                     "reproduced" if c.reproduced else "NOT reproduced", noise,
                     f"[{notes[_source_note(c.claim)]}]"])
    return rows


def _source_note(claim: dict) -> str:
    if claim.get("kind") == "reference":
        return f"measured by {claim['measured_by']}; how: {claim['how']}"
    if claim.get("kind") == "published":
        page = f", p. {claim['page']}" if claim.get("page") else ""
        return f"{claim['source']}; {claim['table']}{page}; read from {claim['read_from']}"
    return f"{claim.get('source', '?')} (a claim recorded before claims had kinds)"


def _claims_sections(records: list[Record], index: dict | None) -> list[str]:
    checks: list[ClaimCheck] = []
    for r in sorted(records, key=lambda r: (r.spec, dataset_rank(r.dataset), r.scale or 0, r.variant or "")):
        info = (index or {}).get((r.spec, r.spec_version))
        now = info["claims"].get((r.dataset, r.scale), []) if info else None
        checks += check_claims(r, now)
    if not checks:
        return []
    notes: dict[str, int] = {}
    for c in checks:
        notes.setdefault(_source_note(c.claim), len(notes) + 1)
    headers = ["Spec", "Set", "Scale", "Metric", "Claimed", "Measured", f"Δ [{LEVEL:.0%} CI]",
               "Tolerance", "Status", "Noise", "Source"]
    lines = []
    titles = {"published": "Published claims", "reference": "Reference measurements",
              "unlabelled": "Claims recorded without a kind"}
    for kind in ("published", "reference", "unlabelled"):
        mine = [c for c in checks if c.kind == kind]
        if not mine:
            continue
        ok = sum(c.reproduced for c in mine)
        lines += [f"## {titles[kind]}", "",
                  f"{ok} of {len(mine)} {'claimed' if kind == 'published' else 'reference'} values "
                  f"reproduced within tolerance, {len(mine) - ok} not reproduced "
                  f"({len({(c.record.spec, c.record.dataset, c.record.scale) for c in mine})} "
                  f"results, {len({c.record.spec for c in mine})} specs).", "",
                  table(_claim_rows(mine, notes), headers), ""]
        findings: dict[str, set[str]] = defaultdict(set)
        for c in mine:
            if not c.reproduced and c.claim.get("finding"):
                findings[c.claim["finding"]].add(c.record.spec)
        if findings:
            lines += ["Findings (why these claims do not reproduce):", ""]
            lines += [f"- {', '.join(sorted(specs))}: {text}"
                      for text, specs in sorted(findings.items(), key=lambda kv: sorted(kv[1]))] + [""]
    if any(c.edited_from is not None for c in checks):
        lines += ["† the spec's claim was edited after the record was made; the recorded value "
                  "is shown.", ""]
    lines += ["Sources:", ""] + [f"{n}. {text}" for text, n in notes.items()] + [""]
    return lines


def _unrun_claims(group: str, records: list[Record], index: dict | None) -> list[str]:
    """Published claims of this page's spec files that have no current record: the claim, its
    source and "not run" with the spec's tier (e.g. the papers' protocol, documented as a ``full``
    spec and not run on this machine)."""
    recorded = {(r.spec, r.spec_version) for r in records}
    rows, notes = [], {}
    for (name, version), info in sorted((index or {}).items()):
        if info.get("leaderboard") != group or (name, version) in recorded:
            continue
        for (dataset, scale), claims in sorted(info["claims"].items(), key=lambda kv: (dataset_rank(kv[0][0]), kv[0][1] or 0)):
            for c in (c for c in claims if c.get("kind") == "published"):
                note = notes.setdefault(_source_note(c), len(notes) + 1)
                for metric, value in sorted(c["metrics"].items(), key=lambda kv: kv[0] != "psnr"):
                    digits = 4 if metric == "ssim" else 3
                    rows.append([f"{name} v{version}", dataset, f"×{scale}" if scale else "—", metric,
                                 f"{value:.{digits}f}", f"not run ({info['tier']} tier)", f"[{note}]"])
    if not rows:
        return []
    return ["## Published claims not run here", "",
            "Claims of this page's specs that have no record yet: each spec states the paper's protocol, "
            "and these are the numbers a run of it is to be held to (within the spec's tolerance).", "",
            table(rows, ["Spec", "Set", "Scale", "Metric", "Claimed", "Measured", "Source"]), "",
            "Sources:", ""] + [f"{n}. {text}" for text, n in notes.items()] + [""]


def sr_board(group: str, records: list[Record], all_records: list[Record], index: dict | None,
             fp: dict[tuple, Record], plots: list[str] | None = None,
             training: list[str] | None = None) -> str:
    """The page of ``group``: ``records`` are its current results, ``all_records`` the whole
    store (for the history), ``fp`` :func:`fp_reference` of every group's current results,
    ``training`` the lines of its training section (:mod:`qsrbench.train_board`)."""

    lines = [f"# {TITLES.get(group, group)} leaderboard", "",
             "Generated by `qsrbench leaderboard` from the results store; do not edit by hand.", ""]
    lines += HOW_TO_READ
    if any(quantized(r) for r in records):
        lines += ["Δ FP: PSNR minus that of the full-precision record of the same checkpoint (by "
                  "sha256), scale, set and protocol, paired over images; — where none exists.", ""]
    for name in plots or []:
        lines += [f"![{name}]({name})", ""]
    lines += _results_tables(records, fp)
    lines += training or []
    lines += _claims_sections(records, index)
    lines += _unrun_claims(group, records, index)
    lines += history(all_records, {r.spec for r in records}, index)
    lines += environments(records)
    return "\n".join(lines)
