"""The synthetic world: the embedded default dataset (DESIGN §3), deterministic from a seed.

With no real data, ``experiments.run`` calls :func:`make_world`, which generates (or finds in its
cache) six splits written in the dataset schema (:mod:`cpose_jax.data.schema`) so every later
stage runs the real code path:

====================  ======  ========================================================  =====
split                 domain  role                                                      3D
====================  ======  ========================================================  =====
``lab_train``         lab     2D-3D training pairs (ϕ; Human3.6M S1, S5-S8 like)       yes
``lab_val``           lab     model selection; held-out subjects S9, S11                 yes
``wild_2d``           web     2D-only training data (ϕ'; MPII like): no 3D               no
``wild_test``         phone   cross-scenario 3D test (3DPW like)                        yes
``rig2_test``         rig2    cross-dataset test: second lab rig (3DHP like)            yes
``wild_stress_test``  stress  the harder wild set of generator v3 (labelled stress test) yes
====================  ======  ========================================================  =====

Every split stores ``keypoints_2d`` = simulated detections with ``confidence`` = detector
scores, and ``keypoints_2d_gt`` = the exact projection of the 3D (``geometry.project``), so
GT-vs-detected input experiments need no second world. ``action`` holds movement names,
``subject`` body ids, ``camera`` camera ids.

* Bodies (:mod:`.synthetic_body`): anthropometric bone lengths per subject, joint angles within
  anatomical limits, forward kinematics with a real person's chirality.
* Motion (:mod:`.synthetic_motion`): poses sampled at random phases along procedural movements
  (gait cycles, sit-to-stand, squat, reaching, gestures, running, jumps, kicks, punches,
  dancing, crawling, lying, rolling, getting up, handstand, cartwheel, flip) with per-subject
  style; the lab subjects keep one body and one style each, and choose the variant of a
  movement (lying on the back or front, log or forward roll, which gesture) afresh for every
  take. Every domain mixes everyday and sport movements (sport: 25 % lab, 30 % rig2, 15 %
  phone, 45 % web) and the rare (floor and inverted) movements at ONE knob,
  ``wild_rare_fraction`` (default 0.1), the share in wild_test; the training domains lab
  (lab_train, lab_val) and web (wild_2d) show them 2.5 times as often (0.25 by default, at most
  half), rig2_test at least 0.2, the stress test 0.35 plus arbitrary body tilt (30 % tilted by
  |N(0, 25°)|). Set it to 0 for the paper's setting where the lab never shows them.
* Cameras (:mod:`.synthetic_sensors` and below): lab = fixed ring of 4 cameras (f ~ 1145 px,
  1000x1000, 4-6 m), every pose seen by all four; rig2 = 3DHP-like rig (2048x2048 f ~ 1500 px,
  one 1920x1080, 2.5-5.5 m, low and high viewpoints); phone (wild_test) = 3DPW-like phone video,
  portrait 1080x1920 (70 %) or landscape, focal from a 52-60° field of view on the long side
  (f ~ 1660-1970 px), held 1-1.8 m high, person 2-7 m away in the central part of the frame;
  web (wild_2d) = YouTube-style landscape frames (1280x720, 1920x1080, 854x480, 640x480), focal
  from a 50-80° horizontal field of view, people large (45-90 % of the image height) and
  central, camera 0.3-4 m high; stress = the v3 wild cameras (focal 500-2500 px log-uniform,
  common image sizes, 2-15 m, elevation mostly near eye level, person anywhere in the frame).
* Detector: per-joint noise growing with body size in pixels and joint difficulty,
  systematic offsets, left/right swaps, jumps to neighbours, lost joints, heatmap-like
  confidences (difficulty level 1.0 lab, 1.3 rig2, 1.4 phone and web, 1.7 stress).

Run ``python -m cpose_jax.data.synthetic --figure docs/figures/synthetic_world.png`` to generate
the default world, print its statistics, draw every movement as a filmstrip and sample poses of
each split (``..._splits.png``). ``--coverage REF.npz`` prints how far the poses of a reference
set (e.g. real motion from ``data_prep.acclaim``) are from each split (:func:`pose_coverage`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from cpose_jax.data import synthetic_body as body
from cpose_jax.data import synthetic_motion as motion
from cpose_jax.data import synthetic_sensors as sensors
from cpose_jax.data.schema import Dataset, load_dataset, save_dataset

__all__ = [
    "DEFAULT_RARE_FRACTION",
    "DEFAULT_SIZES",
    "GENERATOR_VERSION",
    "SPLITS",
    "TEST_SPLITS",
    "TRAINING_RARE_SCALE",
    "coverage_table",
    "default_cache_dir",
    "generate_split",
    "load_world",
    "make_figure",
    "make_motion_figure",
    "make_world",
    "pelvis_aligned",
    "pose_coverage",
    "rare_share",
    "view_poses",
    "world_stats",
]

#: Bump whenever the generated numbers change (invalidates caches).
GENERATOR_VERSION = 5

SPLITS = ("lab_train", "lab_val", "wild_2d", "wild_test", "rig2_test", "wild_stress_test")
#: The 3D test splits ``experiments`` evaluates by default (lab_val doubles as validation).
TEST_SPLITS = ("lab_val", "rig2_test", "wild_test", "wild_stress_test")

#: Default sample counts (lab_train: 10k poses x 4 cameras). Generation takes a few seconds.
DEFAULT_SIZES = {
    "lab_train": 40_000,
    "lab_val": 8_000,
    "wild_2d": 12_000,
    "wild_test": 4_000,
    "rig2_test": 4_000,
    "wild_stress_test": 4_000,
}

#: Default share of rare (floor and inverted) movements in the 3D test wild_test (the knob).
DEFAULT_RARE_FRACTION = 0.1
#: The training domains (lab: lab_train and its validation lab_val; web: the 2D-only wild_2d)
#: show the rare movements TRAINING_RARE_SCALE times as often as the knob (at most half of the
#: poses): a lifter learns a whole-body rotation from a few hundred poses only, and the 2D-only
#: set is the one with the most varied activities. Knob 0 still means none.
TRAINING_RARE_SCALE = 2.5
_TRAINING_DOMAINS = ("lab", "web")
_RIG2_RARE_FRACTION = 0.2
_STRESS_RARE_FRACTION = 0.35

_SPEC = {
    "lab_train": dict(domain="lab", rig="rig1", subjects=("S1", "S5", "S6", "S7", "S8")),
    "lab_val": dict(domain="lab", rig="rig1", subjects=("S9", "S11")),
    "wild_2d": dict(domain="web"),
    "wild_test": dict(domain="phone"),
    "rig2_test": dict(
        domain="rig2", rig="rig2", subjects=("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
    ),
    "wild_stress_test": dict(domain="stress"),
}
_SPLIT_KEY = {s: i + 1 for i, s in enumerate(SPLITS)}
_ALL_SUBJECTS = (
    "S1",
    "S5",
    "S6",
    "S7",
    "S8",
    "S9",
    "S11",
    "TS1",
    "TS2",
    "TS3",
    "TS4",
    "TS5",
    "TS6",
)
# Everyday (Human3.6M's activities) and sport movements; each mix is completed by the rare
# (floor and inverted) movements, uniformly, at the split's rare share.
_EVERYDAY_MIX = {
    "standing": 0.12, "walking": 0.22, "sitting": 0.12, "sit_to_stand": 0.08,
    "squat_pickup": 0.08, "reaching": 0.1, "gesturing": 0.16, "hand_to_face": 0.12,
}  # fmt: skip
_SPORT_MIX = {"running": 0.25, "jumping": 0.2, "kicking": 0.15, "punching": 0.15, "dancing": 0.25}
_SPORT_SHARE = {"lab": 0.25, "rig2": 0.3, "phone": 0.15, "web": 0.45, "stress": 0.3}
_DETECTOR_LEVEL = {"lab": 1.0, "rig2": 1.3, "phone": 1.4, "web": 1.4, "stress": 1.7}
_WILD_TILT_SHARE, _WILD_TILT_SD = 0.3, 25.0


def rare_share(domain: str, rare_fraction: float, *, lab_rare: bool = True) -> float:
    """Share of rare movements in a domain's poses for the knob ``rare_fraction``;
    ``lab_rare=False``: none in the lab (the paper's setting, see :func:`generate_split`)."""
    if domain == "lab" and not lab_rare:
        return 0.0
    if domain == "stress":
        return max(rare_fraction, _STRESS_RARE_FRACTION)
    if domain == "rig2":
        return max(rare_fraction, _RIG2_RARE_FRACTION)
    if domain in _TRAINING_DOMAINS:
        return min(TRAINING_RARE_SCALE * rare_fraction, max(rare_fraction, 0.5))
    return rare_fraction


def _action_mix(domain: str, rare_fraction: float, *, lab_rare: bool = True) -> dict[str, float]:
    """Movement -> probability for a domain (:mod:`.synthetic_motion` names)."""
    rare_fraction = rare_share(domain, rare_fraction, lab_rare=lab_rare)
    common, sport = 1.0 - rare_fraction, _SPORT_SHARE[domain]
    mix = {a: w * common * (1 - sport) for a, w in _EVERYDAY_MIX.items()}
    mix.update({a: w * common * sport for a, w in _SPORT_MIX.items()})
    mix.update({a: rare_fraction / len(motion.RARE) for a in motion.RARE})
    return mix


def _subject_bodies(seed: int) -> dict[str, np.ndarray]:
    lengths = body.sample_bodies(np.random.default_rng([seed, 0]), len(_ALL_SUBJECTS))
    return dict(zip(_ALL_SUBJECTS, lengths))


def _subject_styles(seed: int) -> dict[str, dict[str, np.ndarray]]:
    st = motion.sample_styles(np.random.default_rng([seed, 100]), len(_ALL_SUBJECTS))
    return {s: {k: v[i] for k, v in st.items()} for i, s in enumerate(_ALL_SUBJECTS)}


def _sample_poses(rng, n, mix, style):
    """Movements drawn from ``mix`` at random phases; ``style`` rows per sample.

    Returns action names (n,), angles (n, 25), tilt (n, 3, 3), lift (n,).
    """
    names = np.array(list(mix))
    p = np.array(list(mix.values()))
    action = rng.choice(len(names), size=n, p=p / p.sum())
    angles = np.zeros((n, len(body.ANGLE_NAMES)))
    tilt = np.zeros((n, 3, 3))
    lift = np.zeros(n)
    for k, name in enumerate(names):  # one vectorised call per movement
        idx = np.flatnonzero(action == k)
        if idx.size:
            st = {key: v[idx] for key, v in style.items()}
            angles[idx], tilt[idx], lift[idx] = motion.sample_movement(rng, str(name), st)
    return names[action], angles, tilt, lift


def _place(rng, angles, lengths, tilt, lift, *, capture_radius, extra_tilt):
    """World poses (N, J, 3), z-up, feet (lowest joint) on the ground plus ``lift``."""
    n = angles.shape[0]
    yaw = rng.uniform(0.0, 360.0, n)
    rot = body.axis_rotation(2, yaw)
    if extra_tilt:
        tilted = rng.uniform(size=n) < _WILD_TILT_SHARE
        ang = np.where(tilted, np.abs(rng.normal(0.0, _WILD_TILT_SD, n)), 0.0)
        rot = rot @ body.tilt_matrix(rng.uniform(0.0, 360.0, n), ang)
    x = body.forward_kinematics(angles, lengths, rot @ tilt)
    r = capture_radius * np.sqrt(rng.uniform(size=n))
    phi = rng.uniform(0.0, 2 * np.pi, n)
    root = np.stack([r * np.cos(phi), r * np.sin(phi), lift - x[:, :, 2].min(axis=1)], -1)
    return x + root[:, None, :]


def _to_camera(x_world, centre, rotation):
    return np.einsum("nij,nkj->nki", rotation, x_world - centre[:, None, :])


def _focal_from_fov(rng, wh, lo_deg, hi_deg):
    """Focal (px) from a horizontal field of view on the LONG image side, uniform in degrees."""
    fov = np.deg2rad(rng.uniform(lo_deg, hi_deg, wh.shape[0]))
    return 0.5 * wh.max(-1) / np.tan(0.5 * fov)


#: Phone video (3DPW-like): portrait 1080x1920 (and landscape), ~52-60 deg on the long side
#: (f ~ 1700-1960 px, 3DPW's is 1962), held 1-1.8 m high, person 2-7 m away in the central part.
_PHONE_SIZES = np.array([[1080.0, 1920.0], [1920.0, 1080.0]])
_PHONE_WEIGHTS = np.array([0.7, 0.3])
#: Web / YouTube-style frames (MPII-like 2D-only set): landscape, FOV 50-80 deg.
_WEB_SIZES = np.array([[1280.0, 720.0], [1920.0, 1080.0], [854.0, 480.0], [640.0, 480.0]])
_WEB_WEIGHTS = np.array([0.4, 0.3, 0.15, 0.15])


def _off_centre(rng, rotation, wh, f, spread):
    """``rotation`` (m, 3, 3) turned so the aimed point lands up to ``spread`` half fields of view
    off the image centre (uniform per axis); ``wh`` (m, 2) px, ``f`` (m,) px."""
    half = np.arctan(0.5 * wh / f[:, None])  # (m, 2) half field of view x, y
    off = rng.uniform(-spread, spread, (rotation.shape[0], 2)) * half
    return (
        body.axis_rotation(0, np.rad2deg(off[:, 1]))
        @ body.axis_rotation(1, -np.rad2deg(off[:, 0]))
        @ rotation
    )


def _rejection_cameras(x_world, propose, *, max_rounds=60, min_size_px=0.0, min_height=-np.inf):
    """One camera per pose from ``propose``, redrawn until it sees the whole body (vectorised).

    ``propose(todo, last)`` returns centre (m, 3), rotation (m, 3, 3), intrinsics (m, 4) and
    image size (m, 2) for the poses ``todo``; ``last`` marks the final round, whose proposals
    are kept whatever they see (the proposer makes them safe: far away, person centred). A
    camera is accepted when every joint (``sensors.project_px``) lies in the central 96 % of
    the image and at least 0.5 m in front of it, the body spans ``min_size_px`` px and the
    camera is ``min_height`` m or more above the ground. Returns centre, rotation, intrinsics,
    size, ``(N, ...)``.
    """
    n = x_world.shape[0]
    centre, rot = np.zeros((n, 3)), np.zeros((n, 3, 3))
    intr, size = np.zeros((n, 4)), np.zeros((n, 2))
    todo = np.arange(n)
    for rnd in range(max_rounds + 1):
        if todo.size == 0:
            break
        last = rnd == max_rounds
        ctr, r, k, wh = propose(todo, last)
        xc = _to_camera(x_world[todo], ctr, r)
        uv = sensors.project_px(xc, k)
        lo, hi = uv.min(axis=1), uv.max(axis=1)
        ok = last | (
            np.all(lo >= 0.02 * wh, -1)
            & np.all(hi <= 0.98 * wh, -1)
            & (np.max(hi - lo, -1) >= min_size_px)
            & (xc[..., 2].min(-1) >= 0.5)
            & (ctr[:, 2] >= min_height)
        )
        i = todo[ok]
        centre[i], rot[i], intr[i], size[i] = ctr[ok], r[ok], k[ok], wh[ok]
        todo = todo[~ok]
    return centre, rot, intr, size


def _aimed_cameras(rng, x_world, kind: str):
    """One camera per pose aimed at the person (``kind`` 'phone' or 'web') that sees the whole
    body. Returns centre, rotation, intrinsics, size."""
    root = x_world[:, 0]
    extent = np.linalg.norm(x_world.max(1) - x_world.min(1), axis=-1)

    def propose(todo, last):
        m = todo.size
        if kind == "phone":
            wh = _PHONE_SIZES[rng.choice(2, m, p=_PHONE_WEIGHTS)]
            f = _focal_from_fov(rng, wh, 52.0, 60.0)
            d = rng.uniform(2.0, 7.0, m)
            height = rng.uniform(1.0, 1.8, m)
            spread = 0.3  # person within the central part of the frame
        else:
            wh = _WEB_SIZES[rng.choice(len(_WEB_SIZES), m, p=_WEB_WEIGHTS)]
            f = _focal_from_fov(rng, wh, 50.0, 80.0)
            frac = rng.uniform(0.45, 0.9, m)  # people large: their extent / image height
            d = np.clip(f * extent[todo] / (frac * wh[:, 1]), 1.5, 20.0)
            height = np.clip(rng.normal(1.4, 0.6, m), 0.3, 4.0)
            spread = 0.15
        if last:
            d, spread = d * 2.0, 0.0
        az = rng.uniform(0.0, 2 * np.pi, m)
        ctr = np.stack([root[todo, 0] + d * np.cos(az), root[todo, 1] + d * np.sin(az), height], -1)
        r = sensors.look_at(ctr, x_world[todo].mean(axis=1), rng.normal(0.0, 3.0, m))
        r = _off_centre(rng, r, wh, f, spread)
        c = 0.5 * wh + rng.normal(0.0, 0.005, (m, 2)) * wh[:, :1]
        return ctr, r, np.stack([f, f, c[:, 0], c[:, 1]], -1), wh

    return _rejection_cameras(x_world, propose)


def _wild_cameras(rng, x_world):
    """Stress-test cameras (the wild cameras of generator version 3): one random camera per
    pose that sees the whole body, at least 64 px tall, from 0.2 m above the ground or more."""
    root = x_world[:, 0]

    def propose(todo, last):
        m = todo.size
        wh = sensors.WILD_IMAGE_SIZES[
            rng.choice(len(sensors.WILD_IMAGE_SIZES), m, p=sensors.WILD_IMAGE_WEIGHTS)
        ]
        f = np.exp(rng.uniform(np.log(500.0), np.log(2500.0), m))
        d = rng.uniform(2.0, 15.0, m)
        # Elevation: mostly near eye level (photos, phone videos), 30% anywhere in -20..70°.
        el = np.where(
            rng.uniform(size=m) < 0.7,
            np.clip(rng.normal(5.0, 12.0, m), -20.0, 70.0),
            rng.uniform(-20.0, 70.0, m),
        )
        el = np.deg2rad(el)
        az = rng.uniform(0.0, 2 * np.pi, m)
        if last:  # fallback: smallest, centred person
            f, d, el = np.full(m, 500.0), np.full(m, 15.0), np.zeros(m)
        ctr = root[todo] + d[:, None] * np.stack(
            [np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1
        )
        r = sensors.look_at(ctr, x_world[todo].mean(axis=1), rng.normal(0.0, 6.0, m))
        # Aim off-centre so the person can be anywhere in the frame.
        r = _off_centre(rng, r, wh, f, 0.0 if last else 0.6)
        c = 0.5 * wh + rng.normal(0.0, 0.01, (m, 2)) * wh[:, :1]
        k = np.stack([f, f * (1.0 + rng.normal(0.0, 0.002, m)), c[:, 0], c[:, 1]], -1)
        return ctr, r, k, wh

    return _rejection_cameras(x_world, propose, min_size_px=64.0, min_height=0.2)


def generate_split(
    split: str,
    num_samples: int,
    *,
    seed: int = 0,
    wild_rare_fraction: float = DEFAULT_RARE_FRACTION,
    lab_rare: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Generates one split in memory (no disk), deterministic from ``(seed, split)``.

    Args:
      split: one of :data:`SPLITS`.
      num_samples: N.
      seed: world seed; each split draws from its own stream, so sizes of other splits do not
        change it.
      wild_rare_fraction: share of rare (floor and inverted) movements in wild_test (the
        "unseen poses" knob); lab and wild_2d show them :data:`TRAINING_RARE_SCALE` times as
        often (at most half), rig2_test at least 20 %, wild_stress_test 35 % (:func:`rare_share`).
      lab_rare: False = the paper's setting for 2D-only data: the lab (lab_train, lab_val)
        never shows a rare movement, the web 2D (wild_2d) and the test splits still do, so
        only the 2D-only data carries them (Human3.6M lacks the poses MPII and 3DPW hold).

    Returns:
      ``(arrays, info)``: ``arrays`` are :func:`save_dataset` keyword arguments (pixels,
      camera-frame metres, float64); ``info`` holds generator truth for tests and statistics:
      ``pose_3d`` (N,17,3) camera frame (also for 2D-only splits), ``angles`` (N,25) degrees,
      ``lengths`` (N,17) m, ``up_cam`` (N,3) world up in the camera frame, ``gross``,
      ``occluded``, ``truncated`` (N,17) detector masks, ``action`` (N,).
    """
    if split not in _SPEC:
        raise ValueError(f"unknown split {split!r}; splits are {SPLITS}")
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    if not 0.0 <= wild_rare_fraction <= 1.0:
        raise ValueError(f"wild_rare_fraction must be in [0, 1], got {wild_rare_fraction}")
    spec = _SPEC[split]
    domain = spec["domain"]
    rng = np.random.default_rng([seed, _SPLIT_KEY[split]])
    mix = _action_mix(domain, wild_rare_fraction, lab_rare=lab_rare)
    n = num_samples
    if "rig" in spec:
        rig = sensors.RIGS[spec["rig"]]
        n_cam = len(rig["intrinsics"])
        n_pose = -(-n // n_cam)
        bodies, styles = _subject_bodies(seed), _subject_styles(seed)
        subj_idx = rng.integers(0, len(spec["subjects"]), n_pose)
        subject = np.array(spec["subjects"])[subj_idx]
        lengths = np.stack([bodies[s] for s in spec["subjects"]])[subj_idx]
        style = {
            k: np.stack([styles[s][k] for s in spec["subjects"]])[subj_idx]
            for k in styles[spec["subjects"][0]]
        }
        # Which variant of a movement is performed (lying on the back or front, log or forward
        # roll, which gesture or dance figure) is a choice of each take, not of the subject.
        style["rhythm"] = motion.sample_variants(rng, n_pose)
        action, angles, tilt, lift = _sample_poses(rng, n_pose, mix, style)
        xw = _place(
            rng, angles, lengths, tilt, lift, capture_radius=rig["capture_radius"], extra_tilt=False
        )
        # Every pose seen by every camera of the rig (as in Human3.6M); keep the first n.
        rep = lambda a: np.repeat(a, n_cam, axis=0)[:n]
        cam = np.tile(np.arange(n_cam), n_pose)[:n]
        action, angles, lengths, subject, xw = map(rep, (action, angles, lengths, subject, xw))
        centre, rot, intr, size = sensors.rig_cameras(spec["rig"], cam)
        camera = np.char.add(f"{spec['rig']}_c", cam.astype(str))
    else:  # one body and style per sample
        style = motion.sample_styles(rng, n)
        action, angles, tilt, lift = _sample_poses(rng, n, mix, style)
        lengths = body.sample_bodies(rng, n)
        subject = np.char.add(f"{split}:", np.arange(n).astype(str))
        stress = domain == "stress"
        xw = _place(rng, angles, lengths, tilt, lift, capture_radius=0.0, extra_tilt=stress)
        if stress:
            centre, rot, intr, size = _wild_cameras(rng, xw)
        else:
            centre, rot, intr, size = _aimed_cameras(rng, xw, domain)
        camera = np.full(n, domain)
    x_cam = _to_camera(xw, centre, rot)
    gt = sensors.project_px(x_cam, intr)
    det, conf, dinfo = sensors.simulate_detector(
        gt, size, x_cam[..., 2], rng, level=_DETECTOR_LEVEL[domain]
    )
    arrays = dict(
        keypoints_2d=det,
        confidence=conf,
        image_size=size,
        keypoints_2d_gt=gt,
        subject=subject,
        action=action.astype(str),
        camera=camera,
    )
    if split != "wild_2d":
        arrays.update(pose_3d=x_cam, intrinsics=intr)
    info = dict(
        pose_3d=x_cam,
        angles=angles,
        lengths=lengths,
        up_cam=rot[:, :, 2],
        action=action.astype(str),
        **dinfo,
    )
    return arrays, info


def view_poses(pose, rng, *, domain: str, root_height) -> tuple[dict[str, np.ndarray], dict]:
    """Poses from elsewhere (e.g. retargeted motion capture) seen through the world's cameras.

    Args:
      pose: ``(F, 17, 3)`` m, world axes (z up), root at the origin.
      rng: numpy Generator (camera draws).
      domain: 'lab' (every pose through the 4 cameras of the Human3.6M-like rig) or 'phone'
        (one 3DPW-like phone camera per pose, as ``wild_test``).
      root_height: ``(F,)`` m, height of the root above the ground.

    Returns:
      ``(arrays, info)`` as :func:`generate_split` (exact 2D: ``keypoints_2d`` =
      ``keypoints_2d_gt``, confidence 1; no ``subject``/``action``), samples frame-major.
    """
    pose = np.asarray(pose, float)
    if pose.ndim != 3 or pose.shape[1:] != (17, 3):
        raise ValueError(f"pose must be (F, 17, 3), got {pose.shape}")
    xw = pose.copy()
    xw[..., 2] += np.asarray(root_height, float)[:, None]
    if domain == "lab":
        n_cam = len(sensors.RIGS["rig1"]["intrinsics"])
        xw = np.repeat(xw, n_cam, axis=0)
        cam = np.tile(np.arange(n_cam), len(pose))
        centre, rot, intr, size = sensors.rig_cameras("rig1", cam)
        camera = np.char.add("rig1_c", cam.astype(str))
    elif domain == "phone":
        centre, rot, intr, size = _aimed_cameras(rng, xw, "phone")
        camera = np.full(len(xw), "phone")
    else:
        raise ValueError(f"domain must be 'lab' or 'phone', got {domain!r}")
    x_cam = _to_camera(xw, centre, rot)
    gt = sensors.project_px(x_cam, intr)
    arrays = dict(
        keypoints_2d=gt,
        confidence=np.ones(gt.shape[:2]),
        image_size=size,
        keypoints_2d_gt=gt,
        pose_3d=x_cam,
        intrinsics=intr,
        camera=camera,
    )
    return arrays, dict(up_cam=rot[:, :, 2])


# ------------------------------------------------------------------ coverage

#: Joints compared by :func:`pose_coverage`: all but Neck/Nose and Head (15).
COVERAGE_JOINTS = tuple(j for j in range(17) if j not in (9, 10))


def pelvis_aligned(pose) -> np.ndarray:
    """Poses ``(N, 17, 3)`` m in their own pelvis frame: root at 0, x = right hip -> left hip,
    z = the root -> thorax direction made orthogonal to x, y = z x x."""
    x = np.asarray(pose, float) - np.asarray(pose, float)[:, :1]
    ax = x[:, 4] - x[:, 1]
    ax /= np.maximum(np.linalg.norm(ax, axis=-1, keepdims=True), 1e-9)
    up = x[:, 8] - np.sum(x[:, 8] * ax, -1, keepdims=True) * ax
    up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    fw = np.cross(up, ax)
    r = np.stack([ax, fw, up], axis=1)  # rows: new axes
    return np.einsum("nij,nkj->nki", r, x)


def pose_coverage(reference, train, *, chunk: int = 64) -> np.ndarray:
    """Per reference pose, the distance (mm) to its nearest training pose.

    Distance = mean over :data:`COVERAGE_JOINTS` of the per-joint Euclidean distance between
    pelvis-aligned poses (:func:`pelvis_aligned`), i.e. MPJPE after aligning the pelvis frames.

    Args:
      reference: ``(R, 17, 3)`` m (any frame).
      train: ``(T, 17, 3)`` m (any frame; duplicates are harmless).

    Returns:
      ``(R,)`` mm.
    """
    j = list(COVERAGE_JOINTS)
    ref = pelvis_aligned(reference)[:, j].astype(np.float32)
    tr = pelvis_aligned(train)[:, j].astype(np.float32)
    tr = np.unique(np.round(tr, 5), axis=0)  # a rig's 4 views of one pose are one pose
    out = np.empty(len(ref))
    for s in range(0, len(ref), chunk):
        d = np.linalg.norm(ref[s : s + chunk, None] - tr[None], axis=-1).mean(-1)
        out[s : s + chunk] = d.min(1) * 1000.0
    return out


def coverage_table(reference, datasets: dict[str, Dataset]) -> dict[str, dict]:
    """Median and 90th percentile of :func:`pose_coverage` of ``reference`` (a Dataset with
    ``pose_3d``) against every split with 3D, overall and per reference action."""
    ref = reference["pose_3d"]
    acts = reference["action"] if "action" in reference else None
    out = {}
    for split, ds in datasets.items():
        if "pose_3d" not in ds or len(ds) == 0:
            continue
        d = pose_coverage(ref, ds["pose_3d"])
        row = dict(all=[float(np.median(d)), float(np.percentile(d, 90)), int(d.size)])
        if acts is not None:
            for a in np.unique(acts):
                m = acts == a
                row[str(a)] = [float(np.median(d[m])), float(np.percentile(d[m], 90)), int(m.sum())]
        out[split] = row
    return out


def default_cache_dir() -> Path:
    """``$CPOSE_CACHE_DIR/synthetic`` or ``~/.cache/cpose_jax/synthetic``."""
    root = os.environ.get("CPOSE_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "cpose_jax"
    return base / "synthetic"


def _world_key(seed, sizes, rare, lab_rare=True) -> str:
    key = dict(version=GENERATOR_VERSION, seed=seed, sizes=sizes, rare=rare)
    if not lab_rare:  # (absent when True: the default world keeps its key)
        key["lab_rare"] = False
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def make_world(
    seed: int = 0,
    *,
    sizes: dict[str, int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    wild_rare_fraction: float = DEFAULT_RARE_FRACTION,
    lab_rare: bool = True,
    overwrite: bool = False,
    verbose: bool = False,
) -> dict[str, Path]:
    """Generates the synthetic world (or finds it in the cache) and returns split -> .npz path.

    The files live in ``cache_dir/world_s{seed}_{key}/`` where ``key`` hashes
    (:data:`GENERATOR_VERSION`, seed, sizes, wild_rare_fraction, lab_rare). A ``world.json``
    manifest is written last; a folder with a manifest and every split file is a cache hit and
    nothing is regenerated. Writes are atomic, so concurrent processes (multi-host) are safe.

    Args:
      seed: world seed.
      sizes: split -> sample count, overriding :data:`DEFAULT_SIZES` (0 allowed).
      cache_dir: default :func:`default_cache_dir`.
      wild_rare_fraction: share of rare movements (see :func:`generate_split`).
      lab_rare: whether the lab shows them (see :func:`generate_split`).
      overwrite: regenerate even when cached.
      verbose: print progress.

    Returns:
      ``{split: Path}`` in :data:`SPLITS` order; load each with ``schema.load_dataset``.
    """
    sizes = dict(DEFAULT_SIZES, **(sizes or {}))
    unknown = set(sizes) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown splits in sizes: {sorted(unknown)}; splits are {SPLITS}")
    sizes = {s: int(sizes[s]) for s in SPLITS}
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = cache_dir / f"world_s{seed}_{_world_key(seed, sizes, wild_rare_fraction, lab_rare)}"
    paths = {s: folder / f"{s}.npz" for s in SPLITS}
    manifest = folder / "world.json"
    if not overwrite and manifest.exists() and all(p.exists() for p in paths.values()):
        if verbose:
            print(f"synthetic world: cached in {folder}")
        return paths
    t0 = time.perf_counter()
    for split in SPLITS:
        t = time.perf_counter()
        arrays, _ = generate_split(
            split,
            sizes[split],
            seed=seed,
            wild_rare_fraction=wild_rare_fraction,
            lab_rare=lab_rare,
        )
        meta = dict(
            generator="cpose_jax.data.synthetic",
            generator_version=GENERATOR_VERSION,
            seed=seed,
            split=split,
            domain=_SPEC[split]["domain"],
            wild_rare_fraction=wild_rare_fraction,
            lab_rare=lab_rare,
        )
        save_dataset(paths[split], skeleton="h36m17", extra_meta=meta, **arrays)
        if verbose:
            print(f"  {split:10s} {sizes[split]:7d} samples  {time.perf_counter() - t:5.2f} s")
    info = dict(
        generator_version=GENERATOR_VERSION,
        seed=seed,
        sizes=sizes,
        wild_rare_fraction=wild_rare_fraction,
        lab_rare=lab_rare,
        seconds=round(time.perf_counter() - t0, 3),
        files={s: p.name for s, p in paths.items()},
    )
    fd, tmp = tempfile.mkstemp(prefix=".world.", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=1)
    os.replace(tmp, manifest)
    if verbose:
        print(f"synthetic world: generated in {info['seconds']:.1f} s -> {folder}")
    return paths


def load_world(paths: dict[str, Path]) -> dict[str, Dataset]:
    """``{split: Dataset}`` for the paths returned by :func:`make_world`."""
    return {s: load_dataset(p) for s, p in paths.items()}


# ------------------------------------------------------------------ statistics and figure


def _torso_tilt_deg(pose_3d, up_cam=None):
    """Angle (deg) between the pelvis->thorax axis and 'up' (world up, else camera -y)."""
    t = pose_3d[:, 8] - pose_3d[:, 0]
    up = np.array([0.0, -1.0, 0.0]) if up_cam is None else up_cam
    cos = np.sum(t * up, -1) / np.linalg.norm(t, axis=-1)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def world_stats(datasets: dict[str, Dataset]) -> dict[str, dict]:
    """Per split: sizes, rare-action share, camera-frame torso tilt, detector error vs score."""
    out = {}
    for split, ds in datasets.items():
        s = dict(n=len(ds))
        if len(ds) == 0:
            out[split] = s
            continue
        act = ds["action"]
        s["rare_share"] = float(np.isin(act, motion.RARE).mean())
        gt, det, conf = ds["keypoints_2d_gt"], ds["keypoints_2d"], ds["confidence"]
        size = np.max(gt.max(1) - gt.min(1), -1)
        err = np.linalg.norm(det - gt, axis=-1)
        s["body_px_median"] = float(np.median(size))
        s["det_err_px_mean"] = float(err.mean())
        s["det_err_rel_median"] = float(np.median(err / size[:, None]))
        s["conf_mean"] = float(conf.mean())
        lo = conf < 0.5
        s["err_px_conf_lt_0.5"] = float(err[lo].mean()) if lo.any() else float("nan")
        s["err_px_conf_ge_0.5"] = float(err[~lo].mean()) if (~lo).any() else float("nan")
        s["share_conf_lt_0.5"] = float(lo.mean())
        if "pose_3d" in ds:
            tilt = _torso_tilt_deg(ds["pose_3d"])
            s["tilt_cam_deg_p50_p99_max"] = [float(np.percentile(tilt, q)) for q in (50, 99, 100)]
            s["share_tilt_cam_gt_60"] = float((tilt > 60).mean())
            s["root_depth_m_min_max"] = [
                float(ds["pose_3d"][:, 0, 2].min()),
                float(ds["pose_3d"][:, 0, 2].max()),
            ]
            s["focal_px_min_max"] = [
                float(ds["intrinsics"][:, 0].min()),
                float(ds["intrinsics"][:, 0].max()),
            ]
        out[split] = s
    return out


def _draw_sample_2d(ax, gt, det, conf, wh, title, *, crop=True):
    """GT 2D `(J, 2)` px solid, detections dashed, detection dots coloured by confidence; a crop
    around the GT (`crop=True`) or the whole `wh` image. Returns the dots (for a colorbar)."""
    from cpose_jax import viz

    viz.draw_2d(ax, gt, lw=1.8, joints=False)
    viz.draw_2d(ax, det, lw=0.7, ls="--", alpha=0.8, joints=False)
    sc = viz.draw_confidence(ax, det, conf, size=12, only_seen=False)
    viz.frame_2d(ax, [gt], image_size=wh, crop=crop)
    ax.set_title(title, fontsize=8)
    return sc


def make_motion_figure(out_path, *, frames: int = 8, seed: int = 0):
    """Filmstrips of every movement (:data:`synthetic_motion.MOVEMENTS`): ``frames`` poses along
    one cycle of one subject (mean body), side by side, seen from 30 deg off the body's side
    (orthographic, z up, ground line at 0). Red = right side, blue = left."""
    from matplotlib.figure import Figure

    from cpose_jax import viz

    names = motion.MOVEMENTS
    cols = 2
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(5.2 * cols, 1.45 * rows + 0.3))
    axes = fig.subplots(rows, cols)
    az = np.deg2rad(30.0)
    # Body yawed by 90 deg (facing -x, its right on +y); the screen's horizontal axis is
    # mostly the facing direction: a side view, turned 30 deg towards the body's right.
    view = np.array([-np.cos(az), np.sin(az), 0.0])
    lengths = np.repeat(body.MEAN_BONE_LENGTHS[None], frames, 0)
    for k, ax in enumerate(axes.T.ravel()):
        ax.set_axis_off()
        if k >= len(names):
            continue
        m = names[k]
        a, tilt, lift = motion.trajectory(m, frames, seed=seed)
        x = body.forward_kinematics(a, lengths, body.axis_rotation(2, np.full(frames, 90.0)) @ tilt)
        x[..., 2] += (lift - x[..., 2].min(1))[:, None]
        for f in range(frames):
            u = x[f] @ view - x[f, 0] @ view + 1.0 * f
            viz.draw_2d(ax, np.stack([u, x[f, :, 2]], -1), lw=1.4, joints=False)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set(xlim=(-0.8, frames - 0.2), ylim=(-0.1, 2.3), aspect="equal")
        group = "everyday" if m in motion.EVERYDAY else "sport" if m in motion.SPORT else "rare"
        ax.set_title(f"{m} ({group})", fontsize=8, loc="left", pad=1)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.97, bottom=0.01, wspace=0.03, hspace=0.3)
    return viz.save_figure(fig, out_path, dpi=90)


def make_figure(datasets: dict[str, Dataset], out_path, *, per_split: int = 3, seed: int = 0):
    """Draws ``per_split`` samples of each split (rare actions first where the split has them).

    Per sample: the 3D skeleton (camera frame, viewed obliquely, up = image up) and a crop of the
    image: GT 2D solid, detections dashed, detection dots coloured by confidence. Red = right
    side, blue = left. For the 2D-only split the 3D slot shows the whole image instead.
    """
    from matplotlib.figure import Figure

    from cpose_jax import viz

    rng = np.random.default_rng(seed)
    splits = [s for s in datasets if len(datasets[s])]
    rows, cols = len(splits), 2 * per_split
    fig = Figure(figsize=(2.6 * cols, 2.7 * rows + 0.4))
    sc = None
    for r, split in enumerate(splits):
        ds = datasets[split]
        act = ds["action"]
        is_rare = np.isin(act, motion.RARE)
        pick = []
        for a in rng.permutation(np.unique(act[is_rare])):
            pick.append(int(rng.choice(np.flatnonzero(act == a))))
            if len(pick) == per_split - 1:
                break
        for a in rng.permutation(np.unique(act[~is_rare])):
            if len(pick) == per_split:
                break
            pick.append(int(rng.choice(np.flatnonzero(act == a))))
        for k, i in enumerate(pick):
            base = r * cols + 2 * k + 1
            wh = ds["image_size"][i]
            gt, det, conf = ds["keypoints_2d_gt"][i], ds["keypoints_2d"][i], ds["confidence"][i]
            head = f"{split}: {act[i]}"
            if "pose_3d" in ds:
                ax = fig.add_subplot(rows, cols, base, projection="3d")
                viz.draw_3d(ax, ds["pose_3d"][i], elev=12, azim=-65, radius=0.9, zoom=1.3)
                ax.set_title(f"{head}\n3D ({ds['camera'][i]})", fontsize=8)
            else:
                ax = fig.add_subplot(rows, cols, base)
                _draw_sample_2d(ax, gt, det, conf, wh, f"{head}\n2D only: whole image", crop=False)
            ax = fig.add_subplot(rows, cols, base + 1)
            sc = _draw_sample_2d(
                ax, gt, det, conf, wh, f"2D crop\n({int(wh[0])}x{int(wh[1])} image)"
            )
    if sc is not None:
        cax = fig.add_axes([0.93, 0.35, 0.01, 0.3])
        fig.colorbar(sc, cax=cax, label="detector confidence")
    fig.subplots_adjust(left=0.01, right=0.91, top=0.95, bottom=0.01, wspace=0.08, hspace=0.35)
    return viz.save_figure(fig, out_path, dpi=80)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument(
        "--size", action="append", default=[], metavar="SPLIT=N", help="override a split size"
    )
    ap.add_argument("--wild-rare-fraction", type=float, default=DEFAULT_RARE_FRACTION)
    ap.add_argument(
        "--no-lab-rare",
        action="store_true",
        help="the lab never shows a rare movement (only the web 2D and the tests do)",
    )
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument(
        "--figure",
        default=None,
        help="write filmstrips of every movement here, and sample poses of each split beside it "
        "(NAME_splits.png)",
    )
    ap.add_argument(
        "--coverage",
        default=None,
        metavar="REF.npz",
        help="print the nearest-neighbour distance (median / p90, mm, pelvis-aligned) from the "
        "3D poses of REF.npz (e.g. from data_prep.acclaim) to every 3D split, per action",
    )
    ap.add_argument(
        "--coverage-also",
        action="append",
        default=[],
        metavar="NAME=PATH.npz",
        help="with --coverage: also measure against this dataset (e.g. an older world's split)",
    )
    args = ap.parse_args(argv)
    sizes = {}
    for item in args.size:
        k, _, v = item.partition("=")
        sizes[k] = int(v)
    paths = make_world(
        args.seed,
        sizes=sizes,
        cache_dir=args.cache_dir,
        wild_rare_fraction=args.wild_rare_fraction,
        lab_rare=not args.no_lab_rare,
        overwrite=args.overwrite,
        verbose=True,
    )
    world = load_world(paths)
    if args.coverage:
        try:
            ref = load_dataset(args.coverage)
        except (OSError, ValueError) as e:
            raise SystemExit(f"--coverage: {e}") from e
        if "pose_3d" not in ref:
            raise SystemExit(f"--coverage: {args.coverage} has no pose_3d")
        sets = dict(world)
        for item in args.coverage_also:
            name, _, path = item.partition("=")
            sets[name] = load_dataset(path)
        table = coverage_table(ref, sets)
        print(f"coverage of {args.coverage} ({len(ref)} poses): median / p90 mm (n)")
        for split, row in table.items():
            print(f"  {split:18s} all {row['all'][0]:6.1f} / {row['all'][1]:6.1f}")
            for a, v in row.items():
                if a != "all":
                    print(f"  {'':18s} {a:22s} {v[0]:6.1f} / {v[1]:6.1f}  ({v[2]})")
        return
    print(json.dumps(world_stats(world), indent=1))
    if args.figure:
        fig = Path(args.figure)
        print("figure:", make_motion_figure(fig, seed=args.seed))
        splits_fig = fig.with_name(f"{fig.stem}_splits{fig.suffix}")
        print("figure:", make_figure(world, splits_fig, seed=args.seed))


if __name__ == "__main__":
    main()
