"""PSNR-vs-BitOps plots of quantized results (matplotlib, Agg backend, PNG).

One figure per scale for a leaderboard group (``<group>_psnr_vs_bitops_x<s>.png``): for each
checkpoint, its full-precision point (the 32/32-bit record of the same weights) and, per weight/activation
bit-width, the best variant's PSNR on the reference set (Set5 by default: every spec evaluates
it), joined by a line in decreasing BitOps. On QAT pages each trained method of a model is its own
line, beside the model's post-training (PTQ) line. BitOps are those of the records (a 320x180 LR
input, :mod:`qsrbench.bitops`), on a log axis. PSNR in dB, Y channel, the records' protocol.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .leaderboard import current_groups, mixed_precision, quantized, trained
from .store import Record

__all__ = ["same_plot", "psnr_vs_bitops_points", "render_psnr_vs_bitops", "write_psnr_vs_bitops", "plot_links",
           "PLOTTED_GROUPS", "render_latency_vs_bitops", "latency_plot_name"]

PLOTTED_GROUPS = ("ptq", "qat_sr")
WITH_PTQ = {"qat_sr"}  # groups whose plots also show the post-training points of their models


def _series(r: Record, group: str) -> str:
    """The line a point belongs to: the model (PTQ pages), or model and method (QAT pages)."""
    if mixed_precision(r):
        return f"{r.model} mixed"
    if group not in WITH_PTQ:
        return r.model
    return f"{r.model} {r.method}" if trained(r) else f"{r.model} PTQ"


def _mean_bits(r: Record) -> float | None:
    """A mixed-precision network's mean bits (each allocation its own point), else None."""
    return r.extra["mixed_precision"]["mean_bits"] if mixed_precision(r) else None


def psnr_vs_bitops_points(records: list[Record], group: str, dataset: str = "Set5"
                          ) -> dict[int, dict[str, list[tuple[int, float, str]]]]:
    """``{scale: {series: [(bitops, psnr, "W/A"), ...]}}``: per series (the model, or on QAT pages
    model and method, with the post-training points of the same models as "<model> PTQ"; a
    mixed-precision network's allocations as "<model> mixed", labelled by their mean bits), the
    best variant per bit-width, starting from the model's FP point."""
    groups = current_groups(records)
    every = [r for rs in groups.values() for r in rs if r.dataset == dataset and r.bitops
             and "psnr" in r.metrics]
    own = [r for r in groups.get(group, []) if quantized(r) and r in every]
    models = {(r.model, r.scale) for r in own}
    if group in WITH_PTQ:  # the same checkpoints' post-training points
        weights = {(r.checkpoint_sha256, r.scale) for r in own}
        own += [r for r in every if quantized(r) and not trained(r) and r.leaderboard != group
                and (r.checkpoint_sha256, r.scale) in weights]
    fp = [r for r in every if not quantized(r) and not trained(r) and r.checkpoint_sha256
          and (r.model, r.scale) in models]
    best: dict[tuple, Record] = {}
    for r in own:
        key = (r.scale, _series(r, group), r.bits.get("weight"), r.bits.get("activation"), _mean_bits(r))
        if key not in best or r.metrics["psnr"] > best[key].metrics["psnr"]:
            best[key] = r
    series = {(scale, name) for scale, name, _, _, _ in best}
    for r in fp:
        for scale, name in series:
            key = (scale, name, 32, 32, None)
            if scale == r.scale and name.split(" ")[0] == r.model and (
                    key not in best or r.metrics["psnr"] > best[key].metrics["psnr"]):
                best[key] = r
    out: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for (scale, name, w, a, mean), r in sorted(best.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[1].bitops)):
        out[scale][name].append((r.bitops, r.metrics["psnr"], f"W{w}A{a}" if mean is None else f"mean {mean:.1f} b"))
    return {s: dict(m) for s, m in sorted(out.items())}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def latency_plot_name(board: str) -> str:
    return f"{board}_vs_bitops.png"


def render_latency_vs_bitops(rows: list[dict], title: str) -> bytes:
    """Median latency (ms, log) against BitOps (log): ``rows`` hold ``model``, ``scale``,
    ``backend``, ``bitops`` and ``median_s`` (seconds, as :mod:`qsrbench.latency_board` computes
    it); one marker series per backend, each point labelled with its model and scale;
    deterministic bytes as :func:`render_psnr_vs_bitops`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for backend in sorted({r["backend"] for r in rows}):
        mine = [r for r in rows if r["backend"] == backend]
        xs = [r["bitops"] for r in mine]
        ys = [r["median_s"] * 1e3 for r in mine]
        ax.scatter(xs, ys, label=backend)
        for r, x, y in zip(mine, xs, ys):
            ax.annotate(f"{r['model']} x{r['scale']}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("BitOps (320x180 LR input, log scale)")
    ax.set_ylabel("median latency (ms, log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def render_psnr_vs_bitops(records: list[Record], group: str = "ptq",
                          dataset: str = "Set5") -> dict[str, bytes]:
    """``{png name: bytes}``, one figure per scale (none when the group has no quantized rows).
    The bytes are deterministic for the same records and matplotlib version: no timestamp or
    software tag is written, so ``qsrbench leaderboard --check`` can compare them."""
    plt = _pyplot()
    out = {}
    for scale, models in psnr_vs_bitops_points(records, group, dataset).items():
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
        for model, pts in sorted(models.items()):
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            ax.plot(xs, ys, marker="o", label=model)
            for x, y, tag in pts:
                ax.annotate(tag, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6)
        ax.set_xscale("log")
        ax.set_xlabel("BitOps (320x180 LR input, log scale)")
        ax.set_ylabel(f"PSNR on {dataset} (dB, Y)")
        ax.set_title(f"{group}: PSNR vs BitOps, x{scale} (best variant per bit-width; FP = W32A32)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out[_name(group, scale)] = _png(fig)
    return out


def write_psnr_vs_bitops(records: list[Record], out: Path, group: str = "ptq",
                         dataset: str = "Set5") -> list[Path]:
    """Write one PNG per scale; returns the paths (none when the group has no quantized rows)."""
    written = []
    for name, data in render_psnr_vs_bitops(records, group, dataset).items():
        path = Path(out) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


# Between CPUs (here an Intel Xeon and an AMD EPYC) the same figure can render with a few
# anti-aliased edge pixels a few levels apart (float rounding in the layout): 58 of 480,000 pixels,
# at most 8 levels, seen on search_pareto_Set5_x4.png. A changed glyph, marker or line moves pixels
# by far more than JITTER_LEVELS, so a plot that differs only within this jitter is the same plot.
JITTER_LEVELS, JITTER_SHARE = 16, 0.01


def same_plot(committed: bytes, rendered: bytes) -> bool:
    """Whether two PNGs show the same figure: equal bytes, or equal size with every pixel within
    ``JITTER_LEVELS`` (of 255, any channel) and at most ``JITTER_SHARE`` of the pixels differing."""
    if committed == rendered:
        return True
    import io

    import numpy as np
    from PIL import Image

    try:
        a, b = (np.asarray(Image.open(io.BytesIO(d)).convert("RGBA"), dtype=np.int16) for d in (committed, rendered))
    except OSError:  # not a readable PNG
        return False
    if a.shape != b.shape:
        return False
    diff = np.abs(a - b).max(axis=-1)
    return int(diff.max()) <= JITTER_LEVELS and float((diff > 0).mean()) <= JITTER_SHARE


def _name(group: str, scale: int) -> str:
    return f"{group}_psnr_vs_bitops_x{scale}.png"


def plot_links(records: list[Record]) -> dict[str, list[str]]:
    """``{group: [png names]}`` that :func:`write_psnr_vs_bitops` writes for these records."""
    return {g: [_name(g, s) for s in psnr_vs_bitops_points(records, g)] for g in PLOTTED_GROUPS}
