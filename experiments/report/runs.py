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


def command(setting: Setting, seed: int, runs_dir: Path, epoch_scale: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "experiments.run",
        f"--config={setting.config}",
        f"--workdir={runs_dir / setting.name / f'seed{seed}'}",
        f"--config.seed={seed}",
        f"--config.stages.epoch_scale={epoch_scale}",
        f"--config.eval.test_samples_each_epoch={TEST_SAMPLES_EACH_EPOCH}",
        "--config.train.progress=False",
        *setting.overrides,
    ]


def train_all(settings, seeds, runs_dir: Path, epoch_scale: float, dry_run: bool) -> None:
    # Seed-major, in the order given: an interrupted report has whole seeds of every setting.
    todo = [(s, k) for k in seeds for s in settings]
    for i, (setting, seed) in enumerate(todo):
        workdir = runs_dir / setting.name / f"seed{seed}"
        cmd = command(setting, seed, runs_dir, epoch_scale)
        shown = " ".join(["python", *cmd[1:]])
        if dry_run:
            print(shown)
            continue
        if (workdir / "results.json").exists():
            print(f"[{i + 1}/{len(todo)}] {setting.name} seed {seed}: done, skipped", flush=True)
            continue
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"[{i + 1}/{len(todo)}] {setting.name} seed {seed}: {shown}", flush=True)
        t0 = time.time()
        with open(workdir / "report.log", "a") as log:
            rc = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        wall = time.time() - t0
        if rc != 0:
            print(f"  failed (exit {rc}); see {workdir / 'report.log'}", flush=True)
            continue
        # Wall time of this (last) invocation; a resumed run's earlier part is not counted.
        atomic_io.write_files(
            {workdir / "wall.json": atomic_io.json_bytes({"wall_seconds": round(wall, 1)})}
        )
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
    return run


def read_runs(runs_dir: Path, seeds: Sequence[int]) -> tuple[dict[str, list[dict]], list[str]]:
    """({setting: [run, ...] in seed order, each with its 'seed'}, ['<setting>/seed<k>' not
    finished]) for every setting of SETTINGS under `runs_dir/<setting>/seed<k>`."""
    runs: dict[str, list[dict]] = {}
    missing = []
    for st in SETTINGS:
        for seed in seeds:
            run = read_run(runs_dir / st.name / f"seed{seed}")
            if run is None:
                missing.append(f"{st.name}/seed{seed}")
                continue
            run["seed"] = seed
            runs.setdefault(st.name, []).append(run)
    return runs, missing


def default_check_dir(runs_dir: Path) -> Path:
    """Where the budget check's 2x runs live: `<runs-dir>_x2` (runs/report -> runs/report_x2)."""
    return runs_dir.with_name(runs_dir.name + "_x2")
