"""Tests for cpose_jax.data.schema: round trip, validation errors, atomic writes."""

import json
import os
import re
import zipfile

import numpy as np
import pytest

from cpose_jax.data import schema
from cpose_jax.data.schema import DatasetError, load_dataset, save_dataset

N, J = 6, 17


def _arrays(rng=None, n=N, j=J):
    rng = rng or np.random.default_rng(0)
    pose = rng.normal(0, 0.3, (n, j, 3))
    pose[..., 2] += 5.0
    return dict(
        keypoints_2d=rng.uniform(0, 1000, (n, j, 2)),
        confidence=rng.uniform(0, 1, (n, j)),
        image_size=np.tile([1000.0, 1002.0], (n, 1)),
        pose_3d=pose,
        intrinsics=np.tile([1145.0, 1144.0, 512.0, 515.0], (n, 1)),
        keypoints_2d_gt=rng.uniform(0, 1000, (n, j, 2)),
        subject=np.array(["S1", "S5", "S9", "S1", "S5", "S11"][:n]),
        action=np.arange(n),
        camera=np.arange(n) % 4,
    )


def _save(path, **overrides):
    a = _arrays()
    a.update(overrides)
    return save_dataset(path, skeleton="h36m17", **a)


def test_round_trip_values_dtypes_and_meta(tmp_path):
    a = _arrays()
    p = save_dataset(tmp_path / "x", skeleton="h36m17", extra_meta={"split": "lab"}, **a)
    assert p == tmp_path / "x.npz" and p.exists()
    ds = load_dataset(p)
    assert len(ds) == N and ds.path == p and ds.meta == {"split": "lab"}
    assert ds.skeleton.num_joints == J and ds.skeleton_name == "h36m17"
    for k, v in a.items():
        np.testing.assert_array_equal(ds[k], v, err_msg=k)
    assert ds["keypoints_2d"].dtype == np.float64 and ds["subject"].dtype.kind == "U"
    assert "pose_3d" in ds and "valid" not in ds and ds.get("valid") is None
    # keypoints_2d_gt present -> default GT-label mask is all ones.
    assert ds.valid_2d.all()
    sub = ds.select(np.array([0, 2]))
    assert len(sub) == 2
    np.testing.assert_array_equal(sub["pose_3d"], a["pose_3d"][[0, 2]])


def test_float32_kept_and_broadcast_image_size(tmp_path):
    a = _arrays()
    p = save_dataset(
        tmp_path / "y.npz",
        keypoints_2d=(a["keypoints_2d"] * 0.48).astype(np.float32),  # inside 640 x 480
        confidence=(a["confidence"] > 0.5).astype(np.float32),
        image_size=(640, 480),
        skeleton="h36m17",
    )
    ds = load_dataset(p)
    assert ds["keypoints_2d"].dtype == np.float32
    np.testing.assert_array_equal(ds["image_size"], np.tile([640.0, 480.0], (N, 1)))
    # Without GT 2D the label mask defaults to confidence > 0.
    np.testing.assert_array_equal(ds.valid_2d, a["confidence"] > 0.5)
    assert not ds.has_3d


def test_folder_of_files_is_concatenated(tmp_path):
    a = _arrays()
    d = tmp_path / "folder"
    save_dataset(d / "b", skeleton="h36m17", **{k: v[3:] for k, v in a.items()})
    save_dataset(d / "a", skeleton="h36m17", **{k: v[:3] for k, v in a.items()})
    ds = load_dataset(d)
    assert len(ds) == N
    np.testing.assert_array_equal(ds["pose_3d"], a["pose_3d"])  # sorted by file name
    np.testing.assert_array_equal(ds["subject"], a["subject"])


@pytest.mark.parametrize(
    "override, key, words",
    [
        (dict(keypoints_2d=np.zeros((N, 16, 2))), "keypoints_2d", "(6, 16, 2)"),
        (dict(confidence=np.zeros((N + 1, J))), "confidence", "(7, 17)"),
        (dict(pose_3d=np.full((N, J, 3), np.nan)), "pose_3d", "non-finite"),
        (dict(keypoints_2d_gt=np.full((N, J, 2), np.inf)), "keypoints_2d_gt", "non-finite"),
        (dict(confidence=np.full((N, J), 1.5)), "confidence", "[0, 1]"),
        (dict(confidence=np.full((N, J), -0.1)), "confidence", "[0, 1]"),
        (dict(image_size=np.zeros((N, 2))), "image_size", "> 0"),
        (dict(intrinsics=-np.ones((N, 4))), "intrinsics", "> 0"),
        (dict(pose_3d=np.full((N, J, 3), 4000.0)), "pose_3d", "millimetres"),
        (dict(pose_3d=np.full((N, J, 3), -2.0)), "pose_3d", "root depth"),
        (dict(subject=np.zeros((N, 2), int)), "subject", "shape"),
        (dict(valid=np.full((N, J), 0.5)), "valid", "0 and 1"),
    ],
)
def test_bad_arrays_are_refused_with_key_and_nothing_written(tmp_path, override, key, words):
    target = tmp_path / "bad.npz"
    with pytest.raises(DatasetError) as e:
        _save(target, **override)
    msg = str(e.value)
    assert str(target) in msg and f"'{key}'" in msg and words in msg, msg
    assert os.listdir(tmp_path) == []  # no file, no temp file


def test_unknown_skeleton_and_missing_key(tmp_path):
    with pytest.raises(DatasetError, match="unknown skeleton 'coco'"):
        save_dataset(
            tmp_path / "a", keypoints_2d=np.zeros((1, 17, 2)), confidence=np.ones((1, 17)),
            image_size=(1, 1), skeleton="coco",
        )  # fmt: skip
    with pytest.raises(DatasetError, match=r"'image_size'.*missing"):
        schema.validate(
            dict(keypoints_2d=np.zeros((1, 17, 2)), confidence=np.ones((1, 17))),
            skeleton="h36m17",
        )
    with pytest.raises(DatasetError, match="unknown keys"):
        schema.validate(dict(_arrays(), pose3d=np.zeros(1)), skeleton="h36m17")
    assert os.listdir(tmp_path) == []


def _rewrite(src, dst, **changes):
    """Copies an npz with some members replaced (None deletes), bypassing validation."""
    with np.load(src, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            d.pop(k)
        else:
            d[k] = v
    np.savez(dst, **d)
    return dst


def test_bad_files_name_file_key_and_problem(tmp_path):
    good = _save(tmp_path / "good.npz")
    cases = [
        (dict(format_version=np.asarray(99)), "format_version", "version 99"),
        (dict(skeleton=np.asarray("smpl24")), "skeleton", "unknown skeleton"),
        (dict(meta=None), "meta", "missing"),
        (dict(meta=np.asarray("[1, 2]")), "meta", "JSON object"),
        (dict(confidence=None), "confidence", "missing"),
        (dict(pose_3d=np.zeros((N, J, 2))), "pose_3d", "(6, 17, 2)"),
        (dict(keypoints_2d=np.full((N, J, 2), np.nan)), "keypoints_2d", "NaN"),
    ]
    for i, (changes, key, words) in enumerate(cases):
        bad = _rewrite(good, tmp_path / f"bad{i}.npz", **changes)
        with pytest.raises(DatasetError) as e:
            load_dataset(bad)
        msg = str(e.value)
        assert str(bad) in msg and f"'{key}'" in msg and words in msg, msg
    # Pickled object arrays are refused (never unpickle files).
    obj = tmp_path / "obj.npz"
    np.savez(obj, keypoints_2d=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetError, match=re.escape(str(obj))):
        load_dataset(obj)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"junk\.npz"):
        load_dataset(tmp_path / "junk.npz")


def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch):
    target = _save(tmp_path / "t.npz")
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(schema.np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        _save(target, keypoints_2d=np.zeros((N, J, 2)))
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["t.npz"]  # temp file removed
    with zipfile.ZipFile(target) as z:  # still a whole, valid archive
        assert json.loads(np.load(target)["meta"].item()) == {}
        assert "keypoints_2d.npy" in z.namelist()
