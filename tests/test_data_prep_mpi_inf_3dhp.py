"""data_prep.mpi_inf_3dhp on HDF5 (MATLAB v7.3-style) annot_data.mat files written here."""

import h5py
import numpy as np
import pytest

from cpose_jax.data.joint_maps import H36M17_NAMES, MPI_INF_3DHP17_NAMES
from cpose_jax.data.schema import DatasetError, load_dataset
from data_prep import mpi_inf_3dhp as m3

H = {n: i for i, n in enumerate(H36M17_NAMES)}
T = {n: i for i, n in enumerate(MPI_INF_3DHP17_NAMES)}
PERM = [14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4]


def _write(path, annot2, annot3, univ, valid, activity=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    # Real v7.3 files start with a 512-byte MATLAB header (an HDF5 user block).
    with h5py.File(path, "w", userblock_size=512) as f:
        f["annot2"] = annot2[:, None].astype(np.float64)
        f["annot3"] = annot3[:, None].astype(np.float64)
        f["univ_annot3"] = univ[:, None].astype(np.float64)
        f["valid_frame"] = np.asarray(valid, np.float64)[:, None]
        if activity is not None:
            f["activity_annotation"] = np.asarray(activity, np.float64)[:, None]
    with open(path, "r+b") as f:
        f.write(
            b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5"
        )


def _sequence(rng, n, seq):
    root = np.array([rng.uniform(-300, 300), rng.uniform(-200, 200), rng.uniform(3000, 5000)])
    a3 = root + rng.normal(scale=300, size=(n, 17, 3))
    a3[:, T["pelvis"]] = root
    fx, fy, cx, cy = m3.CAMERAS[seq]["intrinsics"]
    a2 = np.stack([fx * a3[..., 0] / a3[..., 2] + cx, fy * a3[..., 1] / a3[..., 2] + cy], -1)
    univ = root + 0.9 * (a3 - root)
    return a2, a3, univ


@pytest.fixture
def test_root(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "mpi_inf_3dhp_test_set"
    data = {}
    for seq, valid in (("TS1", [1, 0, 1, 1]), ("TS5", [0, 1, 1])):
        a2, a3, univ = _sequence(rng, len(valid), seq)
        _write(root / seq / "annot_data.mat", a2, a3, univ, valid, activity=[2] * len(valid))
        data[seq] = (a2, a3, univ, np.asarray(valid, bool))
    return root, data


def test_values_valid_frames_and_intrinsics(test_root, tmp_path):
    root, data = test_root
    out = tmp_path / "3dhp.npz"
    assert m3.main(["--root", str(root), "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert list(ds["subject"]) == ["TS1"] * 3 + ["TS5"] * 2
    np.testing.assert_array_equal(ds["camera"], [0, 2, 3, 1, 2])  # valid frame indices
    a2, _, univ, valid = data["TS1"]
    np.testing.assert_allclose(ds["keypoints_2d"][:3], a2[valid][:, PERM])
    np.testing.assert_allclose(ds["pose_3d"][:3], univ[valid][:, PERM] / 1000)
    # Left/right by name.
    np.testing.assert_allclose(ds["pose_3d"][0, H["LWrist"]], univ[0, T["left_wrist"]] / 1000)
    np.testing.assert_allclose(ds["keypoints_2d"][0, H["RHip"]], a2[0, T["right_hip"]])
    np.testing.assert_allclose(ds["keypoints_2d"][0, H["Head"]], a2[0, T["head_top"]])
    np.testing.assert_array_equal(ds["image_size"][-1], [1920, 1080])
    np.testing.assert_allclose(ds["intrinsics"][0], m3.CAMERAS["TS1"]["intrinsics"])
    np.testing.assert_array_equal(ds["action"], 2)
    assert ds.meta["joints3d"] == "univ_annot3"


def test_annot3_reprojects_onto_annot2(test_root):
    root, _ = test_root
    c = m3.convert(root, sequences=["TS1", "TS5"], joints3d="annot3", all_frames=True)
    a = c.arrays
    assert len(a["subject"]) == 7
    p = a["pose_3d"]
    k = a["intrinsics"][:, None]
    uv = np.stack([k[..., 0] * p[..., 0] / p[..., 2] + k[..., 2],
                   k[..., 1] * p[..., 1] / p[..., 2] + k[..., 3]], -1)  # fmt: skip
    np.testing.assert_allclose(uv, a["keypoints_2d"], atol=1e-6)


def test_bad_files(tmp_path, capsys):
    root = tmp_path / "set"
    (root / "TS2").mkdir(parents=True)
    f = root / "TS2" / "annot_data.mat"
    with h5py.File(f, "w") as h:
        h["annot2"] = np.zeros((3, 1, 16, 2))
    out = tmp_path / "o.npz"
    assert m3.main(["--root", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "annot_data.mat" in err and "(3, 1, 16, 2)" in err and len(err.splitlines()) == 1
    assert not out.exists()
    a2, a3, univ = _sequence(np.random.default_rng(1), 2, "TS2")
    _write(f, a2, a3, univ, [1, 1, 1])  # valid_frame has 3 entries for 2 frames
    with pytest.raises(DatasetError, match="valid_frame"):
        m3.convert(root)
    f.write_bytes(b"MATLAB 5.0 MAT-file, not HDF5")
    with pytest.raises(DatasetError, match=r"annot_data\.mat: not an HDF5"):
        m3.convert(root)
    with pytest.raises(DatasetError, match=r"no TS1\.\.TS6"):
        m3.convert(tmp_path / "empty")


def test_real_frames_through_h5(tmp_path, realdata):
    """mmpose's 2 real test frames (3DHP order, metres) written as annot_data.mat, converted."""
    real = realdata("mpi_inf_3dhp/test_3dhp_test.npz")
    z = np.load(real)
    root = tmp_path / "set"
    for i, name in enumerate(z["imgname"]):
        seq = str(name).split("_")[0]
        s = z["S"][i : i + 1, :, :3] * 1000
        _write(root / seq / "annot_data.mat", z["part"][i : i + 1, :, :2], s, s, [1])
    c = m3.convert(root, joints3d="annot3")
    a = c.arrays
    assert list(a["subject"]) == ["TS1", "TS2"]
    p, k = a["pose_3d"], a["intrinsics"][:, None]
    uv = np.stack([k[..., 0] * p[..., 0] / p[..., 2] + k[..., 2],
                   k[..., 1] * p[..., 1] / p[..., 2] + k[..., 3]], -1)  # fmt: skip
    err = np.linalg.norm(uv - a["keypoints_2d"], axis=-1)
    # Each sequence's own camera: every real frame within 1 px on average (measured 0.22 px
    # TS1, 0.39 px TS2; the shared studio camera gave TS2 6.2 px).
    assert np.all(err.mean(1) < 1.0) and np.all(err.max(1) < 2.5), err.mean(1)
    # Left/right and root: H36M LHip is 3DHP left_hip (index 11), root is the pelvis (14).
    np.testing.assert_allclose(p[:, H["LHip"]], z["S"][:, 11, :3])
    np.testing.assert_allclose(p[:, H["Hip"]], z["S"][:, 14, :3])
    # Person upright in the image: head top above the pelvis (y down).
    assert np.all(a["keypoints_2d"][:, H["Head"], 1] < a["keypoints_2d"][:, H["Hip"], 1])


def test_every_sequence_has_its_own_camera(realdata):
    # The table holds all six test sequences; where the real per-sequence cameras are present
    # (mmpose's cameras_test.pkl), each entry equals its sequence's camera.
    assert set(m3.CAMERAS) == set(m3.SEQUENCES)
    real = realdata("mpi_inf_3dhp/cameras_test.pkl")
    import pickle

    with real.open("rb") as f:
        cams = pickle.load(f, encoding="latin1")
    for seq in m3.SEQUENCES:
        c = cams[seq]
        want = np.r_[c["f"][:, 0], c["c"][:, 0]]
        np.testing.assert_allclose(m3.CAMERAS[seq]["intrinsics"], want, atol=1e-3, err_msg=seq)
        assert m3.CAMERAS[seq]["size"] == (float(c["w"]), float(c["h"]))


def test_a_file_in_metres_is_refused_naming_the_field(tmp_path, capsys):
    # annot3 must be millimetres: metres would become a 2 mm tall person (PA-MPJPE 0.23 mm).
    rng = np.random.default_rng(3)
    a2, a3, univ = _sequence(rng, 3, "TS3")
    path = tmp_path / "set" / "TS3" / "annot_data.mat"
    _write(path, a2, a3 / 1000, univ / 1000, [1, 1, 1])
    out = tmp_path / "o.npz"
    rc = m3.main(["--root", str(tmp_path / "set"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "Traceback" not in err
    assert "annot_data.mat" in err and "univ_annot3" in err and "median bone length" in err, err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["set"]
