"""The experiment report: Tables 4 and 5 on the synthetic world over seeds, the criteria that
decide whether ours beats PoseAug (computed from them), a check at twice the budget, and
Table 4 in a second world whose lab never shows the rare movements, scored per movement.

    python -m experiments.report                      # train every run (resumable), write report
    python -m experiments.report --aggregate-only     # re-write the report from finished runs
    python -m experiments.report --dry-run            # print the commands
    python -m experiments.report --worlds lab_rare_false  # only the second world's runs
    python -m experiments.report --runs-dir runs/report_x2 --epoch-scale 0.06 --seeds 0 \\
        --settings supervised,poseaug,joint_paper,joint \\
        --output runs/report_x2/RESULTS.md                # the budget check's runs (2x)

Runs `experiments.run` once per (setting, seed), seed-major, into
`<runs-dir>/<setting>/seed<k>` (default `runs/report`; the second world's settings are named
`lab_rare_false/<setting>`); a finished run (its `results.json` exists) is skipped and an
interrupted one resumes, so re-running the command after a crash loses nothing. The run of
every Table 4 row (ground-truth 2D, methods and controls, in both worlds) is then scored per
movement by `experiments.evaluate` into `<run>/eval/evaluation.json`, once. Then it reads every
run's `results.json` (the model selected on lab validation), `metrics.jsonl` (the validation
curve, the test sets scored at every validation with `eval.test_samples_each_epoch`, and the
generator's fake statistics) and per-movement scores, and writes, all at once:

* `RESULTS.md` (`--output`, default `experiments/RESULTS.md`): what every row is; Table 4
  (ground-truth 2D: the methods, then two controls) and Table 5 (detected 2D, with and without
  the refiner), mean ± std over seeds; Table 4 in the world of
  `--config.data.synthetic.lab_rare=False` (ours, ours without 2D-only data, PoseAug with the
  size-blind input), wild_test by movement group (rare / everyday / sport) in both worlds and
  the paired per-seed differences there (`WORLD_COMPARISONS`); the **Decision**: the criteria
  (`CRITERIA`) evaluated per seed, PASS / FAIL / PENDING with the counts; paired per-seed
  differences that split ours' gain (`COMPARISONS`); the **budget check**: seed 0 at the report
  budget and at 2x (`--check-dir`, default `<runs-dir>_x2`) and whether the ranking of the Table
  4 methods moves; model selection vs a test-set oracle; the scale / rotation / pose
  decomposition and the scale diagnostic; the generator's fakes; the refiner diagnostic; curves;
  budget and wall time; the analysis written by hand in `experiments/report_analysis.md` (kept
  separate so a regeneration refreshes every number without touching the prose, which cites
  them);
* `results/` beside it: `summary.json` (every number of every run, the decision, the budget
  check, the per-movement scores and differences, the diagnostics), `curves.png`,
  `curves_detected.png` (seed 0's validation curves), `error_decomposition.png`,
  `scale_diagnostic.png`, `fakes.png` (the fakes over training).

`--no-diagnostics` skips the two diagnostics that load models and predict (seconds instead of
minutes). Every setting gets the same overrides (`command`): the seed, the report's epoch scale
and the test tracking; within a world (`data.synthetic.seed = 0`, and `lab_rare` for the
second) the data are the same for all, so seeds vary the initialisation, data order, dropout
and GAN noise only. `--worlds` and `--settings` pick the runs to train (both default to all);
the report always covers every run present.

The modules: `settings` (the worlds and rows: config, overrides, table; the budget), `runs`
(training, scoring per movement and reading the runs), `stats` (means over seeds, paired
changes, the budget check's rankings, movement groups),
`criteria` (the decision), `tables`, `figures`, `diagnostics` (the two that load models),
`markdown` (RESULTS.md's sections), `aggregation` (everything written at once) and `cli`.
"""

from experiments.report.aggregation import aggregate
from experiments.report.cli import main
from experiments.report.criteria import (
    COMPARISONS,
    CRITERIA,
    Check,
    Criterion,
    decide,
    evaluate_criterion,
)
from experiments.report.diagnostics import refiner_diagnostic, scale_diagnostic
from experiments.report.runs import command, default_check_dir, read_run, read_runs, train_all
from experiments.report.settings import (
    BY_NAME,
    REPO,
    SETTINGS,
    TABLE4_ROWS,
    TABLE5_ROWS,
    Setting,
    setting_facts,
)
from experiments.report.stats import (
    budget_check,
    fmt,
    mean_std,
    paired_changes,
    paired_diff,
)
from experiments.report.tables import decision_table

__all__ = [
    "BY_NAME",
    "COMPARISONS",
    "CRITERIA",
    "REPO",
    "SETTINGS",
    "TABLE4_ROWS",
    "TABLE5_ROWS",
    "Check",
    "Criterion",
    "Setting",
    "aggregate",
    "budget_check",
    "command",
    "decide",
    "decision_table",
    "default_check_dir",
    "evaluate_criterion",
    "fmt",
    "main",
    "mean_std",
    "paired_changes",
    "paired_diff",
    "read_run",
    "read_runs",
    "refiner_diagnostic",
    "scale_diagnostic",
    "setting_facts",
    "train_all",
]
