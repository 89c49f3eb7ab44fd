"""data_prep.h36m on self-consistent VideoPose3D-format fixtures (and the real sample if present).

The fixture's 2D is made here by an independent numpy implementation (3x3 rotation matrix from
the quaternion, VideoPose3D's distortion written out), in float64.
"""

import pickle

import numpy as np
import pytest

from cpose_jax.data.joint_maps import COCO17_NAMES, H36M17_NAMES
from cpose_jax.data.schema import DatasetError, load_dataset
from data_prep import h36m

H = {n: i for i, n in enumerate(H36M17_NAMES)}
KEPT = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]


def quat_matrix(q):
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def np_world_to_camera(x, subject, cam):
    q, t = h36m.EXTRINSICS[subject][cam]
    r = quat_matrix(np.asarray(q) / np.linalg.norm(q))
    return (x - np.asarray(t) / 1000.0) @ r  # = R^T (X - T), row vectors


def np_project(x_cam, cam):
    c = h36m.CAMERAS[cam]
    f, ctr = np.asarray(c["focal"]), np.asarray(c["center"])
    k, p = np.asarray(c["radial"]), np.asarray(c["tangential"])
    xy = np.clip(x_cam[..., :2] / x_cam[..., 2:], -1, 1)
    r2 = (xy**2).sum(-1, keepdims=True)
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tan = (p * xy).sum(-1, keepdims=True)
    return f * (xy * (radial + tan) + p * r2) + ctr


def _poses(rng, t):
    root = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), 0.9])
    return (root + rng.normal(scale=0.4, size=(t, 32, 3))).astype(np.float32)


@pytest.fixture
def h36m_files(tmp_path):
    rng = np.random.default_rng(0)
    pos3 = {
        "S1": {"Walking 1": _poses(rng, 5), "Directions": _poses(rng, 3)},
        "S9": {"Eating": _poses(rng, 4)},
        "S11": {"Directions 1": _poses(rng, 3), "Directions": np.full((2, 32, 3), np.nan)},
    }
    p3 = tmp_path / "data_3d_h36m.npz"
    np.savez_compressed(p3, positions_3d=pos3)
    pos2 = {
        s: {
            a: [np_project(np_world_to_camera(v[:, KEPT].astype(np.float64), s, c), c)
                .astype(np.float32) for c in range(4)]
            for a, v in acts.items()
            if (s, a) != ("S11", "Directions")
        }
        for s, acts in pos3.items()
    }  # fmt: skip
    p2 = tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(
        p2, positions_2d=pos2, metadata={"num_joints": 17, "keypoints_symmetry": [[4], [1]]}
    )
    return p3, p2, pos3, pos2


def test_self_consistent_projection_and_split(h36m_files, tmp_path):
    p3, _, pos3, _ = h36m_files
    out = tmp_path / "train.npz"
    assert h36m.main(["--data-3d", str(p3), "--split", "train", "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert set(ds["subject"]) == {"S1"} and len(ds) == (5 + 3) * 4
    for i in range(len(ds)):
        s, a, cam_id = ds["subject"][i], ds["action"][i], ds["camera"][i]
        cam = [c["id"] for c in h36m.CAMERAS].index(cam_id)
        same = np.flatnonzero((ds["subject"] == s) & (ds["action"] == a) & (ds["camera"] == cam_id))
        frame = int(np.flatnonzero(same == i)[0])
        world = pos3[s][a][frame, KEPT].astype(np.float64)
        x_cam = np_world_to_camera(world, s, cam)
        np.testing.assert_allclose(ds["pose_3d"][i], x_cam, atol=2e-6)
        np.testing.assert_allclose(ds["keypoints_2d"][i], np_project(x_cam, cam), atol=1e-4)
        c = h36m.CAMERAS[cam]
        np.testing.assert_allclose(ds["intrinsics"][i], c["focal"] + c["center"], rtol=1e-12)
        np.testing.assert_array_equal(ds["image_size"][i], c["res"])
    assert np.all(ds["confidence"] == 1) and np.all(ds["pose_3d"][:, :, 2] > 2)
    # Order sanity: subject-right hip lies at the first 17-joint slot 1 = 32-joint index 1.
    i0 = 0
    np.testing.assert_allclose(
        ds["pose_3d"][i0, H["RHip"]],
        np_world_to_camera(pos3["S1"][ds["action"][0]][0, 1].astype(np.float64), "S1", 0),
        atol=2e-6,
    )
    assert ds.meta["distortion"]["54138969"]["radial_k"][0] == h36m.CAMERAS[0]["radial"][0]


def test_s11_directions_dropped_and_gt_file_checked(h36m_files):
    p3, p2, _, pos2 = h36m_files
    c = h36m.convert(p3, data_2d=p2, subjects=["S9", "S11"], cameras=[1, 3], stride=2)
    a = c.arrays
    assert c.meta["dropped_sequences"] == ["S11/Directions"]
    assert set(zip(a["subject"], a["action"])) == {("S9", "Eating"), ("S11", "Directions 1")}
    assert len(a["subject"]) == (2 + 2) * 2  # frames 0,2 (of 4) and 0,2 (of 3), 2 cameras
    assert c.meta["max_2d_discrepancy_px"] < 1e-3
    np.testing.assert_allclose(a["keypoints_2d"][:2], pos2["S9"]["Eating"][1][[0, 2]], atol=1e-4)


def test_gt_file_with_wrong_camera_order_rejected(h36m_files, tmp_path):
    p3, _, _, pos2 = h36m_files
    swapped = {s: {a: v[::-1] for a, v in acts.items()} for s, acts in pos2.items()}
    bad = tmp_path / "bad_2d.npz"
    np.savez_compressed(bad, positions_2d=swapped)
    with pytest.raises(DatasetError, match=r"bad_2d\.npz.*camera order"):
        h36m.convert(p3, data_2d=bad, subjects=["S1"])


def test_detections_with_scores_trimmed_and_mapped(h36m_files, tmp_path):
    p3, _, pos3, pos2 = h36m_files
    rng = np.random.default_rng(3)
    det = {}
    for s, acts in pos2.items():
        det[s] = {}
        for a, cams in acts.items():
            t = cams[0].shape[0]
            det[s][a] = [
                np.concatenate([rng.uniform(0, 1000, (t + 2, 17, 2)),
                                rng.uniform(0, 1.2, (t + 2, 17, 1))], -1)
                for _ in cams
            ]  # fmt: skip
    pd = tmp_path / "data_2d_h36m_coco_det.npz"
    np.savez_compressed(pd, positions_2d=det, metadata={"layout_name": "coco", "num_joints": 17})
    c = h36m.convert(p3, detections=pd, subjects=["S1"], cameras=[2])
    a = c.arrays
    d = det["S1"]["Directions"][2]  # sorted actions: Directions first
    C = {n: i for i, n in enumerate(COCO17_NAMES)}
    np.testing.assert_allclose(
        a["keypoints_2d"][:3, H["LHip"]], d[:3, C["left_hip"], :2], atol=1e-3
    )
    np.testing.assert_allclose(
        a["keypoints_2d"][:3, H["RWrist"]], d[:3, C["right_wrist"], :2], atol=1e-3
    )
    np.testing.assert_allclose(
        a["confidence"][:3, H["LShoulder"]], np.clip(d[:3, C["left_shoulder"], 2], 0, 1), atol=1e-6
    )
    assert a["confidence"].max() <= 1 and c.meta["scores_clipped"] > 0
    assert c.meta["detections_trimmed_sequences"] == 2
    # The GT goes to keypoints_2d_gt.
    world = pos3["S1"]["Directions"][:, KEPT].astype(np.float64)
    np.testing.assert_allclose(
        a["keypoints_2d_gt"][:3], np_project(np_world_to_camera(world, "S1", 2), 2), atol=1e-4
    )
    # Detections shorter than the mocap: clear error.
    det["S1"]["Walking 1"] = [x[:2] for x in det["S1"]["Walking 1"]]
    np.savez_compressed(pd, positions_2d=det, metadata={"layout_name": "coco"})
    with pytest.raises(DatasetError, match=r"coco_det\.npz.*Walking 1.*T>=5"):
        h36m.convert(p3, detections=pd, subjects=["S1"])


def test_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "data_3d.npz"
    np.savez_compressed(bad, positions_3d={"S1": {"Walking": np.zeros((3, 20, 3))}})
    out = tmp_path / "o.npz"
    assert h36m.main(["--data-3d", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "data_3d.npz" in err and "(3, 20, 3)" in err and len(err.splitlines()) == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["data_3d.npz"]
    np.savez_compressed(bad, positions_3d={"S1": {"Walking": np.full((3, 32, 3), 900.0)}})
    with pytest.raises(DatasetError, match="mm"):
        h36m.convert(bad)
    np.savez_compressed(bad, other=1)
    with pytest.raises(DatasetError, match="missing key 'positions_3d'"):
        h36m.convert(bad)
    np.savez_compressed(bad, positions_3d={"S2": {"Walking": np.zeros((3, 32, 3))}})
    with pytest.raises(DatasetError, match="no camera extrinsics for subject 'S2'"):
        h36m.convert(bad)


def test_real_h36m_cameras_and_frames(tmp_path, realdata):
    """The built-in camera table reproduces mmpose's cameras.pkl and the real 2D of 4 frames."""
    cams_pkl, body = realdata("h36m/cameras.pkl"), realdata("h36m/test_h36m_body3d.npz")
    with open(cams_pkl, "rb") as f:
        cams = pickle.load(f)
    for s in h36m.EXTRINSICS:
        for i, c in enumerate(h36m.CAMERAS):
            ref = cams[(s, c["id"])]
            q, t = h36m.EXTRINSICS[s][i]
            # mmpose's R is camera -> world (X_w = R X_c + T): the quaternion's own matrix.
            np.testing.assert_allclose(quat_matrix(q), ref["R"], atol=1e-5)
            np.testing.assert_allclose(np.asarray(t) / 1000, ref["T"].ravel(), atol=1e-6)
            np.testing.assert_allclose(c["focal"], ref["f"].ravel(), rtol=1e-6)
            np.testing.assert_allclose(c["radial"], ref["k"].ravel(), rtol=1e-5)
            np.testing.assert_allclose(c["tangential"], ref["p"].ravel()[::-1], rtol=1e-5)
    # Real frames: camera-frame 3D -> world (inverse of the table's extrinsics) -> converter.
    z = np.load(body)
    pos3, expect = {}, {}
    for k, name in enumerate(z["imgname"]):
        s = str(name).split("/")[0]
        cam_id = str(name).split(".")[1].split("/")[0]
        i = [c["id"] for c in h36m.CAMERAS].index(cam_id)
        q, t = h36m.EXTRINSICS[s][i]
        world = z["S"][k, :, :3] @ quat_matrix(q).T + np.asarray(t) / 1000
        pos3[s] = {"frame": world[None]}
        expect[s] = (i, z["part"][k, :, :2])
    p3 = tmp_path / "real_3d.npz"
    np.savez_compressed(p3, positions_3d=pos3)
    c = h36m.convert(p3)
    a = c.arrays
    for s, (i, uv) in expect.items():
        row = np.flatnonzero((a["subject"] == s) & (a["camera"] == h36m.CAMERAS[i]["id"]))[0]
        np.testing.assert_allclose(a["keypoints_2d"][row], uv, atol=0.01)
        # Left/right: the subject's left hip is on the real label's LHip slot.
        np.testing.assert_allclose(
            a["pose_3d"][row, H["LHip"]], z["S"][list(expect).index(s), 4, :3], atol=1e-5
        )


def test_detections_without_scores_or_metadata(h36m_files, tmp_path):
    # CPN-style x,y only, no 'metadata' key (as PoseAug's files): h36m layout, confidence 1.
    p3, _, _, pos2 = h36m_files
    rng = np.random.default_rng(4)
    det = {s: {a: [v + rng.normal(scale=2.0, size=v.shape) for v in cams]
               for a, cams in acts.items()} for s, acts in pos2.items()}  # fmt: skip
    pd = tmp_path / "data_2d_h36m_cpn.npz"
    np.savez_compressed(pd, positions_2d=det)
    c = h36m.convert(p3, detections=pd, subjects=["S9"], cameras=[0])
    a = c.arrays
    np.testing.assert_allclose(a["keypoints_2d"], det["S9"]["Eating"][0], atol=1e-4)
    np.testing.assert_allclose(a["keypoints_2d_gt"], pos2["S9"]["Eating"][0], atol=1e-3)
    assert np.all(a["confidence"] == 1) and c.meta["detections_have_scores"] is False
    assert c.meta["detections_layout"] == "h36m17"
