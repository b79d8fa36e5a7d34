"""The ``qsrbench`` command line.

    qsrbench list [methods|models|datasets]   what is registered
    qsrbench schema                           JSON schema of a spec file
    qsrbench validate [SPEC ...]              check specs (default: all of suites/specs) without running
    qsrbench run SPEC ...                     run specs, append results to the store
    qsrbench sweep SPEC ... [--backend B]     the same jobs in parallel (process pool or Dask)
    qsrbench leaderboard                      regenerate leaderboards/*.md from the store
    qsrbench compare BASE HEAD                quality regression gate between two stores
    qsrbench data check [SET ...]             verify a data root against its manifest
    qsrbench bitops SPEC [--lr-size HxW]      per-layer MACs and BitOps of a spec's model
    qsrbench env                              print the environment fingerprint

Errors are one clear message on stderr and exit code 2; a failed comparison or a
failed sweep job exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tabulate import tabulate

from .errors import QsrbenchError, SpecError

DEFAULT_SPECS = "suites/specs"
DESCRIPTION = ("Benchmark harness for quantized super-resolution and efficient architecture search:\n"
               "validate specs, run them, store records, write leaderboards, compare stores.")


def _results_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("QSRBENCH_RESULTS") or "results")


def cmd_list(args) -> int:
    from .data.check import presence
    from .data.root import resolve_data_root
    from .registry import datasets, methods, models

    kinds = {"methods": methods, "models": models, "datasets": datasets}
    root = resolve_data_root(args.data_root)
    for kind in [args.kind] if args.kind else list(kinds):
        reg = kinds[kind]
        rows = []
        for name in reg.names():
            try:
                obj = reg.get(name)
                desc = getattr(obj, "citation", "") or getattr(obj, "description", "")
                if kind == "models":
                    desc = f"scales {','.join(map(str, obj.scales))}; {obj.description}"
                rows.append([name, desc, *presence(root, obj)] if kind == "datasets" else [name, desc])
            except QsrbenchError as exc:
                rows.append([name, f"BROKEN: {exc}"] + (["—", "—"] if kind == "datasets" else []))
        print(f"{kind}:" + (f" (data root {root}; verified: checksums already matched, "
                            "`qsrbench data check` verifies all)" if kind == "datasets" else ""))
        headers = ["name", "description"] + (["present", "verified"] if kind == "datasets" else [])
        print(tabulate(rows, headers=headers, tablefmt="simple", maxcolwidths=[None, 60, None, None][:len(headers)]))
        print()
    return 0


def cmd_schema(args) -> int:
    from .spec import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


def _load_specs(paths: list[str]) -> tuple[list, list[SpecError]]:
    from .spec import discover_specs, load_spec

    specs, errors = [], []
    for path in discover_specs(paths or None, DEFAULT_SPECS):
        try:
            specs.append(load_spec(path))
        except SpecError as exc:
            errors.append(exc)
    names: dict[tuple[str, int], str] = {}
    for spec in specs:
        other = names.setdefault((spec.name, spec.version), spec.source)
        if other != spec.source:
            errors.append(SpecError(spec.source, [f"name: {spec.name!r} v{spec.version} is also "
                                                  f"declared by {other}"]))
    return specs, errors


def cmd_validate(args) -> int:
    specs, errors = _load_specs(args.specs)
    for spec in specs:
        print(f"ok    {spec.source}  ({spec.name} v{spec.version}, {spec.method.name}, {spec.tier})")
    for exc in errors:
        print(f"error {exc}", file=sys.stderr)
    print(f"{len(specs)} valid, {len(errors)} invalid")
    return 2 if errors else 0


def _prepare_run(args):
    """Specs (tier-filtered), a writable store, the run context and the logger of run/sweep."""
    from .data.root import resolve_data_root
    from .methods import RunContext
    from .store import ResultStore

    specs, errors = _load_specs(args.specs)
    if errors:
        raise errors[0]
    if args.tier:
        specs = [s for s in specs if s.tier in args.tier]
    store = ResultStore(_results_dir(args.results))
    store.check_writable()
    ctx = RunContext(data_root=resolve_data_root(args.data_root), data_root_arg=args.data_root,
                     device=args.device, progress=not args.quiet and sys.stderr.isatty(),
                     verify=not args.no_verify)
    log = (lambda _: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    return specs, store, ctx, log


def cmd_run(args) -> int:
    from .runner import run_spec

    specs, store, ctx, log = _prepare_run(args)
    unavailable = 0
    for spec in specs:
        summary = run_spec(spec, store, ctx, force=args.force, skip_missing=args.skip_missing,
                           log=log)
        unavailable += len(summary.unavailable)
        rows = []
        for r in summary.recorded:
            claims = sorted(r.claims, key=lambda c: c.get("kind") != "published")  # published first
            exp = claims[0]["metrics"] if claims else {}
            rows.append([r.variant or "—", r.dataset, f"x{r.scale}" if r.scale else "—"] + [
                f"{r.metrics[m]:.4f}" + (f" ({r.metrics[m] - exp[m]:+.4f} vs {exp[m]})" if m in exp else "")
                if m in r.metrics else "—" for m in spec.metrics] + [f"{r.wall_s:.1f}"])
        print(f"{spec.name} v{spec.version}: {len(summary.recorded)} recorded, "
              f"{len(summary.skipped)} already in {store.root} (use --force to redo)")
        if rows:
            print(tabulate(rows, headers=["variant", "dataset", "scale", *spec.metrics, "wall s"],
                           tablefmt="simple", disable_numparse=True))
    return 2 if unavailable and not args.skip_missing else 0


def cmd_sweep(args) -> int:
    from .sweep import make_executor, run_sweep

    if args.workers is not None and args.workers < 1:
        raise QsrbenchError(f"--workers must be at least 1, got {args.workers}")
    specs, store, ctx, log = _prepare_run(args)
    executor = make_executor(args.backend, args.workers, args.dask_address)
    try:
        summary = run_sweep(specs, store, ctx, executor, force=args.force, log=log,
                            progress=ctx.progress)
    finally:
        executor.close()
    print(f"sweep ({executor.name}): {len(summary.recorded)} recorded, {summary.skipped} already in "
          f"{store.root}, {len(summary.unavailable)} without data, {len(summary.failed)} failed")
    for out in summary.failed:
        print(f"  failed: {out.task.label}: {out.error.splitlines()[-1]}")
    if summary.failed:
        return 1
    return 2 if summary.unavailable and not args.skip_missing else 0


def cmd_leaderboard(args) -> int:
    from .bench_board import load_benchmarks
    from .boards import build_leaderboards, build_plots
    from .plots import same_plot
    from .leaderboard import spec_index, write_leaderboards
    from .store import load_records

    index = None
    if args.specs or Path(DEFAULT_SPECS).is_dir():
        specs, errors = _load_specs(args.specs)
        if errors:
            raise errors[0]
        index = spec_index(specs)
    records = load_records(_results_dir(args.results))
    out = Path(args.out)
    benchmarks = load_benchmarks(_results_dir(args.results) / "benchmarks")
    links, pngs = build_plots(records, benchmarks)
    boards = build_leaderboards(records, index, links, benchmarks)
    if args.check:
        stale = [n for n, text in boards.items()
                 if not (out / n).is_file() or (out / n).read_text(encoding="utf-8") != text]
        stale += [n for n, data in pngs.items() if not (out / n).is_file() or not same_plot((out / n).read_bytes(), data)]
        for n in stale:
            print(f"stale: {out / n} (run `qsrbench leaderboard`)", file=sys.stderr)
        if not stale:
            print(f"up to date: {len(boards)} leaderboards and {len(pngs)} plots in {out}")
        return 1 if stale else 0
    written = write_leaderboards(boards, out)
    for name, data in pngs.items():
        if (out / name).is_file() and same_plot((out / name).read_bytes(), data):
            continue  # the same figure (at most another CPU's anti-aliasing jitter): left as committed
        (out / name).write_bytes(data)
        written.append(out / name)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_compare(args) -> int:
    from .compare import compare_records, failed, format_comparison
    from .store import load_records

    rows = compare_records(load_records(args.base), load_records(args.head))
    if args.spec:
        rows = [r for r in rows if r.key[0] in args.spec]
    print(format_comparison(rows))
    bad = failed(rows, args.allow_missing)
    counts = {s: sum(r.status == s for r in rows)
              for s in ("ok", "improved", "changed", "regressed", "missing", "new")}
    stale = len({r.key for r in rows if r.code == "stale"})
    print(", ".join(f"{n} {s}" for s, n in counts.items())
          + f"; {stale} result(s) of BASE made by other code than HEAD's (stale)")
    return 1 if bad else 0


def cmd_data_check(args) -> int:
    from .data.check import check_root
    from .data.root import resolve_data_root

    root = resolve_data_root(args.data_root)
    statuses = check_root(root, args.sets or None)
    print(f"data root: {root}")
    print(tabulate([[s.name, "yes" if s.shipped else "no", s.listed, s.verified, s.state]
                    for s in statuses], headers=["set", "shipped", "files", "verified", "state"],
                   tablefmt="simple"))
    for s in statuses:
        for p in s.problems:
            print(f"{s.name}: {p}", file=sys.stderr)
    return 2 if any(s.state in ("FAILED", "MISSING") for s in statuses) else 0


def cmd_bitops(args) -> int:
    from .bitops import total_bitops
    from .registry import methods

    specs, errors = _load_specs([args.spec])
    if errors:
        raise errors[0]
    spec = specs[0]
    try:
        h, w = (int(v) for v in args.lr_size.lower().split("x"))
    except ValueError:
        raise QsrbenchError(f"--lr-size must look like 180x320 (height x width), got {args.lr_size!r}") from None
    method = methods.get(spec.method.name)()
    for scale in spec.scales:
        shown: list = []
        for variant in method.variants(spec):
            costs = method.layer_costs(spec, scale, variant, (h, w))
            if costs is None:
                raise QsrbenchError(f"{spec.source}: method {spec.method.name!r} does not count "
                                    "MACs or BitOps")
            if costs in shown:
                continue  # variants that differ only in calibration share one plan
            shown.append(costs)
            rows = [[c.name, c.kind, f"{c.macs:,}", c.weight_bits, c.activation_bits, f"{c.bitops:,}"]
                    for c in costs]
            rows.append(["total", "", f"{sum(c.macs for c in costs):,}", "", "", f"{total_bitops(costs):,}"])
            label = f" [{variant}]" if variant else ""
            print(f"{spec.model.name if spec.model else spec.method.name} x{scale}{label}, LR input "
                  f"1x{3 if spec.protocol.domain == 'rgb' else 1}x{h}x{w}, "
                  f"W{spec.bits.weight}A{spec.bits.activation}")
            print(tabulate(rows, headers=["layer", "kind", "MACs", "W bits", "A bits", "BitOps"],
                           tablefmt="simple", disable_numparse=True))
    return 0


def cmd_env(args) -> int:
    from .env import fingerprint

    try:
        text = json.dumps(fingerprint(args.device), indent=2)
    except (RuntimeError, AssertionError) as exc:  # e.g. --device cuda without a CUDA device
        raise QsrbenchError(f"cannot fingerprint device {args.device!r}: {exc}") from None
    if args.out:
        try:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise QsrbenchError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    else:
        print(text)
    return 0


def _run_arguments(s) -> None:
    s.add_argument("specs", nargs="+", help="spec files or folders")
    s.add_argument("--data-root", help="data root (default: $QSRBENCH_DATA, else a user cache dir)")
    s.add_argument("--results", help="results store folder (default: $QSRBENCH_RESULTS or ./results)")
    s.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    s.add_argument("--tier", action="append", choices=["smoke", "small", "full"],
                   help="only run specs of this tier (repeatable)")
    s.add_argument("--force", action="store_true", help="redo jobs already in the store")
    s.add_argument("--skip-missing", action="store_true",
                   help="skip data sets that are not under the data root instead of failing")
    s.add_argument("--no-verify", action="store_true", help="do not verify checksums")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="qsrbench", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"qsrbench {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="show registered methods, models and datasets")
    s.add_argument("kind", nargs="?", choices=["methods", "models", "datasets"])
    s.add_argument("--data-root", help="data root whose sets to report (default: $QSRBENCH_DATA, else a user cache dir)")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("schema", help="print the JSON schema of spec files")
    s.set_defaults(func=cmd_schema)

    s = sub.add_parser("validate", help="validate spec files without running anything")
    s.add_argument("specs", nargs="*", help=f"spec files or folders (default: {DEFAULT_SPECS})")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("run", help="run specs and record results")
    _run_arguments(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("sweep", help="run the jobs of many specs in parallel (process pool or Dask)")
    _run_arguments(s)
    s.add_argument("--backend", choices=["serial", "process", "dask"], default="process",
                   help="executor: serial, process (local pool, default) or dask")
    s.add_argument("--workers", type=int, help="worker processes (default: min(4, cores))")
    s.add_argument("--dask-address", help="scheduler of an existing Dask cluster (default: a local "
                   "cluster on 127.0.0.1)")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("leaderboard", help="regenerate leaderboards/*.md from the store")
    s.add_argument("--results", help="results store folder (default: ./results)")
    s.add_argument("--out", default="leaderboards", help="output folder")
    s.add_argument("--specs", nargs="*", default=None,
                   help=f"specs whose `expected` values to show (default: {DEFAULT_SPECS})")
    s.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the committed leaderboards are stale")
    s.set_defaults(func=cmd_leaderboard)

    s = sub.add_parser("compare", help="compare two results stores (quality regression gate)")
    s.add_argument("base", help="baseline store (folder or .jsonl)")
    s.add_argument("head", help="new store (folder or .jsonl)")
    s.add_argument("--spec", action="append", help="only this spec (repeatable)")
    s.add_argument("--allow-missing", action="store_true",
                   help="results in BASE but not in HEAD do not fail the gate")
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("data", help="data root tools")
    dsub = s.add_subparsers(dest="data_command", required=True)
    c = dsub.add_parser("check", help="verify every file of a data root against its manifest")
    c.add_argument("sets", nargs="*", help="only these sets")
    c.add_argument("--data-root", help="data root (default: $QSRBENCH_DATA, else a user cache dir)")
    c.set_defaults(func=cmd_data_check)

    s = sub.add_parser("bitops", help="per-layer MACs and BitOps of a spec's model")
    s.add_argument("spec", help="spec file with a [model]")
    s.add_argument("--lr-size", default="180x320", help="LR input height x width (default 180x320)")
    s.set_defaults(func=cmd_bitops)

    s = sub.add_parser("env", help="print the environment fingerprint stamped on results")
    s.add_argument("--device", default="cpu")
    s.add_argument("--out", help="write the JSON to this file instead of printing it")
    s.set_defaults(func=cmd_env)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except QsrbenchError as exc:
        print(f"qsrbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("qsrbench: interrupted; every finished record is kept, rerun to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
