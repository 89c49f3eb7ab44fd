"""Leave one movement family out: how well the model lifts a movement it never saw.

For each family of `cpose_jax.data.synthetic_motion.FAMILIES` asked for, one run trains on a
world whose training splits (lab_train, lab_val, wild_2d) leave that family out
(`--config.data.synthetic.held_out=<family>`), and one reference run trains on the whole
world; the test splits are the same in every run. Each run's selected model is scored per
movement (`experiments.evaluate`), and the family's test poses are compared: the error when
held out over the error when trained with it (1.0 = as good as seen).

    python -m experiments.holdout --workdir=runs/holdout                # every family, seed 0
    python -m experiments.holdout --workdir=runs/holdout --families floor,dance --seeds 0,1
    python -m experiments.holdout --workdir=runs/holdout --aggregate-only
    python -m experiments.holdout --workdir=runs/holdout --dry-run      # print the commands

Runs go to `<workdir>/<family or 'all'>/seed<k>`; a finished run (its `results.json`) and a
scored one (`eval/evaluation.json`) are skipped, an interrupted one resumes, so re-running
after a crash loses nothing. Every run gets the same overrides: the seed, `--epoch-scale`
(default the report's budget, 0.03) and any `--set KEY=VALUE` (config overrides). Writes
`<workdir>/holdout.json` and `holdout.md`: per family and test set, PA-MPJPE and MPJPE trained
with / held out, their ratio, and the number of test poses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cpose_jax import atomic_io
from cpose_jax.data import synthetic_motion
from experiments.report import runs as report_runs
from experiments.report.settings import EPOCH_SCALE

#: The reference run (trained on every family).
REFERENCE = "all"
#: Test sets scored per family: the phone-like wild test and the second rig.
SETS = ("wild_test", "rig2_test")
METRICS = ("pa_mpjpe", "mpjpe")
CONFIG = "experiments/joint.py"


def run_dir(workdir: Path, family: str, seed: int) -> Path:
    return workdir / family / f"seed{seed}"


def train_command(
    workdir: Path, family: str, seed: int, epoch_scale: float, overrides: Sequence[str]
) -> list[str]:
    held = [] if family == REFERENCE else [f"--config.data.synthetic.held_out={family}"]
    return [
        sys.executable,
        "-m",
        "experiments.run",
        f"--config={CONFIG}",
        f"--workdir={run_dir(workdir, family, seed)}",
        f"--config.seed={seed}",
        f"--config.stages.epoch_scale={epoch_scale}",
        "--config.train.progress=False",
        *held,
        *(f"--config.{o}" for o in overrides),
    ]


def run_all(workdir, families, seeds, epoch_scale, overrides, *, dry_run=False) -> list[str]:
    """Trains and scores every (family, seed) not done yet; returns the failures."""
    failed = []
    todo = [(f, k) for k in seeds for f in (REFERENCE, *families)]
    for i, (family, seed) in enumerate(todo):
        d = run_dir(workdir, family, seed)
        train = train_command(workdir, family, seed, epoch_scale, overrides)
        score = report_runs.score_command(d)
        if dry_run:
            print(report_runs.shown(train) + "\n" + report_runs.shown(score))
            continue
        head = f"[{i + 1}/{len(todo)}] {family} seed {seed}"
        for what, cmd, done in (
            ("train", train, d / "results.json"),
            ("score", score, d / report_runs.EVAL_DIR / "evaluation.json"),
        ):
            if done.exists():
                continue
            print(f"{head} {what}: {report_runs.shown(cmd)}", flush=True)
            rc, wall = report_runs.call(cmd, d)
            if rc != 0:
                print(f"  failed (exit {rc}); see {d / 'report.log'}", flush=True)
                failed.append(f"{family}/seed{seed}")
                break
            print(f"  {wall / 60:.1f} min", flush=True)
    return failed


def family_scores(per_action: dict, family: str) -> dict[str, float] | None:
    """Pose-weighted means of `METRICS` over the family's movements in one set's
    `per_action` scores, with 'num_samples'; None when the set has none of its poses."""
    parts = [per_action[m] for m in synthetic_motion.FAMILIES[family] if m in per_action]
    n = sum(p["num_samples"] for p in parts)
    if not n:
        return None
    out = {k: sum(p[k] * p["num_samples"] for p in parts) / n for k in METRICS}
    out["num_samples"] = n
    return out


def _per_action(run: Path) -> dict[str, dict]:
    return report_runs.read_per_action(run / report_runs.EVAL_DIR / "evaluation.json")


def aggregate(workdir: Path, families: Sequence[str], seeds: Sequence[int]) -> dict:
    """{family: {set: {'seeds': [...], 'with': {metric: [..]}, 'without': {..}, 'ratio': {..},
    'num_samples': n}}} over the seeds whose reference and held-out runs are both scored."""
    out = {}
    for family in families:
        rows = {}
        for seed in seeds:
            ref = _per_action(run_dir(workdir, REFERENCE, seed))
            held = _per_action(run_dir(workdir, family, seed))
            for s in SETS:
                a = family_scores(ref.get(s, {}), family)
                b = family_scores(held.get(s, {}), family)
                if a is None or b is None:
                    continue
                row = rows.setdefault(
                    s,
                    dict(
                        seeds=[],
                        num_samples=a["num_samples"],
                        ratio={},
                        **{"with": {}, "without": {}},
                    ),
                )
                row["seeds"].append(seed)
                for m in METRICS:
                    row["with"].setdefault(m, []).append(a[m])
                    row["without"].setdefault(m, []).append(b[m])
                    row["ratio"].setdefault(m, []).append(b[m] / a[m])
        if rows:
            out[family] = rows
    return out


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def markdown(result: dict, *, limit: float = 1.3) -> str:
    lines = [
        "# Leave one movement family out",
        "",
        "Per family and test set: the family's test poses scored by the model trained on every",
        "family (with) and by the model whose training splits never showed it (held out), mean",
        f"over seeds; ratio = held out / with (the target is at most {limit}).",
        "",
        "| family | set | poses | seeds | PA-MPJPE with | held out | ratio "
        "| MPJPE with | held out | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family, rows in result.items():
        for s, r in rows.items():
            cells = []
            for m in METRICS:
                ratio = _mean(r["ratio"][m])
                mark = "" if ratio <= limit else " ✗"
                cells += [
                    f"{_mean(r['with'][m]):.1f}",
                    f"{_mean(r['without'][m]):.1f}",
                    f"{ratio:.2f}{mark}",
                ]
            seeds = ",".join(str(k) for k in r["seeds"])
            lines.append(
                f"| {family} | {s} | {r['num_samples']} | {seeds} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.holdout",
        description="Leave one movement family out of training; score it against a run "
        "trained on every family.",
    )
    ap.add_argument("--workdir", required=True, type=Path)
    ap.add_argument(
        "--families",
        default=",".join(synthetic_motion.FAMILIES),
        help="comma-separated families (default: all: %(default)s)",
    )
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (default %(default)s)")
    ap.add_argument("--epoch-scale", type=float, default=EPOCH_SCALE)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every run, e.g. --set data.synthetic.lab_rare=False",
    )
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--aggregate-only", action="store_true", help="only write the tables")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in synthetic_motion.FAMILIES]
    if unknown:
        print(f"unknown families {unknown}; families are {tuple(synthetic_motion.FAMILIES)}")
        return 2
    try:
        seeds = [int(k) for k in args.seeds.split(",") if k.strip()]
    except ValueError:
        print(f"--seeds must be comma-separated integers, got {args.seeds!r}")
        return 2
    for o in args.set:
        if "=" not in o:
            print(f"--set needs KEY=VALUE, got {o!r}")
            return 2
    failed = []
    if not args.aggregate_only:
        failed = run_all(
            args.workdir, families, seeds, args.epoch_scale, args.set, dry_run=args.dry_run
        )
        if args.dry_run:
            return 0
    result = aggregate(args.workdir, families, seeds)
    table = markdown(result)
    atomic_io.write_files(
        {
            args.workdir / "holdout.json": atomic_io.json_bytes(result),
            args.workdir / "holdout.md": table.encode(),
        }
    )
    print(table)
    if failed:
        print(f"failed runs: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
