"""Geometry against real Human3.6M and MPI-INF-3DHP frames (../shared/realdata; skipped if absent).

The samples come from mmpose's test data (see realdata/README.md): 3D joints ``S`` in the camera
frame (metres), 2D ``part`` in pixels, cameras keyed ``(subject, camera_id)`` (H36M) or by test
sequence (3DHP). Nothing is copied into the project; the files are read in place.
"""

import pickle
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cpose_jax import geometry as g


def _load(path: Path):
    if path.suffix == ".pkl":
        with path.open("rb") as f:
            return pickle.load(f, encoding="latin1")
    return dict(np.load(path))


@pytest.fixture(scope="module")
def h36m(realdata):
    frames = _load(realdata("h36m/test_h36m_body3d.npz"))
    cameras = _load(realdata("h36m/cameras.pkl"))
    # imgname 'S1/S1_Directions_1.54138969/...jpg' -> camera key ('S1', '54138969').
    keys = [(n.split("/")[0], n.split("/")[1].rsplit(".", 1)[1]) for n in frames["imgname"]]
    cams = [cameras[k] for k in keys]
    return {
        "x_cam": frames["S"][..., :3].astype(np.float32),
        "uv": frames["part"][..., :2],
        "intrinsics": np.stack([np.r_[c["f"][:, 0], c["c"][:, 0]] for c in cams]),
        "k": np.stack([c["k"][:, 0] for c in cams]),
        "p_pkl": np.stack([c["p"][:, 0] for c in cams]),
        "R": np.stack([c["R"] for c in cams]),
        "T": np.stack([c["T"][:, 0] for c in cams]),
        "keys": keys,
    }


def _distorted(h, p):
    f = jax.jit(g.project_distorted)
    return np.asarray(f(h["x_cam"], h["intrinsics"], h["k"], p))


def test_h36m_2d_reproduced_by_distortion_model(h36m):
    # mmpose stores p reversed relative to VideoPose3D's (p1, p2) (its formula swaps them back).
    err = np.abs(_distorted(h36m, h36m["p_pkl"][:, ::-1]) - h36m["uv"])
    assert err.shape == (4, 17, 2)
    assert err.max() < 0.01, err.max()  # measured ~6e-5 px: float32 at ~500 px is ~3e-5 px


def test_h36m_tangential_order_matters(h36m):
    # The test above would not notice a swapped (p1, p2) unless it changes pixels: it does.
    err = np.abs(_distorted(h36m, h36m["p_pkl"]) - h36m["uv"])
    assert err.max() > 0.01
    # And dropping distortion altogether is off by pixels.
    pin = np.asarray(jax.jit(g.project)(h36m["x_cam"], h36m["intrinsics"]))
    assert np.abs(pin - h36m["uv"]).max() > 1.0


def test_h36m_quaternion_convention_matches_camera_file(h36m):
    # VideoPose3D's published orientation of S1 camera 54138969 ([w, x, y, z]; datasets.md §1.3).
    q = np.asarray(
        [0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088]
    )
    i = h36m["keys"].index(("S1", "54138969"))
    rot_q = np.asarray(jax.jit(g.quaternion_rotate)(q.astype(np.float32), np.eye(3, dtype="f4"))).T
    # mmpose's R is R_q, so world_to_camera = R_qᵀ (X - T) = (X - T) @ R.
    np.testing.assert_allclose(rot_q, h36m["R"][i], atol=1e-6)
    np.testing.assert_allclose(
        h36m["T"][i], [1.8411070556640625, 4.95528466796875, 1.5634454345703125]
    )


def test_h36m_world_round_trip_and_plausible_world_heights(h36m):
    q = Rotation.from_matrix(h36m["R"]).as_quat()[:, [3, 0, 1, 2]].astype(np.float32)
    t = h36m["T"].astype(np.float32)
    world = np.asarray(jax.jit(g.camera_to_world)(h36m["x_cam"], q, t))
    back = np.asarray(jax.jit(g.world_to_camera)(world, q, t))
    np.testing.assert_allclose(back, h36m["x_cam"], atol=1e-5)
    # The H36M world frame has z up with the floor at 0: in every frame (standing, walking,
    # sitting on the floor) the lowest joint touches the floor and the head is well above the
    # pelvis. With the transposed rotation two of the four frames come out upside down.
    z = world[..., 2]
    assert np.all((z.min(axis=1) > -0.02) & (z.min(axis=1) < 0.15)), z.min(axis=1)
    assert np.all(z[:, 10] - z[:, 0] > 0.3), z[:, 10] - z[:, 0]


def test_3dhp_2d_reproduced_by_pinhole(realdata):
    frames, cameras = (
        _load(realdata("mpi_inf_3dhp/test_3dhp_test.npz")),
        _load(realdata("mpi_inf_3dhp/cameras_test.pkl")),
    )
    cams = [cameras[n.split("_")[0]] for n in frames["imgname"]]  # 'TS1_002001.jpg' -> 'TS1'
    k = np.stack([np.r_[c["f"][:, 0], c["c"][:, 0]] for c in cams]).astype(np.float32)
    uv = np.asarray(jax.jit(g.project)(frames["S"][..., :3].astype(np.float32), k))
    valid = frames["part"][..., 2] > 0
    err = np.linalg.norm(uv - frames["part"][..., :2], axis=-1)[valid]
    # mmpose fitted these pinhole cameras by least squares to annot2/annot3 (datasets.md §4.4),
    # so agreement is to ~1 px (measured max 1.7 px), not to float precision.
    assert err.max() < 3.0 and err.mean() < 1.5, (err.max(), err.mean())
