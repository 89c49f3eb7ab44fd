"""The synthetic world: the embedded default dataset, deterministic from a seed.

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
``wild_stress_test``  stress  stress test: harder wild set, any camera, tilted bodies  yes
====================  ======  ========================================================  =====

Every split stores ``keypoints_2d`` = simulated detections with ``confidence`` = detector
scores, and ``keypoints_2d_gt`` = the exact projection of the 3D (``geometry.project``), so
GT-vs-detected input experiments need no second world. ``action`` holds movement names,
``subject`` body ids, ``camera`` camera ids.

* Bodies (:mod:`.synthetic_body`): every build of adult body (stature from short to tall,
  independent leg/trunk, arm, hip, shoulder and head proportions), joint angles within
  anatomical limits, forward kinematics with a real person's chirality; each rig's subjects
  spread over the builds.
* Motion (:mod:`.synthetic_motion`): poses sampled at random phases along procedural movements
  in families (:data:`.synthetic_motion.FAMILIES`: everyday, locomotion with turns along the
  way, martial arts, whole-body turns, dance, swings, floor, acrobatics) with per-subject
  style; the lab subjects keep one body and one style each, and choose the variant of a
  movement (lying on the back or front, log or forward roll, which gesture) afresh for every
  take. ``held_out`` (families or movements) leaves movements out of the training splits for
  the leave-one-family-out test. Every domain mixes everyday and sport movements (sport: 25 %
  lab, 30 % rig2, 15 % phone, 45 % web) and the rare (floor and inverted) movements at ONE knob,
  ``wild_rare_fraction`` (default 0.1), the share in wild_test; the training domains lab
  (lab_train, lab_val) and web (wild_2d) show them 2.5 times as often (0.25 by default, at most
  half), rig2_test at least 0.2, the stress test 0.35 plus arbitrary body tilt (30 % tilted by
  |N(0, 25°)|). Set it to 0 for the paper's setting where the lab never shows them.
* Cameras (:mod:`.synthetic_cameras`): lab = fixed ring of 4 Human3.6M-like cameras, every
  pose seen by all four; rig2 = 3DHP-like rig of 4; phone (wild_test) = 3DPW-like phone video,
  person in the central part of the frame; web (wild_2d) = YouTube-style landscape frames,
  people large and central; stress = random cameras (focal 500-2500 px, 2-15 m, person
  anywhere in the frame).
* Detector (:mod:`.synthetic_sensors`): per-joint noise growing with body size in pixels and
  joint difficulty, systematic offsets, left/right swaps, jumps to neighbours, lost joints,
  heatmap-like confidences (difficulty level 1.0 lab, 1.3 rig2, 1.4 phone and web, 1.7 stress).

Run ``python -m cpose_jax.data.synthetic --figure docs/figures/synthetic_world.png`` to generate
the default world, print its statistics, draw every movement as a filmstrip and sample poses of
each split (``..._splits.png``). ``--coverage REF.npz`` prints how far the poses of a reference
set (e.g. real motion from ``data_prep.acclaim``) are from each split
(:func:`.synthetic_coverage.pose_coverage`).
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
from cpose_jax.data import synthetic_cameras as cameras
from cpose_jax.data import synthetic_coverage as coverage
from cpose_jax.data import synthetic_figures as figures
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
    "default_cache_dir",
    "generate_split",
    "held_out_movements",
    "load_world",
    "main",
    "make_world",
    "rare_share",
    "view_poses",
]

#: Bump whenever the generated numbers change (invalidates caches).
GENERATOR_VERSION = 6

SPLITS = ("lab_train", "lab_val", "wild_2d", "wild_test", "rig2_test", "wild_stress_test")
#: The 3D test splits ``experiments`` evaluates by default (lab_val doubles as validation).
TEST_SPLITS = ("lab_val", "rig2_test", "wild_test", "wild_stress_test")

#: Default sample counts (lab_train: 10k poses x 4 cameras).
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
    "lab_train": dict(domain="lab", subjects=("S1", "S5", "S6", "S7", "S8")),
    "lab_val": dict(domain="lab", subjects=("S9", "S11")),
    "wild_2d": dict(domain="web"),
    "wild_test": dict(domain="phone"),
    "rig2_test": dict(domain="rig2", subjects=("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")),
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
# Everyday (Human3.6M's activities) and sport movements, each mix summing to 1; each is
# completed by the rare (floor and inverted) movements, uniformly, at the split's rare share.
_EVERYDAY_MIX = {
    "standing": 0.11, "walking": 0.2, "sitting": 0.11, "sit_to_stand": 0.08,
    "squat_pickup": 0.08, "reaching": 0.09, "gesturing": 0.15, "hand_to_face": 0.11,
    "turning": 0.07,
}  # fmt: skip
_SPORT_MIX = {
    "running": 0.17, "jumping": 0.12, "kicking": 0.08, "punching": 0.08, "dancing": 0.12,
    "dance_expressive": 0.1, "spinning": 0.08, "turning_kick": 0.09, "martial_arts": 0.09,
    "swinging": 0.07,
}  # fmt: skip
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


def held_out_movements(names) -> tuple[str, ...]:
    """Movement names of ``names``: family names (:data:`.synthetic_motion.FAMILIES`) or
    movement names, as a sequence or one comma-separated string ('' = none)."""
    if isinstance(names, str):
        names = names.split(",")
    out = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name in motion.FAMILIES:
            out.extend(motion.FAMILIES[name])
        elif name in motion.MOVEMENTS:
            out.append(name)
        else:
            raise ValueError(
                f"held_out: {name!r} is neither a movement family {tuple(motion.FAMILIES)} "
                f"nor a movement {motion.MOVEMENTS}"
            )
    return tuple(dict.fromkeys(out))


def _action_mix(
    domain: str, rare_fraction: float, *, lab_rare: bool = True, held_out: tuple[str, ...] = ()
) -> dict[str, float]:
    """Movement -> probability for a domain (:mod:`.synthetic_motion` names); the training
    domains (lab, web) leave out the movements ``held_out`` (the others keep their ratios)."""
    rare_fraction = rare_share(domain, rare_fraction, lab_rare=lab_rare)
    common, sport = 1.0 - rare_fraction, _SPORT_SHARE[domain]
    mix = {a: w * common * (1 - sport) for a, w in _EVERYDAY_MIX.items()}
    mix.update({a: w * common * sport for a, w in _SPORT_MIX.items()})
    mix.update({a: rare_fraction / len(motion.RARE) for a in motion.RARE})
    if domain in _TRAINING_DOMAINS and held_out:
        mix = {a: w for a, w in mix.items() if a not in held_out}
        if not any(w > 0 for w in mix.values()):
            raise ValueError(f"held_out {held_out} leaves no movement for the {domain} domain")
    return mix


def _subject_bodies(seed: int) -> dict[str, np.ndarray]:
    # One draw per rig: sample_bodies stratifies the bodies of one call, so the lab's five
    # training subjects span the builds (short to tall, narrow to wide hips) as five draws
    # from the whole population need not.
    rng = np.random.default_rng([seed, 0])
    out = {}
    for split in ("lab_train", "lab_val", "rig2_test"):
        names = _SPEC[split]["subjects"]
        out.update(zip(names, body.sample_bodies(rng, len(names))))
    return out


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


def generate_split(
    split: str,
    num_samples: int,
    *,
    seed: int = 0,
    wild_rare_fraction: float = DEFAULT_RARE_FRACTION,
    lab_rare: bool = True,
    held_out=(),
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
      held_out: movement families or movements (:func:`held_out_movements`) that the training
        domains (lab_train, lab_val, wild_2d) never show, so the test splits measure them as
        unseen movements (the leave-one-family-out test); the test splits are unchanged.

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
    mix = _action_mix(
        domain, wild_rare_fraction, lab_rare=lab_rare, held_out=held_out_movements(held_out)
    )
    n = num_samples
    if "subjects" in spec:  # a rig: its subjects' own bodies and styles, each pose seen n_cam times
        n_pose = -(-n // cameras.views_per_pose(domain))
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
    else:  # one body and style per sample
        style = motion.sample_styles(rng, n)
        action, angles, tilt, lift = _sample_poses(rng, n, mix, style)
        lengths = body.sample_bodies(rng, n)
        subject = np.char.add(f"{split}:", np.arange(n).astype(str))
    xw = _place(
        rng,
        angles,
        lengths,
        tilt,
        lift,
        capture_radius=cameras.capture_radius(domain),
        extra_tilt=domain == "stress",
    )
    v = cameras.view(rng, xw, domain, num_samples=n)
    action, angles, lengths, subject = (a[v.pose] for a in (action, angles, lengths, subject))
    det, conf, dinfo = sensors.simulate_detector(
        v.keypoints_2d_gt, v.image_size, v.pose_3d[..., 2], rng, level=_DETECTOR_LEVEL[domain]
    )
    arrays = _arrays(
        v, det, conf, subject=subject, action=action.astype(str), with_3d=split != "wild_2d"
    )
    info = dict(
        pose_3d=v.pose_3d,
        angles=angles,
        lengths=lengths,
        up_cam=v.rotation[:, :, 2],
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
    if domain not in ("lab", "phone"):
        raise ValueError(f"domain must be 'lab' or 'phone', got {domain!r}")
    xw = pose.copy()
    xw[..., 2] += np.asarray(root_height, float)[:, None]
    v = cameras.view(rng, xw, domain)
    gt = v.keypoints_2d_gt
    return _arrays(v, gt, np.ones(gt.shape[:2])), dict(up_cam=v.rotation[:, :, 2])


def _arrays(v: cameras.Views, keypoints_2d, confidence, *, with_3d=True, **extra):
    """:func:`save_dataset` keyword arguments for the views ``v`` with these 2D inputs; the 3D
    (``pose_3d``, ``intrinsics``) unless ``with_3d`` is False (a 2D-only split)."""
    arrays = dict(
        keypoints_2d=keypoints_2d,
        confidence=confidence,
        image_size=v.image_size,
        keypoints_2d_gt=v.keypoints_2d_gt,
        **extra,
        camera=v.camera,
    )
    if with_3d:
        arrays.update(pose_3d=v.pose_3d, intrinsics=v.intrinsics)
    return arrays


def default_cache_dir() -> Path:
    """``$CPOSE_CACHE_DIR/synthetic`` or ``~/.cache/cpose_jax/synthetic``."""
    root = os.environ.get("CPOSE_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "cpose_jax"
    return base / "synthetic"


def _world_key(seed, sizes, rare, lab_rare=True, held_out=()) -> str:
    key = dict(version=GENERATOR_VERSION, seed=seed, sizes=sizes, rare=rare)
    if not lab_rare:  # (absent when True: the default world keeps its key)
        key["lab_rare"] = False
    if held_out:
        key["held_out"] = sorted(held_out)
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def make_world(
    seed: int = 0,
    *,
    sizes: dict[str, int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    wild_rare_fraction: float = DEFAULT_RARE_FRACTION,
    lab_rare: bool = True,
    held_out=(),
    overwrite: bool = False,
    verbose: bool = False,
) -> dict[str, Path]:
    """Generates the synthetic world (or finds it in the cache) and returns split -> .npz path.

    The files live in ``cache_dir/world_s{seed}_{key}/`` where ``key`` hashes
    (:data:`GENERATOR_VERSION`, seed, sizes, wild_rare_fraction, lab_rare, held_out). A
    ``world.json`` manifest is written last; a folder with a manifest and every split file is a
    cache hit and nothing is regenerated. Writes are atomic, so concurrent processes
    (multi-host) are safe.

    Args:
      seed: world seed.
      sizes: split -> sample count, overriding :data:`DEFAULT_SIZES` (0 allowed).
      cache_dir: default :func:`default_cache_dir`.
      wild_rare_fraction: share of rare movements (see :func:`generate_split`).
      lab_rare: whether the lab shows them (see :func:`generate_split`).
      held_out: families or movements the training splits leave out (see
        :func:`generate_split`).
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
    held_out = held_out_movements(held_out)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = (
        cache_dir
        / f"world_s{seed}_{_world_key(seed, sizes, wild_rare_fraction, lab_rare, held_out)}"
    )
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
            held_out=held_out,
        )
        meta = dict(
            generator="cpose_jax.data.synthetic",
            generator_version=GENERATOR_VERSION,
            seed=seed,
            split=split,
            domain=_SPEC[split]["domain"],
            wild_rare_fraction=wild_rare_fraction,
            lab_rare=lab_rare,
            held_out=list(held_out),
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
        held_out=list(held_out),
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
    ap.add_argument(
        "--held-out",
        default="",
        metavar="NAMES",
        help="comma-separated movement families or movements the training splits leave out "
        f"(families: {', '.join(motion.FAMILIES)})",
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
        "3D poses of REF.npz (e.g. from data_prep.acclaim) to every 3D split, per action, with "
        "the bodies as they are and with both sets retargeted to the mean body",
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
        held_out=args.held_out,
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
        table = coverage.coverage_table(ref, sets)
        print(f"coverage of {args.coverage} ({len(ref)} poses): median / p90 mm (n)")
        print(f"  {'':41s} {'as they are':>15s}   {'bones normalised':>16s}")
        norm = "_bones_normalised"
        for split, row in table.items():
            for a, v in row.items():
                if not a.endswith(norm):
                    w = row[a + norm]
                    name = f"{split:18s} all" if a == "all" else f"{'':18s} {a:22s}"
                    print(
                        f"  {name:41s} {v[0]:6.1f} / {v[1]:6.1f}   {w[0]:6.1f} / {w[1]:6.1f}"
                        + ("" if a == "all" else f"  ({v[2]})")
                    )
        return
    print(json.dumps(coverage.world_stats(world), indent=1))
    if args.figure:
        fig = Path(args.figure)
        print("figure:", figures.make_motion_figure(fig, seed=args.seed))
        splits_fig = fig.with_name(f"{fig.stem}_splits{fig.suffix}")
        print("figure:", figures.make_figure(world, splits_fig, seed=args.seed))


if __name__ == "__main__":
    main()
