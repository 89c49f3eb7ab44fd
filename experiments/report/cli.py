"""The command line: `python -m experiments.report [--aggregate-only | --dry-run] ...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import experiments.report as report
from experiments.report.aggregation import aggregate
from experiments.report.runs import train_all
from experiments.report.settings import BY_NAME, EPOCH_SCALE, REPO, WORLD_BY_NAME


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.report", description=report.__doc__.split("\n\n")[0]
    )
    parser.add_argument("--runs-dir", default="runs/report")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--settings", default=",".join(BY_NAME), help="comma-separated")
    parser.add_argument(
        "--worlds",
        default=",".join(WORLD_BY_NAME),
        help="comma-separated: train only the settings of these worlds",
    )
    parser.add_argument("--epoch-scale", type=float, default=EPOCH_SCALE)
    parser.add_argument("--output", default=str(REPO / "experiments" / "RESULTS.md"))
    parser.add_argument("--aggregate-only", action="store_true")
    parser.add_argument(
        "--check-dir", default=None, help="the 2x-budget runs (default: <runs-dir>_x2)"
    )
    parser.add_argument(
        "--no-diagnostics",
        action="store_true",
        help="skip the diagnostics that load models (scale, refiner): quick, tables only",
    )
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    unknown = [n for n in args.settings.split(",") if n not in BY_NAME]
    if unknown:
        print(f"error: unknown settings {unknown}; known: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    worlds = [w for w in args.worlds.split(",") if w.strip()]
    unknown = [w for w in worlds if w not in WORLD_BY_NAME]
    if unknown:
        print(
            f"error: unknown worlds {unknown}; known: {', '.join(WORLD_BY_NAME)}", file=sys.stderr
        )
        return 2
    settings = [BY_NAME[n] for n in args.settings.split(",") if BY_NAME[n].world in worlds]
    if not settings:
        print("error: no setting of --settings is in --worlds", file=sys.stderr)
        return 2
    runs_dir = Path(args.runs_dir)
    if not args.aggregate_only:
        train_all(settings, seeds, runs_dir, args.epoch_scale, args.dry_run)
        if args.dry_run:
            return 0
    check_dir = Path(args.check_dir) if args.check_dir else None
    aggregate(
        runs_dir,
        seeds,
        Path(args.output),
        args.epoch_scale,
        diagnose=not args.no_diagnostics,
        check_dir=check_dir,
    )
    print(f"wrote {args.output}")
    return 0
