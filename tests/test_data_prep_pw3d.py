"""data_prep.pw3d on Python-2-style (protocol 2) 3DPW sequence pickles written here."""

import pickle
import struct
from typing import ClassVar

import numpy as np
import pytest

from cpose_jax.data.joint_maps import H36M17_NAMES, OPENPOSE18_NAMES, SMPL24_NAMES
from cpose_jax.data.schema import DatasetError, load_dataset
from data_prep import pw3d

H = {n: i for i, n in enumerate(H36M17_NAMES)}
S = {n: i for i, n in enumerate(SMPL24_NAMES)}
OP = {n: i for i, n in enumerate(OPENPOSE18_NAMES)}
K = np.array([[1961.0, 0.0, 540.0], [0.0, 1969.0, 960.0], [0.0, 0.0, 1.0]])


def _rot(rng, frame):
    if frame == 1:  # camera turned around: everything behind it (frame 1 is not campose_valid)
        return np.diag([-1.0, 1.0, -1.0])
    a = rng.uniform(-np.pi, np.pi)  # roll about the optical axis keeps the depth positive
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def _sequence(rng, n=4, actors=2):
    cam_poses = np.tile(np.eye(4), (n, 1, 1))
    for f in range(n):
        r = _rot(rng, f)
        cam_poses[f, :3, :3] = r
        cam_poses[f, :3, 3] = -r @ np.array([0.0, 0.0, -4.0])  # camera 4 m behind the origin
    joints, valid, p2d = [], [], []
    for _ in range(actors):
        world = rng.normal(scale=0.3, size=(n, 24, 3))
        joints.append(world.reshape(n, 72))
        valid.append(np.array([1, 0, 1, 1][:n]))
        p2d.append(np.concatenate([rng.uniform(0, 1000, (n, 2, 18)),
                                   rng.uniform(0, 1, (n, 1, 18))], 1))  # fmt: skip
    return {
        "sequence": "downtown_fake_00",
        "genders": ["m", "f"][:actors],
        "betas": [np.zeros(10)] * actors,
        "poses": [np.zeros((n, 72))] * actors,
        "trans": [np.zeros((n, 3))] * actors,
        "jointPositions": joints,
        "poses2d": p2d,
        "cam_poses": cam_poses,
        "campose_valid": valid,
        "cam_intrinsics": K,
        "img_frame_ids": np.arange(n),
    }


@pytest.fixture
def pw3d_root(tmp_path):
    d = _sequence(np.random.default_rng(0))
    folder = tmp_path / "sequenceFiles" / "test"
    folder.mkdir(parents=True)
    with open(folder / "downtown_fake_00.pkl", "wb") as f:
        pickle.dump(d, f, protocol=2)
    return tmp_path, d


def _expected(d, actor, frame):
    world = d["jointPositions"][actor][frame].reshape(24, 3)
    cp = d["cam_poses"][frame]
    return world @ cp[:3, :3].T + cp[:3, 3]


def test_camera_frame_joints_and_projection(pw3d_root, tmp_path):
    root, d = pw3d_root
    out = tmp_path / "3dpw.npz"
    assert pw3d.main(["--root", str(root), "--split", "test", "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert len(ds) == 6  # 2 actors x 3 campose_valid frames
    np.testing.assert_array_equal(ds["camera"], [0, 2, 3, 0, 2, 3])
    assert list(ds["subject"][:1]) == ["downtown_fake_00/0"]
    for i in range(len(ds)):
        actor, frame = i // 3, int(ds["camera"][i])
        x = _expected(d, actor, frame)
        np.testing.assert_allclose(ds["pose_3d"][i, H["LHip"]], x[S["left_hip"]], atol=1e-9)
        np.testing.assert_allclose(ds["pose_3d"][i, H["RWrist"]], x[S["right_wrist"]], atol=1e-9)
        np.testing.assert_allclose(ds["pose_3d"][i, H["Thorax"]], x[S["neck"]], atol=1e-9)
        np.testing.assert_allclose(
            ds["pose_3d"][i, H["Head"]], 2 * x[S["head"]] - x[S["neck"]], atol=1e-9
        )
        p = ds["pose_3d"][i]
        uv = np.stack([K[0, 0] * p[:, 0] / p[:, 2] + K[0, 2],
                       K[1, 1] * p[:, 1] / p[:, 2] + K[1, 2]], -1)  # fmt: skip
        np.testing.assert_allclose(ds["keypoints_2d"][i], uv, atol=1e-6)
    np.testing.assert_array_equal(ds["image_size"], [[1080, 1920]] * 6)
    np.testing.assert_allclose(ds["intrinsics"][0], [1961, 1969, 540, 960])


def test_openpose_detections_and_all_frames(pw3d_root):
    root, d = pw3d_root
    c = pw3d.convert(root, keypoints_2d="openpose", all_frames=True, image_size=(1080, 1920))
    a = c.arrays
    # all frames, but frame 1 (camera turned away) is dropped as behind the camera
    assert len(a["subject"]) == 6 and "keypoints_2d_gt" in a
    assert c.meta["sequences"]["downtown_fake_00"]["behind_camera"] == 2
    np.testing.assert_array_equal(a["camera"], [0, 2, 3, 0, 2, 3])
    det = np.transpose(d["poses2d"][1][2], (1, 0))  # actor 1, frame 2: (18, 3)
    i = 3 + 1
    np.testing.assert_allclose(a["keypoints_2d"][i, H["RShoulder"]], det[OP["right_shoulder"], :2])
    np.testing.assert_allclose(a["keypoints_2d"][i, H["LFoot"]], det[OP["left_ankle"], :2])
    assert a["confidence"][i, H["Thorax"]] == pytest.approx(det[OP["neck"], 2])


def test_bad_pickles(tmp_path, capsys):
    folder = tmp_path / "test"
    folder.mkdir()
    d = _sequence(np.random.default_rng(1))
    d["jointPositions"][0] = d["jointPositions"][0][:, :69]
    with open(folder / "bad_seq.pkl", "wb") as f:
        pickle.dump(d, f, protocol=2)
    out = tmp_path / "o.npz"
    assert pw3d.main(["--root", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad_seq.pkl" in err and "(4, 69)" in err and len(err.splitlines()) == 1
    assert not out.exists()
    (folder / "bad_seq.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match=r"bad_seq\.pkl: not a readable pickle"):
        pw3d.convert(tmp_path)
    d = _sequence(np.random.default_rng(1))
    del d["cam_poses"]
    with open(folder / "bad_seq.pkl", "wb") as f:
        pickle.dump(d, f, protocol=2)
    with pytest.raises(DatasetError, match="missing key 'cam_poses'"):
        pw3d.convert(tmp_path)


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python-2 ``str`` opcodes (BINSTRING), as the real 3DPW pickles hold
    numpy buffers: loading them needs ``encoding='latin1'``."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def test_python2_pickle_needs_latin1(tmp_path):
    d = _sequence(np.random.default_rng(2), actors=1)
    folder = tmp_path / "test"
    folder.mkdir()
    path = folder / "py2_seq.pkl"
    with open(path, "wb") as f:
        _Py2Pickler(f, protocol=2).dump(d)
    with open(path, "rb") as f, pytest.raises(UnicodeDecodeError):
        pickle.load(f)  # the default ASCII decoding fails on the array buffers
    c = pw3d.convert(tmp_path)
    assert len(c.arrays["subject"]) == 3
    np.testing.assert_allclose(
        c.arrays["pose_3d"][0, H["RKnee"]], _expected(d, 0, 0)[S["right_knee"]], atol=1e-9
    )
