"""Running the report's runs (`experiments.run` per setting and seed, resumable) and reading
the finished ones back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cpose_jax import atomic_io
from experiments.report.settings import REPO, SETTINGS, TEST_SAMPLES_EACH_EPOCH, Setting
from experiments.report.stats import movement_groups


def run_dir(runs_dir: Path, setting: Setting, seed: int) -> Path:
    return runs_dir / setting.name / f"seed{seed}"


def command(setting: Setting, seed: int, runs_dir: Path, epoch_scale: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "experiments.run",
        f"--config={setting.config}",
        f"--workdir={run_dir(runs_dir, setting, seed)}",
        f"--config.seed={seed}",
        f"--config.stages.epoch_scale={epoch_scale}",
        f"--config.eval.test_samples_each_epoch={TEST_SAMPLES_EACH_EPOCH}",
        "--config.train.progress=False",
        *setting.overrides,
    ]


#: Where a run's per-movement scores go: `<run>/eval/evaluation.json` (`experiments.evaluate`).
EVAL_DIR = "eval"


def evaluate_command(setting: Setting, seed: int, runs_dir: Path) -> list[str]:
    """Scores a finished run's selected model on its world's test sets, per movement."""
    return score_command(run_dir(runs_dir, setting, seed))


def score_command(workdir: Path) -> list[str]:
    """`experiments.evaluate` of the run in `workdir` into `<workdir>/eval` (per movement)."""
    return [
        sys.executable,
        "-m",
        "experiments.evaluate",
        f"--workdir={workdir}",
        f"--output={workdir / EVAL_DIR}",
        "--overwrite",
    ]


def shown(cmd: Sequence[str]) -> str:
    """A command as a user types it."""
    return " ".join(["python", *cmd[1:]])


def call(cmd: Sequence[str], workdir: Path) -> tuple[int, float]:
    """Runs `cmd` from the repository, appending its output to `<workdir>/report.log`; returns
    (exit status, wall seconds)."""
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with open(workdir / "report.log", "a") as log:
        rc = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    return rc, time.time() - t0


def train_all(settings, seeds, runs_dir: Path, epoch_scale: float, dry_run: bool) -> None:
    """Trains every (setting, seed) not finished yet, then scores the `by_movement` settings'
    runs per movement where that is not done yet; `dry_run` prints the commands instead."""
    # Seed-major, in the order given: an interrupted report has whole seeds of every setting.
    todo = [(s, k) for k in seeds for s in settings]
    for i, (setting, seed) in enumerate(todo):
        workdir = run_dir(runs_dir, setting, seed)
        cmd = command(setting, seed, runs_dir, epoch_scale)
        scored = evaluate_command(setting, seed, runs_dir) if setting.by_movement else None
        if dry_run:
            print("\n".join(shown(c) for c in (cmd, scored) if c))
            continue
        head = f"[{i + 1}/{len(todo)}] {setting.name} seed {seed}"
        if (workdir / "results.json").exists():
            print(f"{head}: done, skipped", flush=True)
        else:
            print(f"{head}: {shown(cmd)}", flush=True)
            rc, wall = call(cmd, workdir)
            if rc != 0:
                print(f"  failed (exit {rc}); see {workdir / 'report.log'}", flush=True)
                continue
            # Wall time of this (last) invocation; a resumed run's earlier part is not counted.
            atomic_io.write_files(
                {workdir / "wall.json": atomic_io.json_bytes({"wall_seconds": round(wall, 1)})}
            )
            print(f"  {wall / 60:.1f} min", flush=True)
        if scored and not (workdir / EVAL_DIR / "evaluation.json").exists():
            print(f"{head}: per movement: {shown(scored)}", flush=True)
            rc, wall = call(scored, workdir)
            if rc != 0:
                print(f"  failed (exit {rc}); see {workdir / 'report.log'}", flush=True)
            else:
                print(f"  {wall / 60:.1f} min", flush=True)


def read_run(workdir: Path) -> dict | None:
    """One finished run: final metrics, selection, budget, wall time and curves."""
    res_path = workdir / "results.json"
    if not res_path.exists():
        return None
    res = json.loads(res_path.read_text())
    run = {"results": res["results"], "model": res["model"], "train_s": res["train_seconds"]}
    wall = workdir / "wall.json"
    run["wall_s"] = json.loads(wall.read_text())["wall_seconds"] if wall.exists() else None
    run["stages"] = res["stages"]  # [{name, epochs, steps_per_epoch}], as experiments.run ran
    run["batch"] = res["batch_size"]
    rows = []
    metrics_path = workdir / "metrics.jsonl"
    if metrics_path.exists():
        for line in metrics_path.read_text().splitlines():
            if line.strip():
                rows.append(json.loads(line))
    run["curve"] = [r for r in rows if "val/mpjpe" in r]
    run["train_rows"] = [r for r in rows if any(k.startswith("train/") for k in r)]
    run["best_step"] = res["selected"]["step"] if "select_metric" in res["selected"] else None
    run["movements"] = read_movements(workdir / EVAL_DIR / "evaluation.json")
    return run


def read_per_action(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """{set: {movement: metrics}} from a run's `experiments.evaluate` output (ground-truth 2D,
    the full model), for the sets it scored per movement; {} when it is not there."""
    if not path.exists():
        return {}
    (model,) = json.loads(path.read_text())["models"].values()
    return {
        set_name: res["gt"]["per_action"]
        for set_name, res in model["results"].items()
        if res.get("gt", {}).get("per_action")
    }


def read_movements(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """{set: {movement group: metrics}}: `read_per_action` pooled into the movement groups."""
    return {s: movement_groups(pa) for s, pa in read_per_action(path).items()}


def read_runs(runs_dir: Path, seeds: Sequence[int]) -> tuple[dict[str, list[dict]], list[str]]:
    """({setting: [run, ...] in seed order, each with its 'seed'}, ['<setting>/seed<k>' not
    finished]) for every setting of SETTINGS under `runs_dir/<setting>/seed<k>`."""
    runs: dict[str, list[dict]] = {}
    missing = []
    for st in SETTINGS:
        for seed in seeds:
            run = read_run(run_dir(runs_dir, st, seed))
            if run is None:
                missing.append(f"{st.name}/seed{seed}")
                continue
            run["seed"] = seed
            runs.setdefault(st.name, []).append(run)
    return runs, missing


def default_check_dir(runs_dir: Path) -> Path:
    """Where the budget check's 2x runs live: `<runs-dir>_x2` (runs/report -> runs/report_x2)."""
    return runs_dir.with_name(runs_dir.name + "_x2")
