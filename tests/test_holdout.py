"""Leaving movement families out of the synthetic world's training splits, and the
leave-one-family-out runner's tables (`experiments.holdout`)."""

import json

import numpy as np
import pytest

from cpose_jax.data import synthetic, synthetic_motion
from experiments import holdout


def test_families_partition_the_movements():
    names = [m for f in synthetic_motion.FAMILIES.values() for m in f]
    assert sorted(names) == sorted(synthetic_motion.MOVEMENTS)
    assert len(names) == len(set(names))


def test_held_out_movements_resolves_families_and_movements():
    floor = synthetic_motion.FAMILIES["floor"]
    assert synthetic.held_out_movements("floor") == floor
    assert synthetic.held_out_movements(" floor, dancing ,") == (*floor, "dancing")
    assert synthetic.held_out_movements(["crawling", "floor"]) == floor  # no repeats
    assert synthetic.held_out_movements("") == ()
    with pytest.raises(ValueError, match="neither a movement family"):
        synthetic.held_out_movements("floorwork")


def test_held_out_family_leaves_training_splits_and_keeps_tests():
    """The training splits never show a held-out movement; the test splits are the default
    world's, bit for bit (each split draws from its own stream)."""
    held = synthetic_motion.FAMILIES["acrobatics"] + synthetic_motion.FAMILIES["dance"]
    for split in ("lab_train", "lab_val", "wild_2d", "wild_test", "rig2_test"):
        off, _ = synthetic.generate_split(split, 600, seed=4, held_out="acrobatics,dance")
        on, _ = synthetic.generate_split(split, 600, seed=4)
        if split in ("lab_train", "lab_val", "wild_2d"):
            assert np.isin(on["action"], held).any(), split
            assert not np.isin(off["action"], held).any(), split
            # the other movements keep their ratios: a frequent one is still there
            assert (off["action"] == "walking").mean() > (on["action"] == "walking").mean()
        else:
            assert all(np.array_equal(off[k], on[k]) for k in on), split


def test_held_out_world_has_its_own_cache_key(tmp_path):
    sizes = {s: 8 for s in synthetic.SPLITS}
    default = synthetic.make_world(5, sizes=sizes, cache_dir=tmp_path)
    held = synthetic.make_world(5, sizes=sizes, cache_dir=tmp_path, held_out="floor")
    assert default["lab_train"].parent != held["lab_train"].parent
    meta = json.loads((held["lab_train"].parent / "world.json").read_text())
    assert meta["held_out"] == list(synthetic_motion.FAMILIES["floor"])
    # the default world keeps the key it had before the option existed
    assert synthetic._world_key(5, sizes, 0.1) == synthetic._world_key(5, sizes, 0.1, True, ())


def _write_eval(run, per_action):
    path = run / "eval" / "evaluation.json"
    path.parent.mkdir(parents=True)
    results = {"wild_test": {"gt": {"per_action": per_action}}, "lab_val": {"gt": {}}}
    path.write_text(json.dumps({"models": {"m": {"results": results}}}))


def test_holdout_tables_compare_a_family_with_and_without(tmp_path):
    """Pose-weighted family means, ratio held out / with, per seed and averaged."""

    def scores(pa, n):
        return {"pa_mpjpe": pa, "mpjpe": 2 * pa, "num_samples": n}

    _write_eval(
        tmp_path / "all" / "seed0",
        {"dancing": scores(50.0, 10), "walking": scores(30.0, 100)},
    )
    _write_eval(
        tmp_path / "dance" / "seed0",
        {"dancing": scores(80.0, 10), "walking": scores(31.0, 100)},
    )
    _write_eval(tmp_path / "floor" / "seed0", {"lying": scores(90.0, 4)})
    result = holdout.aggregate(tmp_path, ["dance", "floor"], [0, 1])
    row = result["dance"]["wild_test"]
    assert row["seeds"] == [0] and row["num_samples"] == 10
    assert row["with"]["pa_mpjpe"] == [50.0] and row["without"]["pa_mpjpe"] == [80.0]
    assert row["ratio"]["mpjpe"] == [pytest.approx(1.6)]
    assert "floor" not in result  # the reference run has no floor poses to compare with
    table = holdout.markdown(result)
    assert "| dance | wild_test | 10 | 0 | 50.0 | 80.0 | 1.60 ✗ |" in table

    fam = holdout.family_scores({"crawling": scores(100.0, 1), "lying": scores(40.0, 3)}, "floor")
    assert fam["pa_mpjpe"] == pytest.approx(55.0) and fam["num_samples"] == 4


def test_holdout_cli_checks_its_arguments(tmp_path, capsys):
    assert holdout.main(["--workdir", str(tmp_path), "--families", "nope"]) == 2
    assert holdout.main(["--workdir", str(tmp_path), "--seeds", "a"]) == 2
    assert holdout.main(["--workdir", str(tmp_path), "--families", "dance", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "--config.data.synthetic.held_out=dance" in out
    assert out.count("experiments.run") == 2 and out.count("experiments.evaluate") == 2
