"""experiments.report: aggregation over seeds, the decision's criteria, the budget check, the
selection gap and the fakes (fake run dirs and fake per-seed results)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from experiments import report
from experiments.report import markdown, stats


def _res(mpjpe, pa, scale=1.0, pck=None):
    out = {
        "mpjpe": mpjpe,
        "n_mpjpe": 0.5 * (mpjpe + pa),
        "pa_mpjpe": pa,
        "log_scale": math.log(scale),
        "log_scale_sq": math.log(scale) ** 2,
        "num_samples": 8,
    }
    if pck is not None:
        out.update(pck=pck, auc=pck / 2)
    return out


def _write_run(
    root, name, seed, wild, lab=50.0, curve=None, best_step=20, train_rows=(), per_action=None
):
    """A finished run as `experiments.run` leaves it; with `per_action` ({movement: metrics} on
    wild_test) also its per-movement scores as `experiments.evaluate` writes them."""
    d = root / name / f"seed{seed}"
    d.mkdir(parents=True)
    if per_action is not None:
        (d / "eval").mkdir()
        gt = {**_res(wild, 100.0), "per_action": per_action}
        model = {"workdir": str(d), "config": name, "results": {"wild_test": {"gt": gt}}}
        doc = {"flip": False, "sets": {}, "models": {name: model}}
        (d / "eval" / "evaluation.json").write_text(json.dumps(doc))
    results = {
        "lab_val": _res(lab, 40.0),
        "rig2_test": _res(120.0, 80.0, pck=70.0),
        "wild_test": _res(wild, 100.0, scale=1.1),
        "wild_stress_test": _res(wild + 80.0, 150.0, scale=1.2),
    }
    model = f"best by val/mpjpe = {lab:.2f} mm (step {best_step}, stage end_to_end, epoch 2)"
    selected = {"step": best_step, "stage": "end_to_end", "epoch": 2}
    selected |= {"select_metric": "val/mpjpe", "best_metric": lab}
    stages = [
        {"name": "warmup", "epochs": 2, "steps_per_epoch": 10},
        {"name": "end_to_end", "epochs": 3, "steps_per_epoch": 10},
    ]
    doc = {"config": name, "model": model, "selected": selected, "stages": stages}
    doc |= {"batch_size": 256, "results": results, "train_seconds": 60}
    (d / "results.json").write_text(json.dumps(doc))  # the fields experiments.run writes
    (d / "wall.json").write_text(json.dumps({"wall_seconds": 120.0 + seed}))
    rows = [{"step": 5, "train/lifter/loss": 1.0}, *train_rows] + (curve or [])
    (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def _fake_rows(depths):
    """Training rows with the generator's fake statistics, one per step (depth varies)."""
    return [
        {
            "step": 6 + i,
            "train/generator/fake_root_depth_median": d,
            "train/generator/fake_extent_ratio": 0.5,
            "train/generator/fake_torso_down_fraction": 0.25,
            "train/generator/usable_fraction": 0.75,
        }
        for i, d in enumerate(depths)
    ]


def test_aggregate_tables_decision_and_selection(tmp_path):
    runs = tmp_path / "runs"
    wild = {"poseaug": (200.0, 210.0), "joint": (190.0, 206.0)}
    for name, values in wild.items():
        for seed, w in enumerate(values):
            curve = [
                {"step": 10, "val/mpjpe": 60.0, "test/wild_test/mpjpe": w - 5},
                {"step": 20, "val/mpjpe": 50.0, "test/wild_test/mpjpe": w},
                {"step": 30, "val/mpjpe": 55.0, "test/wild_test/mpjpe": w + 3},
            ]
            # Fakes: 7 logged depths; the last END_ROWS = 5 (3..7 m) average to 5.0 m.
            rows = _fake_rows([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
            _write_run(runs, name, seed, w, curve=curve, train_rows=rows)
    # The budget check's 2x runs (seed 0 only) in the default <runs-dir>_x2: PoseAug wins there.
    _write_run(tmp_path / "runs_x2", "poseaug", 0, 150.0)
    _write_run(tmp_path / "runs_x2", "joint", 0, 160.0)
    out = tmp_path / "doc" / "RESULTS.md"
    summary = report.aggregate(runs, [0, 1], out, 0.03, diagnose=False)
    md = out.read_text()

    # mean ± sample std over the two seeds, worked out by hand: poseaug wild 205.0 ± 7.1.
    assert f"205.0 ± {np.std([200, 210], ddof=1):.1f}" in md
    assert "198.0 ± 11.3" in md  # joint wild: (190 + 206) / 2, std 11.31
    # Paired differences joint - poseaug: -10 and -4 -> -7.0 ± 4.2, lower on 2/2 seeds.
    assert "-7.0 ± 4.2 mm (lower on 2/2 seeds)" in md
    # Decision on 2 of the 5 seeds the criteria count: pending, with the per-seed changes
    # (wild MPJPE -10 / 200 = -5.0 %: seed 0 fails criterion a).
    decision = summary["decision"]
    assert decision["overall"] == "PENDING"
    assert decision["criteria"]["a"]["seeds"] == [0, 1]
    assert decision["criteria"]["a"]["passed"] == 0
    assert "-5.0 % / +0.0 % ✗" in md
    # Budget check: at the report budget joint < poseaug on wild MPJPE, at 2x the reverse.
    check = summary["budget_check"]
    assert check["rankings"]["wild_test/mpjpe"] == {
        "report": ["joint", "poseaug"],
        "x2": ["poseaug", "joint"],
        "same": False,
    }
    assert check["same"] is False and "**moves** on a measure" in md
    assert "190.0 → 160.0" in md  # joint seed 0's wild MPJPE at both budgets
    # Selection: val is best at step 20, the wild oracle is step 10 (5 mm lower).
    sel = summary["joint"][0]["selection"]["wild_test"]
    assert sel == {"selected": 190.0, "oracle": 185.0}
    assert "5.0 ± 0.0" in md
    # Scale bias of a 1.1 optimal scale: +10 %, no spread.
    assert "10.0 ± 0.0" in md
    # Fakes at the end of training: mean of the last 5 logged depths.
    assert summary["joint"][0]["fakes_at_end"]["train/generator/fake_root_depth_median"] == 5.0
    assert "| CameraPose (ours, the default) | 2 | 5.00 ± 0.00 | 0.50 ± 0.00 |" in md
    # Budget: 2*10 + 3*10 steps of 256 pairs; wall 2.0 min mean over seeds (120 s, 121 s).
    assert "| 50 | 13k | 2.0 ± 0.0 |" in md and "`warmup:2x10, end_to_end:3x10`" in md
    assert "Every run: batch 256," in md
    assert "**Missing runs**" in md and "supervised/seed0" in md
    for fig in ("curves.png", "curves_detected.png", "error_decomposition.png", "fakes.png"):
        assert (out.parent / "results" / fig).stat().st_size > 1000
    saved = json.loads((out.parent / "results" / "summary.json").read_text())
    assert saved["poseaug"][1]["seed"] == 1
    assert saved["decision"]["criteria"]["b"]["verdict"] == "PENDING"


def _results(values: dict) -> dict:
    """{setting: {seed: {set: {metric: value}}}} -> the `runs` layout `read_runs` returns."""
    return {
        name: [
            {"seed": seed, "results": res, "stages": []} for seed, res in sorted(by_seed.items())
        ]
        for name, by_seed in values.items()
    }


def _wild(mpjpe, pa):
    return {"wild_test": {"mpjpe": mpjpe, "pa_mpjpe": pa}}


CRIT_A = next(c for c in report.CRITERIA if c.key == "a")
CRIT_B = next(c for c in report.CRITERIA if c.key == "b")
CRIT_C = next(c for c in report.CRITERIA if c.key == "c")


@pytest.mark.parametrize(
    ("n_good", "verdict"), [(5, "PASS"), (4, "PASS"), (3, "FAIL"), (0, "FAIL")]
)
def test_criterion_a_counts_seeds(n_good, verdict):
    """PoseAug 200 / 100 mm on every seed; ours 150 / 90 (-25 %, -10 %) on `n_good` seeds and
    195 / 90 (-2.5 %, -10 %: the MPJPE check fails) on the others. Needs 4 of 5."""
    poseaug = {k: _wild(200.0, 100.0) for k in range(5)}
    joint = {k: _wild(150.0 if k < n_good else 195.0, 90.0) for k in range(5)}
    ev = report.evaluate_criterion(_results({"poseaug": poseaug, "joint": joint}), CRIT_A)
    assert (ev["passed"], ev["n"], ev["verdict"]) == (n_good, 5, verdict)
    assert ev["seed_passes"] == {k: k < n_good for k in range(5)}


@pytest.mark.parametrize(
    ("mpjpe", "pa", "passes"),
    [
        (180.0, 95.0, True),  # exactly 10 % and 5 % lower: at the bound, passes
        (180.2, 95.0, False),  # 9.9 % lower
        (180.0, 95.1, False),  # PA 4.9 % lower
        (100.0, 99.0, False),  # a big MPJPE gain does not buy the PA check
    ],
)
def test_criterion_a_thresholds_at_the_boundary(mpjpe, pa, passes):
    poseaug = {k: _wild(200.0, 100.0) for k in range(5)}
    joint = {k: _wild(mpjpe, pa) for k in range(5)}
    ev = report.evaluate_criterion(_results({"poseaug": poseaug, "joint": joint}), CRIT_A)
    assert ev["verdict"] == ("PASS" if passes else "FAIL")
    assert ev["passed"] == (5 if passes else 0)


@pytest.mark.parametrize(
    ("diffs", "verdict", "passed"),
    [
        ([2.0, 2.0, 2.0, 2.0, 2.0], "PASS", 5),  # mean +2.0 mm: at the bound
        ([-8.0, 5.0, 5.0, 5.0, 3.0], "PASS", 1),  # mean +2.0 mm although 4 seeds are > 2 mm
        ([2.5, 2.5, 2.5, 2.5, 0.5], "FAIL", 1),  # mean +2.1 mm
    ],
)
def test_criterion_b_is_on_the_mean_lab_difference(diffs, verdict, passed):
    lab = {"lab_val": {"mpjpe": 60.0}}
    poseaug = {k: lab for k in range(5)}
    joint = {k: {"lab_val": {"mpjpe": 60.0 + d}} for k, d in enumerate(diffs)}
    ev = report.evaluate_criterion(_results({"poseaug": poseaug, "joint": joint}), CRIT_B)
    assert ev["verdict"] == verdict and ev["passed"] == passed
    assert ev["mean"]["lab MPJPE"] == pytest.approx(np.mean(diffs))


def test_criterion_c_needs_both_sets_lower_and_a_tie_is_not_lower():
    def res(lab, wild):
        return {"lab_val": {"mpjpe": lab}, "wild_test": {"mpjpe": wild}}

    noref = {k: res(80.0, 90.0) for k in range(5)}
    # Seeds 0-2 lower on both; seed 3 lower on lab only; seed 4 ties on wild -> 3/5: FAIL.
    ref = {k: res(79.0, 89.0) for k in range(3)} | {3: res(79.0, 91.0), 4: res(79.0, 90.0)}
    ev = report.evaluate_criterion(_results({"joint_det_noref": noref, "joint_det": ref}), CRIT_C)
    assert ev["seed_passes"] == {0: True, 1: True, 2: True, 3: False, 4: False}
    assert ev["verdict"] == "FAIL"
    ref[3] = res(79.0, 89.5)  # now 4/5
    ev = report.evaluate_criterion(_results({"joint_det_noref": noref, "joint_det": ref}), CRIT_C)
    assert ev["verdict"] == "PASS"


def test_decide_pending_until_five_seeds_and_fail_dominates():
    full = {"lab_val": {"mpjpe": 60.0}, "wild_test": {"mpjpe": 100.0, "pa_mpjpe": 50.0}}
    good = {"lab_val": {"mpjpe": 60.0}, "wild_test": {"mpjpe": 80.0, "pa_mpjpe": 40.0}}
    better = {"lab_val": {"mpjpe": 59.0}, "wild_test": {"mpjpe": 79.0, "pa_mpjpe": 40.0}}
    values = {
        "poseaug": {k: full for k in range(5)},
        "joint": {k: good for k in range(5)},
        "joint_det_noref": {k: good for k in range(3)},
        "joint_det": {k: better for k in range(3)},
    }
    decision = report.decide(_results(values))
    verdicts = {k: v["verdict"] for k, v in decision["criteria"].items()}
    # c' (PoseAug's refiner, no runs) is reported, not decisive: c's 3 seeds keep it pending.
    assert verdicts == {"a": "PASS", "b": "PASS", "c": "PENDING", "c'": "PENDING"}
    assert decision["overall"] == "PENDING"
    values["joint_det_noref"] = {k: good for k in range(5)}
    values["joint_det"] = {k: better for k in range(5)}
    assert report.decide(_results(values))["overall"] == "PASS"
    values["joint"] = {k: full for k in range(5)}  # no wild gain: a fails
    decision = report.decide(_results(values))
    assert decision["overall"] == "FAIL" and decision["criteria"]["a"]["passed"] == 0
    md = report.decision_table(decision, range(5))
    assert "| 0/5 | **FAIL** |" in md and "| 5/5 | **PASS** |" in md


def test_budget_check_ranking():
    def runs(order):
        """Seed 0 of each name, wild MPJPE / PA / lab MPJPE rising in the given order."""
        return _results(
            {
                n: {
                    0: {
                        "wild_test": {"mpjpe": 100.0 + i, "pa_mpjpe": 50.0 + i},
                        "lab_val": {"mpjpe": 60.0 + i},
                    }
                }
                for i, n in enumerate(order)
            }
        )

    names = ("supervised", "poseaug", "joint")
    same = report.budget_check(
        runs(["joint", "poseaug", "supervised"]), runs(["joint", "poseaug", "supervised"]), names
    )
    assert same["same"] is True and same["ranked"] == ["supervised", "poseaug", "joint"]
    assert same["rankings"]["lab_val/mpjpe"]["x2"] == ["joint", "poseaug", "supervised"]
    moved = report.budget_check(
        runs(["joint", "poseaug", "supervised"]), runs(["poseaug", "joint", "supervised"]), names
    )
    assert moved["same"] is False
    assert not any(r["same"] for r in moved["rankings"].values())
    # Only the names present at both budgets are ranked; one name: no ranking.
    lone = report.budget_check(runs(["joint", "poseaug"]), runs(["joint"]), names)
    assert lone["ranked"] == ["joint"] and lone["same"] is None
    md = markdown._budget_check_md(runs(["joint"]), runs(["joint"]), lone, report.REPO)
    assert "no ranking to compare" in md


def test_paired_diff_relative():
    values = {"poseaug": {0: _wild(200.0, 100.0), 1: _wild(100.0, 50.0)}}
    values["joint"] = {0: _wild(180.0, 90.0), 1: _wild(80.0, 50.0), 2: _wild(1.0, 1.0)}
    runs = _results(values)
    # -10 % and -20 % on the paired seeds 0 and 1 (seed 2 has no PoseAug run).
    assert report.paired_changes(runs, "poseaug", "joint", "wild_test", relative=True) == {
        0: -10.0,
        1: -20.0,
    }
    assert report.paired_diff(runs, "poseaug", "joint", "wild_test", relative=True) == (
        f"-15.0 ± {np.std([10, 20], ddof=1):.1f} % (lower on 2/2 seeds)"
    )


def test_text_facts_come_from_the_settings_configs():
    """Stage lengths and the number of validations in the text follow the configs."""
    settings = [
        dataclasses.replace(s, overrides=(*s.overrides, "--config.stages.end_to_end.epochs=7"))
        if s.name == "joint"
        else s
        for s in report.SETTINGS
    ]
    facts = report.setting_facts(settings)
    assert facts["stages"]["joint"]["end_to_end"][0] == 7
    assert facts["validations"] == [7, 48, 50, 75]  # joint; PoseAug; supervised; the others
    budget = markdown._budget_md({}, report.REPO / "runs", 0.03, facts)
    assert "pretrain 50, warm-up 10, end-to-end 7 for ours" in " ".join(budget.split())
    assert "minimum over ~7-75" in markdown._selection_md({}, report.TABLE4_ROWS, facts)
    assert "(first 4096 of `lab_val`)" in markdown._intro_md([0], [], facts)


def _dry_run(capsys, *argv) -> tuple[list[str], list[str]]:
    """(training commands, per-movement scoring commands) that `--dry-run` prints, in order;
    each scoring command comes right after its run's training command."""
    assert report.main(["--dry-run", *argv]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    train = [line for line in lines if "-m experiments.run " in line]
    scored = [line for line in lines if "-m experiments.evaluate " in line]
    assert len(train) + len(scored) == len(lines)
    for i, line in enumerate(lines):
        if line in scored:
            assert _workdir(lines[i - 1]) == _workdir(line) and lines[i - 1] in train
    return train, scored


def _workdir(line: str) -> str:
    return line.split("--workdir=")[1].split()[0]


def test_dry_run_lists_every_command(capsys):
    train, scored = _dry_run(capsys, "--seeds", "0,1")
    assert len(train) == 2 * len(report.SETTINGS)
    assert all("--config.stages.epoch_scale=0.03" in line for line in train)
    # joint_no2d and poseaug_blind, in both worlds; the second world's runs only have lab_rare.
    assert sum("use_2d_only=False" in line for line in train) == 4
    assert sum("input_norm=root_scale" in line for line in train) == 4
    assert sum("lab_rare=False" in line for line in train) == 2 * 3
    # Seed-major: the first len(SETTINGS) commands are seed 0 of every setting, in order.
    first = train[: len(report.SETTINGS)]
    assert all("--config.seed=0" in line for line in first)
    assert [_workdir(line).removeprefix("runs/report/").rsplit("/", 1)[0] for line in first] == [
        s.name for s in report.SETTINGS
    ]
    # Every Table 4 row (methods and controls, both worlds) is scored per movement after it
    # trains: 6 + 3 settings x 2 seeds; the detected-2D rows are not.
    assert len(scored) == 2 * 9
    assert all(f"--output={_workdir(line)}/eval" in line for line in scored)
    assert not any("_det" in _workdir(line) for line in scored)


def test_worlds_selects_the_second_worlds_runs(capsys):
    train, scored = _dry_run(capsys, "--worlds", "lab_rare_false")
    assert len(train) == len(scored) == 5 * 3  # 5 seeds of ours, ours without 2D-only, PoseAug
    assert all("--config.data.synthetic.lab_rare=False" in line for line in train)
    assert all(_workdir(line).startswith("runs/report/lab_rare_false/") for line in scored)
    names = {_workdir(line).split("/")[-2] for line in train}
    assert names == {"joint", "joint_no2d", "poseaug_blind"}
    assert sum("use_2d_only=False" in line for line in train) == 5
    assert sum("experiments/poseaug.py:faithful" in line for line in train) == 5
    assert sum("input_norm=root_scale" in line for line in train) == 5
    # Within a world, --settings still picks rows by name.
    train, _ = _dry_run(capsys, "--worlds", "lab_rare_false", "--settings", "lab_rare_false/joint")
    assert len(train) == 5 and all("use_2d_only" not in line for line in train)
    assert report.main(["--dry-run", "--worlds", "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert report.main(["--dry-run", "--worlds", "lab_rare_false", "--settings", "joint"]) == 2


def test_unknown_setting_is_an_error(capsys):
    assert report.main(["--dry-run", "--settings", "joint,nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("values", [[1.0], [1.0, 3.0]])
def test_mean_std(values):
    m, s = report.mean_std(values)
    assert m == pytest.approx(np.mean(values))
    assert s == pytest.approx(np.std(values, ddof=1) if len(values) > 1 else 0.0)


def test_scale_diagnostic_on_a_trained_run(tmp_path, trained):
    """The diagnostic loads the selected model, and its numbers match a direct computation."""
    from cpose_jax import inference
    from cpose_jax.data import pipeline, schema
    from experiments import evaluate

    runs = tmp_path / "runs"
    (runs / "joint").mkdir(parents=True)
    (runs / "joint" / "seed0").symlink_to(trained["workdir"], target_is_directory=True)
    stub = trained["workdir"] / "results.json"
    stub.write_text("{}")
    try:
        diag, fig = report.scale_diagnostic(runs)
    finally:
        stub.unlink()
    assert set(diag) == {"data", "joint"} and len(fig.axes) == 3

    wild_path = trained["world"] / "wild_test.npz"
    ds = schema.load_dataset(wild_path)
    arrays = pipeline.to_model_space(ds, input_2d="gt")
    model = evaluate.load_model(trained["workdir"])
    batch = {k: arrays[k] for k in ("keypoints_2d", "confidence")}
    pred = np.asarray(inference.make_predict(model)(model.variables, batch)["pose_3d"])
    gt = arrays["pose_3d"]
    s = (pred * gt).sum((1, 2)) / (pred * pred).sum((1, 2))
    # A poorly trained model can point some poses the wrong way (s <= 0): clipped at 1e-3.
    log_s = np.log(np.clip(s, 1e-3, None))
    np.testing.assert_allclose(diag["joint"]["wild_test"]["all"], np.median(log_s), rtol=1e-3)
    # Data fact from the raw file: focal in half-widths over the root depth.
    raw_f = np.asarray(ds["intrinsics"])[:, 0] / (np.asarray(ds["image_size"])[:, 0] / 2)
    ratio = raw_f / np.asarray(ds["pose_3d"])[:, 0, 2]
    np.testing.assert_allclose(
        diag["data"]["wild_test"]["f_over_d_median"], np.median(ratio), rtol=1e-4
    )


def test_cli_aggregate_only_with_check_dir_and_no_diagnostics(tmp_path):
    """`--check-dir` overrides `<runs-dir>_x2`; `--no-diagnostics` needs no models."""
    runs, check = tmp_path / "runs", tmp_path / "elsewhere"
    _write_run(runs, "joint", 0, 100.0)
    _write_run(runs, "poseaug", 0, 200.0)
    _write_run(check, "joint", 0, 300.0)  # joint is worse than PoseAug at 2x
    _write_run(check, "poseaug", 0, 150.0)
    out = tmp_path / "out" / "RESULTS.md"
    argv = ["--aggregate-only", "--runs-dir", str(runs), "--output", str(out), "--seeds", "0"]
    assert report.main([*argv, "--check-dir", str(check), "--no-diagnostics"]) == 0
    summary = json.loads((out.parent / "results" / "summary.json").read_text())
    assert summary["budget_check"]["rankings"]["wild_test/mpjpe"]["x2"] == ["poseaug", "joint"]
    assert summary["scale_diagnostic"] == {} and "(diagnostic not run)" in out.read_text()
    assert not (out.parent / "results" / "fakes.png").exists()  # no run logs fakes
    assert "(no run scored per movement yet" in out.read_text()


def _moves(rare, everyday, sport=150.0):
    """wild_test's per-movement scores: 2 + 6 rare poses, 8 everyday, 4 sport, and a movement
    outside the groups (ignored)."""

    def m(mpjpe, n):
        return {"mpjpe": mpjpe, "pa_mpjpe": mpjpe / 2, "num_samples": n}

    return {
        "lying": m(rare, 2),
        "flip": m(rare, 6),
        "walking": m(everyday, 8),
        "running": m(sport, 4),
        "moonwalk": m(1000.0, 1),
    }


def test_movement_groups_pool_by_poses():
    per_action = {
        "lying": {"mpjpe": 100.0, "pa_mpjpe": 10.0, "num_samples": 1},
        "flip": {"mpjpe": 200.0, "pa_mpjpe": 40.0, "num_samples": 3},
        "walking": {"mpjpe": 50.0, "pa_mpjpe": 5.0, "num_samples": 4},
        "running": {"mpjpe": 70.0, "pa_mpjpe": 7.0, "num_samples": 0},
        "moonwalk": {"mpjpe": 1e4, "pa_mpjpe": 1e4, "num_samples": 9},
    }
    groups = stats.movement_groups(per_action)
    # Rare: (100 + 3 * 200) / 4 = 175, PA (10 + 120) / 4 = 32.5; sport has no poses.
    assert groups == {
        "rare": {"mpjpe": 175.0, "pa_mpjpe": 32.5, "num_samples": 4},
        "everyday": {"mpjpe": 50.0, "pa_mpjpe": 5.0, "num_samples": 4},
    }


def test_second_world_table4_movements_and_paired_differences(tmp_path):
    """The world whose lab lacks the rare movements: its Table 4, wild_test by movement in
    both worlds (from the runs' saved per-movement scores), and ours − ours without 2D-only
    data per seed."""
    runs = tmp_path / "runs"
    world = "lab_rare_false"
    for seed in (0, 1):
        # Default world: ours and ours without 2D-only data scored per movement.
        _write_run(runs, "joint", seed, 190.0, per_action=_moves(300.0, 100.0))
        _write_run(runs, "joint_no2d", seed, 195.0, per_action=_moves(310.0, 100.0))
        _write_run(runs, "poseaug_blind", seed, 200.0)  # not scored per movement
        # Lab without rare movements: the 2D-only data buys 25 / 35 mm on the rare poses.
        _write_run(runs, f"{world}/joint", seed, 210.0, per_action=_moves(275.0 + 10 * seed, 99.0))
        _write_run(
            runs, f"{world}/joint_no2d", seed, 230.0, per_action=_moves(300.0 + 20 * seed, 101.0)
        )
        _write_run(runs, f"{world}/poseaug_blind", seed, 220.0, per_action=_moves(290.0, 95.0))
    out = tmp_path / "doc" / "RESULTS.md"
    summary = report.aggregate(runs, [0, 1], out, 0.03, diagnose=False)
    md = out.read_text()

    # The movements pooled per run (the unknown one ignored), kept in summary.json.
    rare = summary[f"{world}/joint"][1]["movements"]["wild_test"]["rare"]
    assert rare == {"mpjpe": 285.0, "pa_mpjpe": 142.5, "num_samples": 8}
    assert summary["poseaug_blind"][0]["movements"] == {}
    # The second world's Table 4: its three rows, the whole-set numbers of its runs.
    section = md.split("## Table 4 in another world: lab without rare movements")[1]
    table4 = section.split("###")[0]
    assert "--config.data.synthetic.lab_rare=False" in table4
    assert "| CameraPose (ours) without 2D-only data | 2 |" in table4
    assert "| 230.0 ± 0.0 | 100.0 ± 0.0 |" in table4  # ours without 2D-only data, wild
    assert "| PoseAug, size-blind lifter | 2 |" in table4 and "| 220.0 ± 0.0 |" in table4
    # wild_test by movement: both worlds side by side; a world without scores shows 0 seeds.
    moves = md.split("### wild_test by movement, in both worlds")[1].split("###")[0]
    ours = "| CameraPose (ours, the default) | rare | 8 | 2 | 300.0 ± 0.0 | 150.0 ± 0.0 |"
    assert f"{ours} 2 | 280.0 ± 7.1 | 140.0 ± 3.5 |" in moves
    assert "| CameraPose (ours, the default) | everyday | 8 | 2 | 100.0 ± 0.0 |" in moves
    assert "| PoseAug, size-blind lifter | rare | 8 | 0 | - | - | 2 | 290.0 ± 0.0 |" in moves
    assert "| supervised" not in moves and "moonwalk" not in moves
    # Paired differences per seed: in the second world ours − no 2D-only on the rare poses
    # is -25 and -35 mm; in the default world -10 on both seeds.
    row = (
        f"| lab without rare movements | `{world}/joint` − `{world}/joint_no2d` | wild rare MPJPE |"
    )
    assert f"{row} -25.0 | -35.0 | -30.0 ± 7.1 mm (lower on 2/2 seeds) |" in md
    row = "| default world | `joint` − `joint_no2d` | wild rare MPJPE |"
    assert f"{row} -10.0 | -10.0 | -10.0 ± 0.0 mm (lower on 2/2 seeds) |" in md
    row = "| default world | `joint` − `poseaug_blind` | wild rare MPJPE |"
    assert f"{row} - | - | - (no runs) |" in md  # PoseAug's default-world runs are not scored
    comparisons = {(c["world"], c["row"], c["baseline"]): c for c in summary["world_comparisons"]}
    assert len(comparisons) == 4  # 2 pairs in 2 worlds
    no2d = comparisons[(world, f"{world}/joint", f"{world}/joint_no2d")]
    assert no2d["changes"]["wild_test/rare/mpjpe"] == {0: -25.0, 1: -35.0}
    assert no2d["changes"]["wild_test/mpjpe"] == {0: -20.0, 1: -20.0}
    # The default world's Table 4 and decision keep to the default world's runs.
    default_table4 = md.split("## Table 4: ground-truth 2D input")[1].split("##")[0]
    assert "lab_rare" not in default_table4 and "210.0" not in default_table4


def test_train_all_scores_finished_runs_once(tmp_path, monkeypatch, capsys):
    """A finished run is not trained again; a Table 4 row's run is scored per movement once
    (its `eval/evaluation.json` then exists); a detected-2D run is never scored."""
    from experiments.report import runs as report_runs

    calls = []

    def call(cmd, cwd, stdout, stderr):
        calls.append(cmd[2])
        if cmd[2] == "experiments.evaluate":
            out = Path(next(a for a in cmd if a.startswith("--output=")).split("=", 1)[1])
            out.mkdir(parents=True)
            (out / "evaluation.json").write_text("{}")
        return 0

    monkeypatch.setattr(report_runs.subprocess, "call", call)
    root = tmp_path / "runs"
    _write_run(root, "lab_rare_false/joint", 0, 100.0)
    _write_run(root, "joint_det", 0, 100.0)
    settings = [report.BY_NAME[n] for n in ("lab_rare_false/joint", "joint_det")]
    report.train_all(settings, [0], root, 0.03, dry_run=False)
    assert calls == ["experiments.evaluate"]
    report.train_all(settings, [0], root, 0.03, dry_run=False)
    assert calls == ["experiments.evaluate"]
    assert "per movement" in capsys.readouterr().out
