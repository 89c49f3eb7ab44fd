"""Train (all stages of a config) and evaluate; re-running the same command resumes.

    python -m experiments.run --config=experiments/joint.py [--workdir=DIR] [--config.KEY=VALUE]

* `--config=FILE[:VARIANTS]`: an experiment file with `get_config(arg)`; variants are
  comma-separated (`experiments/joint.py:smoke`, `experiments/joint.py:detected,no_refiner`).
  Every key is declared; `--config.train.batch_size=512` overrides one (type-checked), an
  unknown key is an error.
* `--workdir` (default `runs/<config name>`): checkpoints (`checkpoints/`, `best/`), the config
  (`config.json`), `metrics.jsonl`, TensorBoard events (`tb/`) and the final tables
  (`results.md`, `results.json`). Running the same command again resumes from the last
  checkpoint (mid-stage, exactly: data order and randomness are functions of the step). A
  finished run only re-evaluates. `--fresh` deletes the workdir first.
* The final evaluation uses the best model by validation MPJPE (the paper's single-model
  selection on the Human3.6M-like validation split), or the last state when no validation ran.

Data parallelism (one SPMD program over every device of every process; the global batch
`train.batch_size` is split across devices, state replicated; results equal a 1-device run):

* One machine with several GPUs: nothing to do, one process uses all local GPUs
  (`CUDA_VISIBLE_DEVICES` selects them; `--config.train.num_devices=N` uses the first N).
* Several processes / hosts (GPU cluster): start the same command on every host with
  `--coordinator_address=HOST0:PORT --num_processes=N --process_id=I` (or the environment
  variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID). Each process loads the
  datasets and feeds its own rows of every global batch; the workdir must be shared storage
  (all processes write their part of each checkpoint), only process 0 logs.
* TPU pod slice: run on all workers at once, JAX finds the topology itself:
  `gcloud compute tpus tpu-vm ssh NAME --worker=all --command="cd cpose_jax &&
  python -m experiments.run --config=experiments/joint.py:paper --distributed=auto
  --workdir=/mnt/nfs/run"` (`--distributed=auto` calls `jax.distributed.initialize()` without
  arguments; same for SLURM / Open MPI launches).
* CPU-only test of the multi-process path: two processes on localhost with
  `--coordinator_address=127.0.0.1:PORT --coordinator_bind_address=127.0.0.1:PORT` (gloo).

Exit status: 0 done, 1 a non-finite loss (message names network, loss and step; the last good
checkpoint is kept), 2 a config error.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file[:variants].", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory (default runs/<config name>).")
_FRESH = flags.DEFINE_bool("fresh", False, "Delete the workdir before starting.")
_COORD = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_BIND = flags.DEFINE_string("coordinator_bind_address", None, "Bind address of the coordinator.")
_NPROC = flags.DEFINE_integer("num_processes", None, "Number of processes.")
_PID = flags.DEFINE_integer("process_id", None, "This process's index.")
_DIST = flags.DEFINE_enum(
    "distributed",
    "env",
    ["env", "auto", "off"],
    "env: initialize from flags/JAX_* variables if given; auto: jax.distributed.initialize() "
    "(TPU pods, SLURM); off: single process.",
)


def _config_error(message: str):
    """A config problem: one line on stderr, exit status 2 (nothing has been written)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _config_path(argv) -> str | None:
    for i, a in enumerate(argv[1:], 1):
        if a.startswith("--config="):
            return a.split("=", 1)[1]
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _parse_flags(argv):
    """absl flag parsing with one-line messages (ml_collections otherwise prints tracebacks:
    an unknown key, a missing config file, an error inside `get_config`)."""
    path = _config_path(argv)
    if path is not None:
        file = path.split(":", 1)[0]
        if not file:
            _config_error("--config: empty path (give experiments/<name>.py[:variants])")
        if not Path(file).is_file():
            _config_error(f"--config: no such config file {file!r}")
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        # The config file's own error (e.g. an unknown variant) is the last line of the
        # traceback ml_collections embeds in the message.
        lines = [x.strip() for x in str(e).splitlines() if x.strip()]
        head = lines[0].split(": Error whilst parsing config file")[0]
        last = lines[-1].split(": ", 1)[-1] if len(lines) > 1 else ""
        _config_error(f"{head}: {last}" if last else head)
    except (AttributeError, KeyError) as e:
        bad = [a for a in argv[1:] if a.startswith("--config.")]
        _config_error(
            f"unknown config key {e} in {' '.join(bad) or 'the overrides'}; "
            "every key is declared in experiments/configs_common.py"
        )
    except (ValueError, TypeError, OSError) as e:  # e.g. unknown variant token
        _config_error(str(e).strip().splitlines()[-1])


def _check_workdir(workdir: Path, config) -> None:
    """Refuses a workdir whose checkpoints were trained with another architecture (its
    `config.json` would no longer describe them and the restore would fail in orbax)."""
    old_file = workdir / "config.json"
    if not old_file.is_file() or not any(
        (workdir / d).is_dir() and any((workdir / d).iterdir()) for d in ("checkpoints", "best")
    ):
        return
    try:
        old = json.loads(old_file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        _config_error(f"{old_file}: unreadable ({type(e).__name__}); use --fresh to start over")
    new = json.loads(config.to_json_best_effort())
    diffs = []

    def compare(a, b, key):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                compare(a.get(k), b.get(k), f"{key}.{k}")
        elif a != b:
            diffs.append(f"{key[1:]} {a!r} -> {b!r}")

    def has_gan(cfg: dict) -> bool:  # the GAN networks are in the state iff a stage is 'gan'
        stages = cfg.get("stages", {})
        order = [s.strip() for s in str(stages.get("order", "")).split(",") if s.strip()]
        return any(
            isinstance(stages.get(s), dict) and stages[s].get("kind") == "gan" for s in order
        )

    for section in ("model", "skeleton"):
        compare(old.get(section), new.get(section), f".{section}")
    if has_gan(old) != has_gan(new):
        diffs.append(f"GAN networks {has_gan(old)} -> {has_gan(new)} (stages.order)")
    if diffs:
        _config_error(
            f"{workdir} holds checkpoints of another architecture ({'; '.join(diffs[:3])}"
            f"{'; ...' if len(diffs) > 3 else ''}); use another --workdir or --fresh"
        )


def _init_distributed():
    from cpose_jax.train import parallel

    if _DIST.value == "off":
        return False
    if _DIST.value == "auto":
        os.environ["JAX_AUTO_DISTRIBUTED"] = "1"
    return parallel.initialize_distributed(
        coordinator_address=_COORD.value,
        num_processes=_NPROC.value,
        process_id=_PID.value,
        coordinator_bind_address=_BIND.value,
    )


def _killer(step: int):
    """Testing aid (train.kill_at_step): SIGKILL this process after that global step."""
    if not step:
        return None

    def after_step(done: int) -> None:
        if done == step:
            os.kill(os.getpid(), signal.SIGKILL)  # a simulated preemption

    return after_step


def main(argv):
    del argv
    absl_logging.set_verbosity(absl_logging.WARNING)  # orbax logs every save/restore at INFO
    _init_distributed()
    import jax

    try:
        config = _CONFIG.value
        if config is None:
            _config_error("--config is required")
        name = config.name
    except OSError as e:  # ml_collections' deferred "failed loading config file"
        _config_error(str(e).strip().splitlines()[0])
    from experiments import build, configs_common

    # Every config problem is reported (one line, exit 2) before anything is written.
    try:
        configs_common.check_config(config)
    except ValueError as e:
        _config_error(str(e))
    if config.train.num_devices > jax.device_count():
        _config_error(
            f"config: train.num_devices={config.train.num_devices} but only "
            f"{jax.device_count()} device(s) are available"
        )
    workdir = Path(_WORKDIR.value or f"runs/{name}")
    main_process = jax.process_index() == 0
    if not _FRESH.value:
        _check_workdir(workdir, config)
    if config.train.compilation_cache:
        cache = config.train.compilation_cache
        if cache == "default":
            root = os.environ.get("CPOSE_CACHE_DIR") or os.path.expanduser("~/.cache/cpose_jax")
            cache = os.path.join(root, "xla")
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

    from cpose_jax import atomic_io, evaluation
    from cpose_jax.data.schema import DatasetError
    from cpose_jax.train import checkpoint, loop, parallel

    t0 = time.time()
    try:
        run = build.build_run(config, verbose=main_process)
    except (build.ConfigError, DatasetError) as e:
        _config_error(str(e).replace("\n", " "))
    if _FRESH.value and main_process and workdir.exists():
        shutil.rmtree(workdir)
    if main_process:
        # model_spec.json is what cpose_jax.inference.load_pose_model reads.
        atomic_io.write_files(
            {
                workdir / "config.json": config.to_json_best_effort(indent=1),
                workdir / "model_spec.json": atomic_io.json_bytes(build.model_spec(config)),
            }
        )
    workdir.mkdir(parents=True, exist_ok=True)
    say = print if main_process else (lambda *a, **k: None)
    say(
        f"config {config.name}: devices {run.mesh.devices.size} "
        f"({jax.process_count()} process(es)), networks {', '.join(run.modules)}, "
        f"stages {', '.join(f'{s.name}:{s.epochs}x{s.steps_per_epoch}' for s in run.stages)}, "
        f"train pairs {len(run.data.paired['pose_3d'])}, workdir {workdir}"
    )
    options = loop.LoopOptions(
        workdir=str(workdir),
        seed_key=parallel.replicate(jax.random.PRNGKey(config.seed), run.mesh),  # raw uint32
        meta={"config": json.loads(config.to_json_best_effort())},
        sync_every=config.train.sync_every,
        checkpoint_every=config.train.checkpoint_every,
        keep=config.train.keep_checkpoints,
        validate_fn=run.validate_fn,
        state_sharding=parallel.replicated(run.mesh),
        progress=config.train.progress,
        tensorboard=config.train.tensorboard,
        after_step=_killer(config.train.kill_at_step),
    )
    try:
        result = loop.run_stages(run.state, run.stages, options)
    except (loop.NonFiniteLossError, checkpoint.CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    if result.resumed_from is not None:
        say(f"resumed from step {result.resumed_from}")
    t_train = time.time() - t0

    final_step = int(jax.device_get(result.state.step))
    state, which = result.state, f"final state (step {final_step})"
    selected = {"step": final_step, "stage": run.stages[-1].name, "epoch": run.stages[-1].epochs}
    ckpt = checkpoint.Checkpointer(workdir, keep=config.train.keep_checkpoints)
    best = ckpt.restore_best(result.state)
    if best is not None:
        state, meta = best
        which = (
            f"best by {meta['select_metric']} = {meta['best_metric']:.2f} mm "
            f"(step {meta['step']}, stage {meta['stage']}, epoch {meta['epoch']})"
        )
        selected = {k: meta[k] for k in ("step", "stage", "epoch", "select_metric", "best_metric")}
    ckpt.close()
    results = run.evaluate_fn(state)
    table = evaluation.results_table(results)
    header = (
        f"## {config.name}: {which}\n\n"
        f"input 2D: {config.data.input_2d}; flip test-time augmentation: {config.eval.flip}\n\n"
    )
    say("\n" + header + table + "\n")
    if main_process:
        summary = {
            "config": config.name,
            "model": which,
            "selected": selected,  # the evaluated checkpoint
            "stages": [
                {"name": s.name, "epochs": s.epochs, "steps_per_epoch": s.steps_per_epoch}
                for s in run.stages
            ],
            "batch_size": config.train.batch_size,
            "two_d_only_batch_size": config.train.two_d_only_batch_size,
            "results": evaluation.summarize_for_json(results),
            "train_seconds": round(t_train, 1),
        }
        atomic_io.write_files(
            {
                workdir / "results.md": header + table + "\n",
                workdir / "results.json": atomic_io.json_bytes(atomic_io.finite_or_null(summary)),
            }
        )
    say(f"done in {time.time() - t0:.0f} s (training {t_train:.0f} s); results in {workdir}")


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
