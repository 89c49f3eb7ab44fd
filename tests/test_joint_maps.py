"""Tests for cpose_jax.data.joint_maps: every table's left/right and interpolation rules."""

import re

import numpy as np
import pytest

from cpose_jax.data import joint_maps as jm

H = {n: i for i, n in enumerate(jm.H36M17_NAMES)}


def _onehot_source(jmap, src_name):
    """Keypoints with source joint `src_name` at (1, 1) and every other at (0, 0)."""
    kp = np.zeros((jmap.num_source, 2))
    kp[jmap.source_names.index(src_name)] = 1.0
    return kp


def _copied_from(jmap, src_name):
    """H36M joints that take exactly `src_name` (weight 1) when all joints are present."""
    out, _ = jm.map_to_h36m17(_onehot_source(jmap, src_name), source=jmap)
    return {jm.H36M17_NAMES[t] for t in np.flatnonzero(np.isclose(out[:, 0], 1.0))}


def test_target_order_is_videopose3d():
    # DESIGN §1: right side 1-3 / 14-16.
    assert jm.H36M17_NAMES[1:4] == ("RHip", "RKnee", "RFoot")
    assert jm.H36M17_NAMES[4:7] == ("LHip", "LKnee", "LFoot")
    assert jm.H36M17_NAMES[11:17] == (
        "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
    )  # fmt: skip


def test_target_order_matches_core_skeleton():
    from cpose_jax.skeleton import H36M17

    assert jm.H36M17_NAMES == H36M17.joint_names
    # Left/right as the core skeleton's flip permutation sees it.
    flip = H36M17.flip_perm
    assert flip[H["LHip"]] == H["RHip"] and flip[H["RWrist"]] == H["LWrist"]


# Each row: (layout, source joint name, H36M joints copied from it). Pins left/right per map.
LEFT_RIGHT = [
    ("coco17", "left_hip", {"LHip"}),
    ("coco17", "right_hip", {"RHip"}),
    ("coco17", "right_wrist", {"RWrist"}),
    ("coco17", "left_wrist", {"LWrist"}),
    ("coco17", "left_ankle", {"LFoot"}),
    ("coco17", "right_shoulder", {"RShoulder"}),
    ("coco17", "nose", {"Neck/Nose"}),
    ("mpii16", "r_ankle", {"RFoot"}),
    ("mpii16", "l_hip", {"LHip"}),
    ("mpii16", "r_wrist", {"RWrist"}),
    ("mpii16", "l_shoulder", {"LShoulder"}),
    ("mpii16", "pelvis", {"Hip"}),
    ("mpii16", "thorax", {"Thorax"}),
    ("mpii16", "upper_neck", {"Neck/Nose"}),
    ("mpii16", "head_top", {"Head"}),
    ("mpii16_sh", "upper_neck", {"Thorax"}),
    ("mpii16_sh", "l_elbow", {"LElbow"}),
    ("mpi_inf_3dhp17", "right_hip", {"RHip"}),
    ("mpi_inf_3dhp17", "left_wrist", {"LWrist"}),
    ("mpi_inf_3dhp17", "head_top", {"Head"}),
    ("mpi_inf_3dhp17", "neck", {"Thorax"}),
    ("mpi_inf_3dhp28", "right_ankle", {"RFoot"}),
    ("mpi_inf_3dhp28", "left_shoulder", {"LShoulder"}),
    ("smpl24", "left_hip", {"LHip"}),
    ("smpl24", "right_hip", {"RHip"}),
    ("smpl24", "right_wrist", {"RWrist"}),
    ("smpl24", "left_knee", {"LKnee"}),
    ("openpose18", "right_shoulder", {"RShoulder"}),
    ("openpose18", "left_ankle", {"LFoot"}),
    ("openpose18", "neck", {"Thorax"}),
    ("blazepose33", "left_hip", {"LHip"}),
    ("blazepose33", "right_wrist", {"RWrist"}),
    ("skipose17", "rhip", {"RHip"}),
    ("skipose17", "lwrist", {"LWrist"}),
    ("h36m32", "LeftUpLeg", {"LHip"}),
    ("h36m32", "RightHand", {"RWrist"}),
]


@pytest.mark.parametrize(("layout", "src", "targets"), LEFT_RIGHT)
def test_left_right_pinned(layout, src, targets):
    assert _copied_from(jm.get_joint_map(layout), src) == targets


def test_coco_index_pins():
    # The numbers the brief pins: COCO left_hip (11) -> H36M 4, right_wrist (10) -> 16.
    kp = np.arange(17 * 2, dtype=float).reshape(17, 2)
    out, conf = jm.map_to_h36m17(kp, source="coco17")
    np.testing.assert_array_equal(out[4], kp[11])
    np.testing.assert_array_equal(out[16], kp[10])
    np.testing.assert_array_equal(out[1], kp[12])
    np.testing.assert_array_equal(out[13], kp[9])
    np.testing.assert_array_equal(conf, np.ones(17))


def test_h36m32_keeps_videopose3d_indices():
    kp = np.arange(32 * 3, dtype=float).reshape(32, 3)
    out, _ = jm.map_to_h36m17(kp, source="h36m32")
    kept = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]
    np.testing.assert_array_equal(out, kp[kept])


def test_3dhp17_is_documented_permutation():
    kp = np.random.default_rng(0).normal(size=(3, 17, 3))
    out, _ = jm.map_to_h36m17(kp, source="mpi_inf_3dhp17")
    perm = [14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4]  # datasets.md §4.1
    np.testing.assert_array_equal(out, kp[:, perm])
    out28, _ = jm.map_to_h36m17(np.arange(28 * 3.0).reshape(28, 3), source="mpi_inf_3dhp28")
    idx17 = [7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6]  # mmpose joints_17
    np.testing.assert_array_equal(out28, np.arange(28 * 3.0).reshape(28, 3)[idx17][perm])


def test_coco_interpolated_joints_values():
    # Hand-worked: hips at (0,10),(2,10) -> pelvis (1,10); shoulders (0,0),(4,0) -> thorax (2,0);
    # spine = mid(pelvis, thorax) = (1.5, 5); head = mid-eyes.
    kp = np.zeros((17, 2))
    kp[11], kp[12] = (0, 10), (2, 10)
    kp[5], kp[6] = (0, 0), (4, 0)
    kp[1], kp[2] = (1, -3), (3, -3)
    conf = np.ones(17)
    conf[11], conf[12] = 0.5, 1.0
    out, c = jm.map_to_h36m17(kp, conf, source="coco17")
    np.testing.assert_allclose(out[H["Hip"]], (1, 10))
    np.testing.assert_allclose(out[H["Thorax"]], (2, 0))
    np.testing.assert_allclose(out[H["Spine"]], (1.5, 5))
    np.testing.assert_allclose(out[H["Head"]], (2, -3))
    assert c[H["Hip"]] == pytest.approx(0.75)  # mean of sources
    _, cmin = jm.map_to_h36m17(kp, conf, source="coco17", combine="min")
    assert cmin[H["Hip"]] == pytest.approx(0.5)


def test_missing_source_marks_derived_missing_and_fallbacks():
    kp = np.random.default_rng(1).uniform(1, 100, size=(17, 2))
    conf = np.ones(17)
    conf[12] = 0  # right hip missing -> RHip, Hip and Spine missing
    conf[1] = 0  # left eye missing -> Head falls back to mid-ears
    out, c = jm.map_to_h36m17(kp, conf, source="coco17")
    assert c[H["RHip"]] == 0 and c[H["Hip"]] == 0 and c[H["Spine"]] == 0
    np.testing.assert_array_equal(out[H["Hip"]], 0.0)
    assert c[H["LHip"]] == 1
    np.testing.assert_allclose(out[H["Head"]], (kp[3] + kp[4]) / 2)
    # Non-finite coordinates count as missing too.
    kp2 = kp.copy()
    kp2[0] = np.nan
    out2, c2 = jm.map_to_h36m17(kp2, source="coco17")
    assert c2[H["Neck/Nose"]] == 0 and np.all(np.isfinite(out2))


def test_mpii_pelvis_fallback_to_mid_hip():
    kp = np.random.default_rng(2).uniform(1, 100, size=(2, 16, 2))
    conf = np.ones((2, 16))
    conf[1, 6] = 0  # second sample: pelvis missing
    out, c = jm.map_to_h36m17(kp, conf, source="mpii16")
    np.testing.assert_allclose(out[0, 0], kp[0, 6])
    np.testing.assert_allclose(out[1, 0], (kp[1, 2] + kp[1, 3]) / 2)
    assert c[1, 0] == 1
    np.testing.assert_allclose(out[1, 7], 0.25 * (kp[1, 2] + kp[1, 3]) + 0.5 * kp[1, 7])


def test_smpl_head_extrapolated():
    kp = np.zeros((24, 3))
    kp[12] = (0, 1.5, 0)  # neck
    kp[15] = (0, 1.6, 0)  # head
    out, _ = jm.map_to_h36m17(kp, source="smpl24")
    np.testing.assert_allclose(out[H["Neck/Nose"]], (0, 1.6, 0))
    np.testing.assert_allclose(out[H["Head"]], (0, 1.7, 0))


def test_batched_equals_looped_and_shape_errors():
    kp = np.random.default_rng(3).normal(size=(4, 5, 17, 2))
    conf = (np.random.default_rng(4).uniform(size=(4, 5, 17)) > 0.2).astype(float)
    out, c = jm.map_to_h36m17(kp, conf, source="coco17")
    assert out.shape == (4, 5, 17, 2) and c.shape == (4, 5, 17)
    o1, c1 = jm.map_to_h36m17(kp[2, 3], conf[2, 3], source="coco17")
    np.testing.assert_array_equal(out[2, 3], o1)
    np.testing.assert_array_equal(c[2, 3], c1)
    with pytest.raises(ValueError, match=r"\(\.\.\., 17, D\), got \(16, 2\)"):
        jm.map_to_h36m17(np.zeros((16, 2)), source="coco17")
    with pytest.raises(ValueError, match="confidence"):
        jm.map_to_h36m17(np.zeros((17, 2)), np.ones(16), source="coco17")
    with pytest.raises(ValueError, match="unknown joint layout"):
        jm.get_joint_map("nope")


def test_every_map_complete_and_weights_sum_to_one():
    for jmap in jm.JOINT_MAPS.values():
        assert jmap.num_target == 17 and len(jmap.rules) == 17
        for alts in jmap.rules:
            for alt in alts:
                assert sum(w for _, w in alt) == pytest.approx(1.0)
        # A constant pose maps to the same constant (weights sum to 1) with full confidence.
        out, c = jm.map_to_h36m17(np.full((jmap.num_source, 2), 7.0), source=jmap)
        np.testing.assert_allclose(out, 7.0)
        np.testing.assert_array_equal(c, 1.0)


def test_left_right_mirror_symmetry_of_every_map():
    # Mirroring a source pose (swap left/right names) must mirror the H36M output.
    def swap(name):
        for a, b in (("left", "right"), ("Left", "Right"), ("l_", "r_"), ("L_", "R_")):
            if name.startswith(a):
                return b + name[len(a) :]
            if name.startswith(b):
                return a + name[len(b) :]
        for a, b in (("lhip", "rhip"), ("lknee", "rknee"), ("lankle", "rankle")):
            if name in (a, b):
                return b if name == a else a
        if re.fullmatch(r"[LR][A-Z].*", name):  # H36M17 names: RHip, LShoulder, ...
            return ("R" if name[0] == "L" else "L") + name[1:]
        if name[:1] in "lr" and name[1:] in ("shoulder", "elbow", "wrist"):
            return ("r" if name[0] == "l" else "l") + name[1:]
        return name.replace("left", "right") if "left" in name else name.replace("right", "left")

    h36m_swap = [jm.H36M17_NAMES.index(n) for n in (
        "Hip", "LHip", "LKnee", "LFoot", "RHip", "RKnee", "RFoot", "Spine", "Thorax",
        "Neck/Nose", "Head", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    )]  # fmt: skip
    rng = np.random.default_rng(5)
    for jmap in jm.JOINT_MAPS.values():
        if jmap.name == "h36m32":
            continue  # "Site_*" names are not mirror-named
        perm = [jmap.source_names.index(swap(n)) for n in jmap.source_names]
        kp = rng.normal(size=(jmap.num_source, 2))
        out, _ = jm.map_to_h36m17(kp, source=jmap)
        out_m, _ = jm.map_to_h36m17(kp[perm], source=jmap)
        np.testing.assert_allclose(out_m, out[h36m_swap], err_msg=jmap.name)
