"""Tests for the synthetic world: its statistics against what the generator promises."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cpose_jax import geometry
from cpose_jax.data import (
    synthetic,
    synthetic_body,
    synthetic_coverage,
    synthetic_figures,
    synthetic_motion,
    synthetic_sensors,
)
from cpose_jax.data.schema import load_dataset
from cpose_jax.skeleton import H36M17

SIZES = dict(
    lab_train=1600, lab_val=400, wild_2d=1200, wild_test=2000, rig2_test=400, wild_stress_test=1200
)


@pytest.fixture(scope="module")
def world():
    """split -> (arrays, info), generated in memory (no disk)."""
    return {s: synthetic.generate_split(s, n, seed=3) for s, n in SIZES.items()}


def _angle_deg(a, b):
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.rad2deg(np.arccos(np.clip(cos, -1, 1)))


def _j(name):
    return H36M17.joint_index(name)


def test_bone_lengths_anthropometric_symmetric_and_consistent(world):
    lo, hi = synthetic_body.BONE_LENGTH_BOUNDS
    for split, (_arrays, info) in world.items():
        x = info["pose_3d"]
        measured = np.linalg.norm(np.asarray(geometry.bones(x, H36M17)), axis=-1)  # (N, 16)
        # float32 geometry.bones on ~5 m coordinates: ~1e-6 m.
        np.testing.assert_allclose(measured, info["lengths"][:, 1:], atol=1e-5, err_msg=split)
        lengths = info["lengths"]
        assert np.all(lengths >= lo - 1e-12) and np.all(lengths <= hi + 1e-12), split
        # Left == right for every paired bone.
        np.testing.assert_allclose(info["lengths"], info["lengths"][:, H36M17.flip_perm])
    # Adult ranges: thighs 0.30-0.60 m (Winter's 0.245 of height, 1.45-1.98 m, +-20 %), upper
    # arms 0.18-0.40 m.
    assert 0.30 < lo[_j("LKnee")] and hi[_j("LKnee")] < 0.60
    assert 0.18 < lo[_j("LElbow")] and hi[_j("LElbow")] < 0.40
    # Per-subject variation exists in the lab, and one subject keeps one body.
    arrays, info = world["lab_train"]
    for s in np.unique(arrays["subject"]):
        m = arrays["subject"] == s
        assert np.ptp(info["lengths"][m], axis=0).max() == 0.0
    thighs = {s: info["lengths"][arrays["subject"] == s][0, _j("LKnee")] for s in ("S1", "S5")}
    assert thighs["S1"] != thighs["S5"]


def test_body_model_bounds_symmetry_and_spread():
    body = synthetic_body
    lengths = body.sample_bodies(np.random.default_rng(1), 20000)
    lo, hi = body.BONE_LENGTH_BOUNDS
    assert np.all(lengths >= lo) and np.all(lengths <= hi)
    np.testing.assert_array_equal(lengths, lengths[:, H36M17.flip_perm])  # left = right
    # The looser scalar range holds too.
    r_lo, r_hi = body.BONE_LENGTH_RANGES
    mean = body.MEAN_BONE_LENGTHS
    assert np.all(lengths[:, 1:] >= mean[1:] * r_lo) and np.all(lengths[:, 1:] <= mean[1:] * r_hi)
    # The mean body is the middle of the drawn bodies (within 3 % per bone).
    np.testing.assert_allclose(np.median(lengths[:, 1:], 0), mean[1:], rtol=0.03)
    hip, sho = lengths[:, _j("RHip")], lengths[:, _j("LShoulder")]
    leg = lengths[:, _j("RKnee")] + lengths[:, _j("RFoot")]
    trunk = lengths[:, _j("Spine")] + lengths[:, _j("Thorax")]
    # Hip joints 0.075-0.15 m from the pelvis centre: narrow hip-joint-centre conventions
    # (CMU about 0.075 m) and Human3.6M's wide ones (about 0.13 m) are both common.
    assert np.percentile(hip, 5) < 0.080 and np.percentile(hip, 95) > 0.145
    assert np.mean(hip < 0.09) > 0.1 and np.mean(hip > 0.13) > 0.1
    # Short to tall: legs of the 1.48 m woman and the 1.92 m man (ANSUR II 1st / 99th
    # percentile) with Winter's hip-to-ankle 0.491 of height are 0.73 m and 0.94 m.
    assert np.percentile(leg, 1) < 0.76 and np.percentile(leg, 99) > 0.93
    # Leg-to-trunk ratio: the mean body's 1.81 widened by about +-12 %.
    assert np.percentile(leg / trunk, 5) < 1.65 and np.percentile(leg / trunk, 95) > 2.0
    # Slim to broad: relative to the legs, hips and shoulders vary together.
    assert np.corrcoef(np.log(hip / leg), np.log(sho / leg))[0, 1] > 0.08


def test_bodies_of_one_call_are_stratified():
    u = synthetic_body._stratified_uniform(np.random.default_rng(0), 7, 3)
    # One value in each of the 7 strata of every column.
    np.testing.assert_array_equal(
        np.sort(np.floor(u * 7), axis=0), np.repeat(np.arange(7)[:, None], 3, 1)
    )
    # Five bodies of one call span more statures than five separate draws (legs as proxy).
    leg = lambda b: b[:, _j("RKnee")] + b[:, _j("RFoot")]
    one_call = [
        np.ptp(leg(synthetic_body.sample_bodies(np.random.default_rng(s), 5))) for s in range(300)
    ]
    rng = np.random.default_rng(0)
    separate = [
        np.ptp(leg(np.concatenate([synthetic_body.sample_bodies(rng, 1) for _ in range(5)])))
        for _ in range(300)
    ]
    assert np.mean(one_call) > 1.1 * np.mean(separate)
    # The lab's five training subjects are one such call: at least one below and one above the
    # median stature.
    bodies = synthetic._subject_bodies(0)
    lab = leg(np.stack([bodies[s] for s in ("S1", "S5", "S6", "S7", "S8")]))
    assert lab.min() < np.median(leg(synthetic_body.sample_bodies(rng, 5000))) < lab.max()


def test_joint_angles_within_limits_and_match_the_3d(world):
    limits = synthetic_body.ANGLE_LIMITS
    names = synthetic_body.ANGLE_NAMES
    for split, (_, info) in world.items():
        a = info["angles"]
        assert np.all(a >= limits[:, 0]) and np.all(a <= limits[:, 1]), split
        x = info["pose_3d"]
        # 1-DOF knees/elbows: the angle between the adjacent bones IS the flexion angle.
        for side, s in (("l", "L"), ("r", "R")):
            for joint, (p, m, c) in (
                ("knee", (f"{s}Hip", f"{s}Knee", f"{s}Foot")),
                ("elbow", (f"{s}Shoulder", f"{s}Elbow", f"{s}Wrist")),
            ):
                got = _angle_deg(x[:, _j(m)] - x[:, _j(p)], x[:, _j(c)] - x[:, _j(m)])
                np.testing.assert_allclose(
                    got, a[:, names.index(f"{side}_{joint}_flex")], atol=1e-5, err_msg=split
                )
    # The limits table is anatomical: knees/elbows only flex, hips and shoulders 3-DOF.
    lim = dict(zip(names, limits))
    assert tuple(lim["l_knee_flex"]) == (0.0, 150.0) and tuple(lim["r_elbow_flex"]) == (0.0, 150.0)
    assert lim["l_sho_flex"][1] == 180.0 and lim["r_hip_flex"][1] <= 135.0


def _handedness(x):
    """Sign of (forward x left) . up per pose (N, 17, 3): +1 for a real person, -1 for a mirror
    image. forward = nose - mid(thorax, head top), left = LHip - RHip, up = thorax - root. (By
    hand: facing north, left = west, up: north x west = up.)"""
    fwd = x[:, _j("Neck/Nose")] - 0.5 * (x[:, _j("Thorax")] + x[:, _j("Head")])
    left = x[:, _j("LHip")] - x[:, _j("RHip")]
    up = x[:, _j("Thorax")] - x[:, _j("Hip")]
    return np.sign(np.einsum("ni,ni->n", np.cross(fwd, left), up))


def test_every_split_has_a_real_persons_chirality(world):
    for split, (_, info) in world.items():
        upright = (
            _angle_deg(
                info["pose_3d"][:, _j("Thorax")] - info["pose_3d"][:, _j("Hip")], -info["up_cam"]
            )
            < 150
        )  # any orientation: chirality does not depend on it
        assert np.all(_handedness(info["pose_3d"][upright]) > 0), split


def test_real_human36m_frames_have_the_same_chirality(realdata):
    """The 4 real Human3.6M frames of ../shared/realdata (skips without them)."""
    with np.load(realdata("h36m/test_h36m_body3d.npz")) as z:
        assert np.all(_handedness(z["S"][..., :3]) > 0)


def test_forward_kinematics_left_right_and_mirror():
    rng = np.random.default_rng(0)
    lengths = synthetic_body.sample_bodies(rng, 4)
    zero = synthetic_body.forward_kinematics(np.zeros((4, 25)), lengths)
    # Body frame: x is the body's RIGHT, y forward, z up: left joints at -x, head above the
    # feet, nose in front of the head top.
    assert np.all(zero[:, _j("LHip"), 0] < 0) and np.all(zero[:, _j("RShoulder"), 0] > 0)
    assert np.all(zero[:, _j("Head"), 2] > zero[:, _j("LFoot"), 2] + 1.3)
    assert np.all(zero[:, _j("Neck/Nose"), 1] > zero[:, _j("Head"), 1])
    style = synthetic_motion.sample_styles(rng, 4)
    angles, _, _ = synthetic_motion.sample_movement(rng, "kicking", style)
    x = synthetic_body.forward_kinematics(angles, lengths)
    xm = synthetic_body.forward_kinematics(synthetic_body.mirror_angles(angles), lengths)
    # Mirroring the angles == reflecting x and swapping left/right joints.
    np.testing.assert_allclose(xm, (x * [-1, 1, 1])[:, H36M17.flip_perm], atol=1e-12)
    # A real person's chirality (a mirror image has the opposite sign): forward x left = up.
    assert np.all(_handedness(zero) > 0)
    # A positive left hip flexion moves the left knee forward (+y).
    a = np.zeros((1, 25))
    a[0, synthetic_body.ANGLE_NAMES.index("l_hip_flex")] = 60.0
    assert synthetic_body.forward_kinematics(a, lengths[:1])[0, _j("LKnee"), 1] > 0.3


def test_rare_movement_share_is_one_knob(world):
    rare = synthetic_motion.RARE
    # Default knob 0.1 = wild_test's share; the training domains see 2.5 times as many.
    assert synthetic.DEFAULT_RARE_FRACTION == 0.1 and synthetic.TRAINING_RARE_SCALE == 2.5
    for split, want in (("lab_train", 0.25), ("wild_test", 0.1), ("wild_2d", 0.25),
                        ("wild_stress_test", 0.35)):  # fmt: skip
        act = world[split][0]["action"]
        share = np.isin(act, rare).mean()
        assert abs(share - want) < 0.04, (split, share)
    assert synthetic.rare_share("lab", 0.4) == 0.5 and synthetic.rare_share("web", 0.8) == 0.8
    assert set(synthetic_motion.MOVEMENTS) == set(np.unique(world["lab_train"][0]["action"]))
    # The knob at 0: lab and wild_test never show a rare movement; the stress test still does.
    for split in ("lab_val", "wild_test", "wild_stress_test"):
        arrays, _ = synthetic.generate_split(split, 400, seed=3, wild_rare_fraction=0.0)
        assert np.isin(arrays["action"], rare).any() == (split == "wild_stress_test")


def test_lab_without_rare_movements_leaves_the_other_splits_alone(tmp_path):
    """`lab_rare=False` (the paper's setting for 2D-only data): no rare movement in lab_train
    or lab_val; the web 2D and the tests are the default world's, bit for bit; the default
    world keeps its cache key."""
    rare = synthetic_motion.RARE
    for split in ("lab_train", "lab_val", "wild_2d", "wild_test"):
        off, _ = synthetic.generate_split(split, 400, seed=3, lab_rare=False)
        on, _ = synthetic.generate_split(split, 400, seed=3)
        if split.startswith("lab"):
            assert not np.isin(off["action"], rare).any() and np.isin(on["action"], rare).any()
        else:
            assert all(np.array_equal(off[k], on[k]) for k in on), split
    assert synthetic.rare_share("lab", 0.1, lab_rare=False) == 0.0
    assert synthetic.rare_share("web", 0.1, lab_rare=False) == 0.25
    sizes = {s: 8 for s in synthetic.SPLITS}
    default = synthetic.make_world(3, sizes=sizes, cache_dir=tmp_path)
    no_lab = synthetic.make_world(3, sizes=sizes, cache_dir=tmp_path, lab_rare=False)
    assert default["lab_train"].parent != no_lab["lab_train"].parent
    assert synthetic._world_key(3, sizes, 0.1) == synthetic._world_key(3, sizes, 0.1, True)


def _faces_up(info, mask):
    """Cosine between the chest's outward normal and world up, per selected pose."""
    x, up = info["pose_3d"][mask], info["up_cam"][mask]
    fwd = np.cross(x[:, _j("LHip")] - x[:, _j("RHip")], x[:, _j("Thorax")] - x[:, 0])
    return np.sum(fwd * up, -1) / np.linalg.norm(fwd, axis=-1)


def test_lab_subjects_vary_their_takes_of_a_movement():
    """The variant of a movement (here: lying on the back or on the front) is drawn per take,
    so every lab subject shows both, not one variant per subject."""
    arrays, info = synthetic.generate_split("lab_train", 8000, seed=3, wild_rare_fraction=0.2)
    lying = arrays["action"] == "lying"
    face = _faces_up(info, lying)
    for subject in np.unique(arrays["subject"]):
        f = face[arrays["subject"][lying] == subject]
        assert (f > 0.7).any() and (f < -0.7).any(), subject


def test_rare_movements_are_physically_plausible():
    arrays, info = synthetic.generate_split("wild_test", 6000, seed=3, wild_rare_fraction=1.0)
    # Lying on the back or front: the trunk rests on the floor, no limb props it up (a limb
    # pointing into the floor would lift the pelvis above the lowest joint).
    lying = arrays["action"] == "lying"
    face = _faces_up(info, lying)
    x, up = info["pose_3d"][lying], info["up_cam"][lying]
    height = np.einsum("njk,nk->nj", x, up)
    height -= height.min(1, keepdims=True)
    for flat in (face > 0.7, face < -0.7):
        assert flat.sum() > 30 and np.median(height[flat, 0]) < 0.15
    # Cartwheel: arms overhead and legs apart from the lean-in to the landing.
    mid = slice(8, 32)  # phases 0.2-0.8: rolled 72-288 degrees
    for variant, arms in (
        ("two_hands", ("l_sho_abd", "r_sho_abd")),
        ("one_handed", ("l_sho_abd",)),
    ):
        a, _, _ = synthetic_motion.trajectory("cartwheel", 40, seed=0, variant=variant)
        for name in arms:
            assert np.all(a[mid, synthetic_body.ANGLE_NAMES.index(name)] > 120.0)


def test_stress_test_is_harder_than_wild_test(world):
    def torso_tilt(split):  # angle of pelvis->thorax from world up, degrees
        _, info = world[split]
        x = info["pose_3d"]
        return _angle_deg(x[:, _j("Thorax")] - x[:, 0], info["up_cam"])

    wild, stress = torso_tilt("wild_test"), torso_tilt("wild_stress_test")
    assert (stress > 60.0).mean() > 2 * (wild > 60.0).mean() > 0.04
    assert (stress > 135.0).mean() > 0.05  # inverted: handstand, cartwheel, flip
    # Everyday lab motion stays upright.
    arrays, info = world["lab_train"]
    every = np.isin(arrays["action"], synthetic_motion.EVERYDAY)
    tilt = _angle_deg(info["pose_3d"][:, _j("Thorax")] - info["pose_3d"][:, 0], info["up_cam"])
    assert np.median(tilt[every]) < 25.0 and np.percentile(tilt[every], 99) < 120.0  # stooping


def test_gait_arm_swing_is_phase_locked_to_the_legs():
    """Walking: each arm swings with the opposite leg (correlation of shoulder flexion with the
    contralateral hip flexion near +1, with the ipsilateral one near -1)."""
    a, _, _ = synthetic_motion.trajectory("walking", 60, seed=1)
    ix = synthetic_body.ANGLE_NAMES.index
    l_sho, r_hip, l_hip = a[:, ix("l_sho_flex")], a[:, ix("r_hip_flex")], a[:, ix("l_hip_flex")]
    assert np.corrcoef(l_sho, r_hip)[0, 1] > 0.9 and np.corrcoef(l_sho, l_hip)[0, 1] < -0.9
    # Knee: swing-phase flexion 40-80 deg, stance nearly straight.
    knee = a[:, ix("l_knee_flex")]
    assert 40 < knee.max() < 80 and knee.min() < 15


def _cycles():
    """(movement, variant) for every movement and every named variant."""
    for m in synthetic_motion.MOVEMENTS:
        for v in synthetic_motion.VARIANTS.get(m, (None,)):
            yield m, v


def test_every_movement_is_continuous_along_its_trajectory():
    rng = np.random.default_rng(0)
    lengths = synthetic_body.sample_bodies(rng, 1)
    for m, v in _cycles():
        a, tilt, lift = synthetic_motion.trajectory(m, 120, seed=2, variant=v)
        x = synthetic_body.forward_kinematics(a, np.repeat(lengths, 120, 0), tilt)
        step = np.linalg.norm(np.diff(x, axis=0), axis=-1).max()
        assert step < 0.25, (m, v, step)  # no jumps between consecutive frames (1/120 cycle)
        assert np.all(lift >= 0)


def test_movement_families_partition_the_movements_and_the_mixes_cover_them():
    fams = synthetic_motion.FAMILIES
    listed = [m for ms in fams.values() for m in ms]
    assert sorted(listed) == sorted(synthetic_motion.MOVEMENTS)  # each exactly once
    assert len(set(synthetic_motion.MOVEMENTS)) == len(synthetic_motion.MOVEMENTS)
    assert set(fams["turns"]) == {"spinning", "turning_kick"}
    assert set(synthetic_motion.VARIANTS) <= set(synthetic_motion.MOVEMENTS)
    # The world's mixes: every everyday and sport movement weighted, each mix summing to 1, and
    # every movement drawn in a domain's mix.
    assert set(synthetic._EVERYDAY_MIX) == set(synthetic_motion.EVERYDAY)
    assert set(synthetic._SPORT_MIX) == set(synthetic_motion.SPORT)
    for mix in (synthetic._EVERYDAY_MIX, synthetic._SPORT_MIX):
        assert abs(sum(mix.values()) - 1.0) < 1e-9 and min(mix.values()) > 0
    mix = synthetic._action_mix("lab", 0.1)
    assert set(mix) == set(synthetic_motion.MOVEMENTS) and abs(sum(mix.values()) - 1) < 1e-9


def test_every_movement_and_variant_is_finite_and_within_the_limits():
    lo, hi = synthetic_body.ANGLE_LIMITS.T
    rng = np.random.default_rng(4)
    for m, v in _cycles():
        a, tilt, lift = synthetic_motion.trajectory(m, 50, seed=1, variant=v)
        assert np.isfinite(a).all() and np.isfinite(tilt).all() and np.isfinite(lift).all()
        assert np.all(a >= lo) and np.all(a <= hi), (m, v)
        np.testing.assert_allclose(tilt @ tilt.transpose(0, 2, 1), np.eye(3)[None].repeat(50, 0),
                                   atol=1e-12)  # fmt: skip
    for m in synthetic_motion.MOVEMENTS:  # with noise, styles and mirroring
        a, tilt, lift = synthetic_motion.sample_movement(
            rng, m, synthetic_motion.sample_styles(rng, 300)
        )
        assert np.isfinite(a).all() and np.all(a >= lo) and np.all(a <= hi), m
        assert np.all(lift >= 0)
    with pytest.raises(ValueError, match="variant"):
        synthetic_motion.trajectory("crawling", 4, variant="moonwalk")


def _trajectory_3d(movement, variant, frames):
    a, tilt, lift = synthetic_motion.trajectory(movement, frames, seed=3, variant=variant)
    x = synthetic_body.forward_kinematics(
        a, np.repeat(synthetic_body.MEAN_BONE_LENGTHS[None], frames, 0), tilt
    )
    x[..., 2] += (lift - x[..., 2].min(1))[:, None]  # lowest joint on the ground (z = 0)
    return a, x


def _facing(x):
    """Horizontal unit facing direction from the skeleton: left x up (see _handedness)."""
    f = np.cross(x[:, _j("LHip")] - x[:, _j("RHip")], x[:, _j("Thorax")] - x[:, _j("Hip")])
    f[:, 2] = 0.0
    return f / np.linalg.norm(f, axis=-1, keepdims=True)


def _trunk_elevation(x):
    """Angle of pelvis -> thorax above the horizontal, degrees (90 upright, -90 inverted)."""
    t = x[:, _j("Thorax")] - x[:, _j("Hip")]
    return np.rad2deg(np.arcsin(t[:, 2] / np.linalg.norm(t, axis=-1)))


def test_spins_turn_the_whole_body_through_the_circle():
    for m, variants, least in (
        ("spinning", synthetic_motion.VARIANTS["spinning"], 350.0),
        ("turning_kick", ("spinning_back_kick", "spinning_hook_kick"), 300.0),
        ("turning", ("walk_curve", "step_turn"), 85.0),
    ):
        for v in variants:
            _, x = _trajectory_3d(m, v, 120)
            f = _facing(x)
            heading = np.unwrap(np.arctan2(f[:, 1], f[:, 0]))
            turned = np.rad2deg(heading[-1] - heading[0])
            assert turned > least, (m, v, turned)  # to the left (counter-clockwise)
            # The trunk stays above the horizontal while turning (not a cartwheel or a roll).
            assert _trunk_elevation(x).min() > 15.0, (m, v)


def test_round_off_goes_over_the_hands_and_lands_facing_back():
    _, x = _trajectory_3d("cartwheel", "round_off", 100)
    head_above_pelvis = x[:, _j("Head"), 2] - x[:, _j("Hip"), 2]
    assert head_above_pelvis.min() < -0.5  # inverted, the head half a metre below the pelvis
    inv = np.argmin(head_above_pelvis)
    wrists = x[inv, [_j("LWrist"), _j("RWrist")], 2]
    assert wrists.max() < 0.1  # on both hands
    f = _facing(x)
    assert f[0] @ f[-1] < -0.9  # facing the way it came
    assert _trunk_elevation(x[-1:])[0] > 70.0
    feet = x[-1, [_j("LFoot"), _j("RFoot")]]
    assert np.linalg.norm(feet[0] - feet[1]) < 0.45 and feet[:, 2].max() < 0.05  # two feet
    # The plain cartwheel comes back facing forward.
    _, x = _trajectory_3d("cartwheel", "two_hands", 100)
    assert _facing(x)[0] @ _facing(x)[-1] > 0.9


def test_crawling_keeps_the_trunk_near_horizontal_and_the_limbs_on_the_floor():
    for v in synthetic_motion.VARIANTS["crawling"]:
        _, x = _trajectory_3d("crawling", v, 40)
        assert np.abs(_trunk_elevation(x)).max() < 30.0, v
        hands = x[:, [_j("LWrist"), _j("RWrist")], 2]
        assert np.median(hands.min(1)) < 0.06, v  # a hand down (on the forearm for the belly)
        if v == "belly":
            assert x[:, _j("Hip"), 2].max() < 0.2  # the pelvis on the floor
        else:
            assert x[:, _j("Hip"), 2].min() > 0.35  # on knees or feet
        support = {"hands_knees": ("LKnee", "RKnee"), "bear": ("LFoot", "RFoot")}.get(v)
        if support:
            legs = x[:, [_j(support[0]), _j(support[1])], 2]
            assert np.median(legs.min(1)) < 0.06, v


def test_getting_up_starts_on_the_floor_and_ends_standing():
    for v in synthetic_motion.VARIANTS["getting_up"]:
        a, x = _trajectory_3d("getting_up", v, 100)
        assert abs(_trunk_elevation(x[:1])[0]) < 20.0 and x[0, _j("Hip"), 2] < 0.3, v
        assert _trunk_elevation(x[-1:])[0] > 75.0 and x[-1, _j("Hip"), 2] > 0.8, v
        knees = [synthetic_body.ANGLE_NAMES.index(k) for k in ("l_knee_flex", "r_knee_flex")]
        assert a[-1, knees].max() < 25.0, v
        # On the way up it passes low (sitting, kneeling or on all fours): pelvis below 0.6 m.
        assert (x[20:80, _j("Hip"), 2] < 0.6).any(), v


def test_2d_gt_is_exact_geometry_projection_of_3d(world):
    for split, (arrays, _info) in world.items():
        intr = arrays.get("intrinsics")
        if intr is None:  # 2D-only split: no intrinsics stored; nothing to project with
            assert "pose_3d" not in arrays
            continue
        with jax.enable_x64(True):
            uv = np.asarray(geometry.project(jnp.asarray(arrays["pose_3d"]), jnp.asarray(intr)))
        np.testing.assert_allclose(uv, arrays["keypoints_2d_gt"], atol=1e-4, rtol=0, err_msg=split)
        # float32 library projection agrees to float32 precision (relative 1e-6 of the pixels).
        uv32 = np.asarray(geometry.project(arrays["pose_3d"], intr))
        assert np.abs(uv32 - arrays["keypoints_2d_gt"]).max() < 2e-6 * np.abs(uv).max() + 1e-4


def test_cameras_match_the_promised_rigs(world):
    lab, _ = world["lab_train"]
    assert np.all(np.abs(lab["intrinsics"][:, 0] - 1145) < 10)
    assert np.all(lab["image_size"] == 1000.0)
    assert set(np.unique(lab["camera"])) == {f"rig1_c{i}" for i in range(4)}
    # Each pose is seen by the 4 cameras: consecutive samples share a subject and action.
    assert np.all(lab["subject"][0::4] == lab["subject"][3::4][: len(lab["subject"][0::4])])
    dist = np.linalg.norm(synthetic_sensors.RIGS["rig1"]["centre"][:, :2], axis=-1)
    assert np.all((dist > 4.0) & (dist < 6.0))
    depth = lab["pose_3d"][:, 0, 2]
    assert depth.min() > 3.0 and depth.max() < 7.0
    # wild_test: phone video, focal tied to the image size by a 52-60 deg FOV (long side).
    wild, _ = world["wild_test"]
    f, wh = wild["intrinsics"][:, 0], wild["image_size"]
    fov = np.rad2deg(2 * np.arctan(0.5 * wh.max(-1) / f))
    assert fov.min() >= 51.9 and fov.max() <= 60.1
    assert {tuple(s) for s in wh} == {(1080.0, 1920.0), (1920.0, 1080.0)}
    assert (wh[:, 0] < wh[:, 1]).mean() > 0.6  # mostly portrait
    dist = np.linalg.norm(wild["pose_3d"][:, 0], axis=-1)
    assert dist.min() >= 1.9 and dist.max() <= 7.6
    gt = wild["keypoints_2d_gt"]
    assert np.all(gt >= 0) and np.all(gt <= wild["image_size"][:, None])  # whole body in view
    # wild_2d: landscape web frames, people large (extent / image height 0.3..1).
    web, _ = world["wild_2d"]
    assert np.all(web["image_size"][:, 0] > web["image_size"][:, 1])
    ext = np.max(web["keypoints_2d_gt"].max(1) - web["keypoints_2d_gt"].min(1), -1)
    assert np.median(ext / web["image_size"][:, 1]) > 0.4
    # The stress test keeps the old random cameras: focal 500-2500 px, varied elevation.
    stress, _ = world["wild_stress_test"]
    f = stress["intrinsics"][:, 0]
    assert f.min() >= 500 and f.max() <= 2500 and np.ptp(np.log(f)) > 1.2
    up = world["wild_stress_test"][1]["up_cam"]
    pitch = np.rad2deg(np.arcsin(np.clip(up[:, 2], -1, 1)))  # optical axis vs horizon
    assert pitch.min() < -30 and pitch.max() > 5
    rig2, _ = world["rig2_test"]
    assert set(np.unique(rig2["subject"])).isdisjoint(set(lab["subject"]))
    assert {tuple(s) for s in rig2["image_size"]} == {(2048.0, 2048.0), (1920.0, 1080.0)}
    assert set(np.unique(world["lab_val"][0]["subject"])) == {"S9", "S11"}


def test_detector_error_grows_with_size_and_is_flagged_by_confidence(world):
    for split in ("lab_train", "wild_2d"):
        arrays, info = world[split]
        gt, det, conf = arrays["keypoints_2d_gt"], arrays["keypoints_2d"], arrays["confidence"]
        err = np.linalg.norm(det - gt, axis=-1)
        assert 0.0 <= conf.min() and conf.max() <= 1.0
        low = conf < 0.5
        assert 0.02 < low.mean() < 0.5, split
        assert err[low].mean() > 2.5 * err[~low].mean(), split
        gross = info["gross"]
        assert 0.01 < gross.mean() < 0.15
        assert conf[gross].mean() < conf[~gross].mean() - 0.2
        # ...but not always: some gross errors come with a confident score.
        assert (conf[gross] > 0.5).mean() > 0.1
        # Noise grows with the body's size in pixels.
        size = np.max(gt.max(1) - gt.min(1), -1)
        clean = np.where(gross | info["occluded"], np.nan, err)
        per_sample = np.nanmedian(clean, axis=1)
        ok = np.isfinite(per_sample)
        assert np.corrcoef(size[ok], per_sample[ok])[0, 1] > 0.4
        # Joint difficulty: wrists are harder than the nose (relative to body size).
        rel = clean / size[:, None]
        assert np.nanmedian(rel[:, _j("LWrist")]) > 1.5 * np.nanmedian(rel[:, _j("Neck/Nose")])
        # Left/right swaps happen.
        lk, rk = _j("LKnee"), _j("RKnee")
        swapped = (
            np.linalg.norm(det[:, lk] - gt[:, rk], axis=-1)
            < np.linalg.norm(det[:, lk] - gt[:, lk], axis=-1) * 0.5
        )
        assert swapped.sum() >= 1


def test_deterministic_from_seed():
    a1, _ = synthetic.generate_split("wild_2d", 300, seed=11)
    a2, _ = synthetic.generate_split("wild_2d", 300, seed=11)
    b, _ = synthetic.generate_split("wild_2d", 300, seed=12)
    for k in a1:
        np.testing.assert_array_equal(a1[k], a2[k], err_msg=k)
    assert not np.allclose(a1["keypoints_2d"], b["keypoints_2d"])
    with pytest.raises(ValueError, match="unknown split"):
        synthetic.generate_split("lab_test", 10)


def test_make_world_writes_schema_files_and_caches(tmp_path, monkeypatch):
    sizes = dict(lab_train=80, lab_val=40, wild_2d=40, wild_test=40, rig2_test=40)
    sizes["wild_stress_test"] = 40
    paths = synthetic.make_world(5, sizes=sizes, cache_dir=tmp_path)
    assert list(paths) == list(synthetic.SPLITS)
    world = synthetic.load_world(paths)
    for split, ds in world.items():
        assert len(ds) == sizes[split] and ds.skeleton_name == "h36m17"
        assert "keypoints_2d_gt" in ds and ds.meta["split"] == split
        assert ("pose_3d" in ds) == (split != "wild_2d") == ("intrinsics" in ds)
    # Same numbers as in memory (float64 on disk, exact).
    arrays, _ = synthetic.generate_split("lab_val", 40, seed=5)
    np.testing.assert_array_equal(world["lab_val"]["keypoints_2d_gt"], arrays["keypoints_2d_gt"])
    # Cache hit: nothing is regenerated.
    mtimes = {s: p.stat().st_mtime_ns for s, p in paths.items()}

    def fail(*a, **k):
        raise AssertionError("regenerated despite the cache")

    monkeypatch.setattr(synthetic, "generate_split", fail)
    again = synthetic.make_world(5, sizes=sizes, cache_dir=tmp_path)
    assert again == paths and {s: p.stat().st_mtime_ns for s, p in paths.items()} == mtimes
    monkeypatch.undo()
    # A different size is a different cache entry; other splits' content does not change.
    other = synthetic.make_world(5, sizes=dict(sizes, lab_train=120), cache_dir=tmp_path)
    assert other["lab_val"].parent != paths["lab_val"].parent
    np.testing.assert_array_equal(
        load_dataset(other["lab_val"])["pose_3d"], world["lab_val"]["pose_3d"]
    )
    # The figure of sample poses.
    fig = synthetic_figures.make_figure(world, tmp_path / "fig.png", per_split=2)
    assert fig.stat().st_size > 10_000
    stats = synthetic_coverage.world_stats(world)
    assert stats["lab_train"]["rare_share"] < stats["wild_stress_test"]["rare_share"]
    assert "pose_3d" not in world["wild_2d"]


def test_detector_noise_is_partly_learnable():
    """A linear refiner (ridge on root-relative detections + confidences, fit on lab_train)
    reduces the 2D error on lab_val: the simulated noise has learnable structure (systematic
    offsets, confidence-flagged gross errors), as the paper's refinement network needs. Upright
    (everyday and sport) movements only: one linear map cannot follow the offsets of bodies
    turned every way."""
    from cpose_jax.data.pipeline import to_model_space
    from cpose_jax.data.schema import Dataset

    def model_space(split):
        arrays, _ = synthetic.generate_split(split, 6000 if split == "lab_train" else 1500, seed=3)
        keep = ~np.isin(arrays["action"], synthetic_motion.RARE)
        return to_model_space(
            Dataset({k: v[keep] for k, v in arrays.items()}, skeleton_name="h36m17")
        )

    def feats(m):
        x = m["keypoints_2d"] - m["keypoints_2d"][:, :1]
        c = m["confidence"]
        n = len(x)
        return np.concatenate(
            [x.reshape(n, -1), c, (x * c[..., None]).reshape(n, -1), np.ones((n, 1))], 1
        ).astype(np.float64)

    tr, va = model_space("lab_train"), model_space("lab_val")
    x = feats(tr)
    y = (tr["keypoints_2d_gt"] - tr["keypoints_2d"]).reshape(len(x), -1)
    w = np.linalg.solve(x.T @ x + 1e-2 * np.eye(x.shape[1]), x.T @ y)
    refined = va["keypoints_2d"] + (feats(va) @ w).reshape(va["keypoints_2d"].shape)
    before = np.linalg.norm(va["keypoints_2d"] - va["keypoints_2d_gt"], axis=-1).mean()
    after = np.linalg.norm(refined - va["keypoints_2d_gt"], axis=-1).mean()
    assert after < 0.92 * before, (before, after)


def test_pose_coverage_is_pelvis_aligned_mpjpe(world, tmp_path, capsys):
    x = world["lab_val"][1]["pose_3d"][:50]
    # Invariant to rotation and translation; zero against itself.
    rot = synthetic_body.axis_rotation(2, np.full(50, 70.0)) @ synthetic_body.tilt_matrix(
        np.full(50, 20.0), np.full(50, 130.0)
    )
    moved = np.einsum("nij,nkj->nki", rot, x) + np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(
        synthetic_coverage.pose_coverage(moved, x), 0.0, atol=0.02
    )  # 10 um dedup grid
    # One wrist moved 150 mm along the pelvis axis: 150 / 15 joints = 10 mm from its original
    # (hand computation), or less if another pose of the set is nearer.
    y = synthetic_coverage.pelvis_aligned(x[:1]).copy()
    y[0, _j("LWrist"), 0] += 0.150
    d = synthetic_coverage.pose_coverage(y, x)[0]
    assert 0 < d <= 10.0 + 0.02
    # Head and nose are not compared.
    y = synthetic_coverage.pelvis_aligned(x[:1]).copy()
    y[0, _j("Head")] += 0.3
    np.testing.assert_allclose(synthetic_coverage.pose_coverage(y, x), 0.0, atol=0.02)
    # The same poses on other bodies: 0 with the bones normalised, > 0 as they are; still
    # invariant to the reference's rotation and translation.
    other = synthetic_body.sample_bodies(np.random.default_rng(4), 50)
    rebuilt = synthetic_body.pose_from_directions(
        synthetic_body.directions_from_positions(moved), other
    ) + np.array([0.5, 0.0, -1.0])
    norm = synthetic_coverage.pose_coverage(rebuilt, x, normalise_bones=True)
    np.testing.assert_allclose(norm, 0.0, atol=0.02)
    assert np.all(synthetic_coverage.pose_coverage(rebuilt, x) > 5.0)
    # Normalising changes only the builds: against itself still 0, and a moved wrist still
    # counts (the retargeted wrist moves with its bone's direction).
    np.testing.assert_allclose(
        synthetic_coverage.pose_coverage(x, x, normalise_bones=True), 0.0, atol=0.02
    )
    y = synthetic_coverage.pelvis_aligned(x[:1]).copy()
    y[0, _j("LWrist"), 0] += 0.150
    assert synthetic_coverage.pose_coverage(y, x[:1], normalise_bones=True)[0] > 1.0
    # The CLI prints median / p90 per split and per action of the reference.
    ref = tmp_path / "ref.npz"
    arrays, _ = synthetic.generate_split("wild_test", 30, seed=9)
    from cpose_jax.data.schema import save_dataset

    save_dataset(ref, skeleton="h36m17", **arrays)
    sizes = [f"--size={s}=40" for s in synthetic.SPLITS]
    synthetic.main(["--cache-dir", str(tmp_path), *sizes, "--coverage", str(ref)])
    out = capsys.readouterr().out
    assert "lab_train          all" in out and "walking" in out and "bones normalised" in out
    table = synthetic_coverage.coverage_table(load_dataset(ref), {"wild_test": load_dataset(ref)})
    row = table["wild_test"]
    assert row["all"][0] < 0.05 and row["all_bones_normalised"][0] < 0.05
    assert {k + "_bones_normalised" for k in row if not k.endswith("_normalised")} <= set(row)


def test_view_poses_and_motion_figure(tmp_path):
    a, tilt, _ = synthetic_motion.trajectory("walking", 5)
    lengths = np.repeat(synthetic_body.MEAN_BONE_LENGTHS[None], 5, 0)
    x = synthetic_body.forward_kinematics(a, lengths, tilt)
    for dom, per in (("lab", 4), ("phone", 1)):
        arrays, _ = synthetic.view_poses(
            x, np.random.default_rng(0), domain=dom, root_height=np.full(5, 0.95)
        )
        assert arrays["pose_3d"].shape == (5 * per, 17, 3)
        rel = arrays["pose_3d"] - arrays["pose_3d"][:, :1]
        # Same pose up to a rotation: pairwise joint distances are kept.
        d = lambda p: np.linalg.norm(p[:, :, None] - p[:, None], axis=-1)
        np.testing.assert_allclose(d(rel), d(np.repeat(x, per, 0)), atol=1e-9)
    with pytest.raises(ValueError, match="domain"):
        synthetic.view_poses(x, np.random.default_rng(0), domain="moon", root_height=np.ones(5))
    fig = synthetic_figures.make_motion_figure(tmp_path / "m.png", frames=3)
    assert fig.stat().st_size > 10_000


def test_side_kick_leans_away_from_the_kicking_leg():
    """At the side kick's extension the kicking (left) foot is at about hip height, the trunk
    leans to the body's right, away from it, and the support (right) leg stays near vertical
    with its foot lowest."""
    rng = np.random.default_rng(0)
    style = synthetic_motion.sample_styles(rng, 1)
    style["rhythm"][:, 0], style["amp"][:], style["bias"][:] = 0.9, 1.0, 0.0  # the side variant
    angles, tilt, _ = synthetic_motion._evaluate(
        "kicking", np.array([0.45]), style, rng, noise_deg=0.0
    )
    x = synthetic_body.forward_kinematics(angles, synthetic_body.MEAN_BONE_LENGTHS[None], tilt)[0]
    j = synthetic_body.SKELETON.joint_index
    assert abs(x[j("LFoot"), 2] - x[j("LHip"), 2]) < 0.15
    assert x[j("Thorax"), 0] - x[0, 0] > 0.15  # x = the body's right
    leg = x[j("RFoot")] - x[j("RHip")]
    assert np.degrees(np.arccos(-leg[2] / np.linalg.norm(leg))) < 20
    assert np.argmin(x[:, 2]) == j("RFoot")
