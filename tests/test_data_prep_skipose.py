"""data_prep.skipose on labels.h5 files written here (root-relative and absolute, m and mm)."""

import h5py
import numpy as np
import pytest

from cpose_jax.data.joint_maps import H36M17_NAMES
from cpose_jax.data.schema import DatasetError, load_dataset
from data_prep import skipose

H = {n: i for i, n in enumerate(H36M17_NAMES)}


def _fixture(rng, n=5):
    rel = rng.normal(scale=0.3, size=(n, 17, 3))
    rel[:, 2] = rel[:, 1] + [0.0, 0.45, 0.0]  # right thigh 0.45 m
    rel -= rel[:, :1]
    t = np.stack([rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(10, 30, n)], -1)
    f = rng.uniform(1500, 2500, n)
    k = np.zeros((n, 3, 3))
    k[:, 0, 0], k[:, 1, 1] = f, f * 1.01
    k[:, 0, 2], k[:, 1, 2], k[:, 2, 2] = 128 + rng.normal(size=n), 128, 1
    x = rel + t[:, None]
    uv = np.stack([k[:, None, 0, 0] * x[..., 0] / x[..., 2] + k[:, None, 0, 2],
                   k[:, None, 1, 1] * x[..., 1] / x[..., 2] + k[:, None, 1, 2]], -1)  # fmt: skip
    return rel, t, k, uv


def _write(path, three_d, uv, k, n):
    with h5py.File(path, "w") as f:
        f["3D"] = three_d.reshape(n, 51)
        f["2D"] = (uv / 256).reshape(n, 34)
        f["cam_intrinsic"] = k / 256  # released normalized by 256 (K[2,2] too)
        f["cam_position"] = np.zeros((n, 3))
        f["R_cam_2_world"] = np.tile(np.eye(3), (n, 1, 1))
        f["seq"] = np.arange(n) // 2
        f["cam"] = np.arange(n) % 6
        f["frame"] = np.arange(n)
        f["subj"] = np.full(n, 3)


def test_root_relative_metres_translation_recovered(tmp_path):
    rel, t, k, uv = _fixture(np.random.default_rng(0))
    p = tmp_path / "labels.h5"
    _write(p, rel, uv, k, 5)
    out = tmp_path / "ski.npz"
    assert skipose.main(["--labels", str(p), "--out", str(out)]) == 0
    ds = load_dataset(out)
    np.testing.assert_allclose(ds["pose_3d"], rel + t[:, None], atol=1e-8)
    np.testing.assert_allclose(ds["keypoints_2d"], uv, atol=1e-9)
    np.testing.assert_allclose(ds["intrinsics"][:, 0], k[:, 0, 0])
    np.testing.assert_allclose(ds["intrinsics"][:, 2], k[:, 0, 2])
    np.testing.assert_array_equal(ds["image_size"], 256)
    np.testing.assert_array_equal(ds["camera"], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(ds["action"], [0, 0, 1, 1, 2])
    assert ds.meta["root"].startswith("estimated") and ds.meta["units_in_file"] == "m"
    assert ds.meta["reprojection_px"]["max"] < 1e-6
    # Identity mapping pins left/right: slot 4 (LHip) is the file's joint 4.
    np.testing.assert_allclose(ds["keypoints_2d"][:, H["LHip"]], uv[:, 4], atol=1e-9)
    np.testing.assert_allclose(ds["keypoints_2d"][:, H["RWrist"]], uv[:, 16], atol=1e-9)


def test_absolute_millimetres(tmp_path):
    rel, t, k, uv = _fixture(np.random.default_rng(1))
    p = tmp_path / "labels.h5"
    _write(p, (rel + t[:, None]) * 1000, uv, k, 5)
    c = skipose.convert(p)
    assert c.meta["units_in_file"] == "mm" and c.meta["root"] == "absolute in file"
    np.testing.assert_allclose(c.arrays["pose_3d"], rel + t[:, None], atol=1e-9)


def test_bad_files(tmp_path, capsys):
    p = tmp_path / "labels.h5"
    with h5py.File(p, "w") as f:
        f["3D"] = np.zeros((4, 50))
    out = tmp_path / "o.npz"
    assert skipose.main(["--labels", str(p), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "labels.h5" in err and "'3D'" in err and "(4, 50)" in err and len(err.splitlines()) == 1
    assert not out.exists()
    rel, *_ = _fixture(np.random.default_rng(2))
    with h5py.File(p, "w") as f:
        f["3D"] = rel.reshape(5, 51)
    with pytest.raises(DatasetError, match="missing dataset '2D'"):
        skipose.convert(p)
