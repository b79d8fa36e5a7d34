"""The ablations section of an SR leaderboard page: each ablation spec against the spec it ablates.

An *ablation* is a spec named ``<base>-<what>`` (e.g. ``fqsr-pan-x4-w4a4-nocalib`` of
``fqsr-pan-x4-w4a4``) where ``<base>`` is another spec with the same leaderboard, tier, method,
model and bits: the base is the longest such name prefix (cut at dashes). The pairing is by name
because a spec field would enter the spec hash; the README states the convention. A spec of
another tier (``-smoke``, ``-full``) is never an ablation of its small-tier namesake.

Per ablation, data set, scale and variant: both PSNRs, Δ = ablation − base paired over the images
with its 95% bootstrap interval (:func:`qsrbench.train_board.paired_psnr`; ≈ when it holds 0), and
what the spec changes: the method parameters that differ, read from the parsed spec files
(:func:`qsrbench.leaderboard.spec_index`, ``params``), ``—`` where the files are not at hand.

A spec named ``<base>-seed<k>`` that only re-runs its base with seed ``k`` is a *seed replica*
(:func:`replica_bases`), not an ablation: :mod:`qsrbench.seed_board` pools it with its base.
"""

from __future__ import annotations

import re

from .leaderboard import delta_cell, table
from .sr_board import protocol_key
from .stats import LEVEL
from .store import Record
from .train_board import paired_psnr

__all__ = ["ablation_bases", "ablation_pairs", "ablation_section", "changed_params", "family", "replica_bases"]

_REPLICA = re.compile(r"^(?P<base>.+)-seed(?P<seed>\d+)$")


def family(r: Record) -> tuple:
    """What an ablation or a seed replica shares with its base: leaderboard, tier, method, model, bits."""
    return (r.leaderboard, r.tier, r.method, r.model, r.bits.get("weight"), r.bits.get("activation"))


def replica_bases(records: list[Record], index: dict | None = None) -> dict[str, str]:
    """``{replica spec: base spec}`` among the specs of ``records``: named ``<base>-seed<k>``, of
    the base's family, protocol and checkpoint, every record at seed ``k``, no base record at that
    seed, and (where ``index``, the parsed spec files, knows both) the same method parameters."""
    fam, seeds = {}, {}
    for r in records:
        fam.setdefault(r.spec, (*family(r), protocol_key(r.protocol), r.checkpoint_sha256))
        seeds.setdefault(r.spec, set()).add(r.seed)
    versions = {r.spec: r.spec_version for r in records}
    out = {}
    for name in fam:
        m = _REPLICA.match(name)
        base = m["base"] if m else None
        if not (base in fam and fam[base] == fam[name] and seeds[name] == {int(m["seed"])}
                and not seeds[name] & seeds[base]):
            continue
        params = [((index or {}).get((s, versions[s])) or {}).get("params") for s in (base, name)]
        if None in params or params[0] == params[1]:
            out[name] = base
    return out


def ablation_bases(records: list[Record], names=()) -> dict[str, str]:
    """``{ablation spec: base spec}`` among the specs of ``records`` (see the module docstring).
    The base is the longest name prefix that is a spec at all (of ``records`` or ``names``, e.g.
    every spec file): a base without current records of the same family pairs with nothing, never
    with a shorter prefix (a grand-parent differs in more than the ablation's name says)."""
    fams = {}
    for r in records:
        fams.setdefault(r.spec, family(r))
    known = set(fams) | set(names)
    out = {}
    for name, fam in fams.items():
        parts = name.split("-")
        base = next(("-".join(parts[:cut]) for cut in range(len(parts) - 1, 0, -1)
                     if "-".join(parts[:cut]) in known), None)
        if base is not None and fams.get(base) == fam:
            out[name] = base
    return out


def ablation_pairs(records: list[Record], index: dict | None = None) -> dict[str, str]:
    """:func:`ablation_bases` of the specs that are not seed replicas, with every parsed spec
    file's name (``index``) as a possible base: the pairs the page's sections compare."""
    replicas = replica_bases(records, index)
    return ablation_bases([r for r in records if r.spec not in replicas], {name for name, _ in index or {}})


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _toml(v) -> str:
    """A value as the spec file writes it (``true`` / ``false`` for booleans)."""
    return str(v).lower() if isinstance(v, bool) else str(v)


def changed_params(base: dict | None, ablation: dict | None) -> str:
    """``"key: base value → ablation value"`` for every method parameter that differs (dotted
    keys for nested tables), ``; ``-joined; ``—`` when either side is unknown or none differs."""
    if base is None or ablation is None:
        return "—"
    a, b = _flat(base), _flat(ablation)
    diffs = [f"{k}: {_toml(a.get(k, '—'))} → {_toml(b.get(k, '—'))}" for k in sorted(set(a) | set(b))
             if a.get(k) != b.get(k)]
    return "; ".join(diffs) or "—"


def _params(index: dict | None, r: Record) -> dict | None:
    return ((index or {}).get((r.spec, r.spec_version)) or {}).get("params")


def ablation_section(records: list[Record], index: dict | None = None) -> list[str]:
    """Markdown lines of the section (empty when ``records`` hold no ablation; seed replicas are
    left out)."""
    bases = ablation_pairs(records, index)
    by_key = {(r.spec, r.dataset, r.scale, r.variant): r for r in records}
    rows = []
    for r in sorted(records, key=lambda r: (bases.get(r.spec, ""), r.spec, r.scale or 0, r.dataset, r.variant or "")):
        base = by_key.get((bases.get(r.spec), r.dataset, r.scale, r.variant))
        if base is None or "psnr" not in r.metrics or "psnr" not in base.metrics:
            continue
        rows.append([f"{r.spec} v{r.spec_version}", f"{base.spec} v{base.spec_version}",
                     changed_params(_params(index, base), _params(index, r)),
                     f"{r.dataset} ×{r.scale}" + (f" ({r.variant})" if r.variant else ""),
                     f"{r.metrics['psnr']:.2f}", f"{base.metrics['psnr']:.2f}", delta_cell(paired_psnr(r, base))])
    if not rows:
        return []
    return ["## Ablations", "",
            "Each ablation spec (named `<base>-<what>`: same leaderboard, tier, method, model and bits "
            "as its base) against its base, set by set: Δ = ablation − base, paired over the images, "
            f"with its {LEVEL:.0%} bootstrap interval (≈: the interval holds 0); *changes*: the method "
            "parameters the two spec files set differently. Each row compares one run of each: the interval "
            "covers the images, not the spread between training runs; where a recipe was trained again under "
            "other seeds (`<spec>-seed<k>`), *Training runs over seeds* gives that spread.", "",
            table(rows, ["Ablation", "Base", "Changes", "Set", "PSNR ↑", "Base PSNR ↑",
                         f"Δ dB [{LEVEL:.0%} CI]"]), ""]
