"""Human3.6M (VideoPose3D ``.npz`` files) -> prepared 2D-3D dataset, one sample per frame/camera.

Reads ``data_3d_h36m.npz`` (``positions_3d[subject][action]``: ``(T, 32, 3)`` world metres, or
``(T, 17, 3)``), takes the 17 VideoPose3D joints (``joint_maps.H36M32_TO_H36M17``), moves them
into each of the four cameras (``geometry.world_to_camera`` with the per-subject extrinsics
below) and projects them with the cameras' radial + tangential distortion
(``geometry.project_distorted``, VideoPose3D's ``project_to_2d``), in float64.

2D sources (``keypoints_2d``):
  * default: that projection (ground truth, confidence 1);
  * ``--data-2d data_2d_h36m_gt.npz``: the released GT 2D; it must agree with the projection to
    ``--max-2d-discrepancy`` px (catches a wrong camera order or a mismatched file);
  * ``--detections data_2d_h36m_<det>.npz``: detections, ``(T', J, 2)`` or ``(T', J, 3)`` with
    scores, in the layout of their ``metadata['layout_name']`` (``h36m``, ``coco``, ``mpii``) or
    ``--detections-layout``; longer detection sequences are trimmed to the mocap length (as
    VideoPose3D ``run.py`` does); the GT 2D then goes to ``keypoints_2d_gt``.

Split: ``--split train`` = S1, S5, S6, S7, S8; ``--split test`` = S9, S11 (or ``--subjects``).
S11 "Directions" is dropped (its video is corrupted; VideoPose3D drops it too).

    python -m data_prep.h36m --data-3d data_3d_h36m.npz --split train --out h36m_train.npz

Ids: ``subject`` ('S1'), ``action`` ('Walking 1'), ``camera`` (camera id, '54138969').
Intrinsics are pixels; each camera's distortion coefficients are in the metadata.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cpose_jax.data.joint_maps import map_to_h36m17
from data_prep._common import (
    Converted,
    clip_scores,
    fail,
    jit_chunks,
    make_parser,
    numeric,
    parse_list,
    read_npz_object,
    run_cli,
    stack,
)

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
SPLITS = {"train": TRAIN_SUBJECTS, "test": TEST_SUBJECTS, "all": TRAIN_SUBJECTS + TEST_SUBJECTS}
# (subject, action) sequences left out: the S11 Directions video is corrupted.
CORRUPTED = (("S11", "Directions"),)

# Camera data from VideoPose3D common/h36m_dataset.py (numbers only). Index = camera order of
# the 2D files. focal/center px; radial k1,k2,k3; tangential p1,p2; resolution w, h.
CAMERAS: tuple[dict[str, Any], ...] = (
    dict(id="54138969", center=(512.54150390625, 515.4514770507812),
         focal=(1145.0494384765625, 1143.7811279296875),
         radial=(-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
         tangential=(-0.0009756988729350269, -0.00142447161488235), res=(1000, 1002)),
    dict(id="55011271", center=(508.8486328125, 508.0649108886719),
         focal=(1149.6756591796875, 1147.5916748046875),
         radial=(-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
         tangential=(-0.0016190266469493508, -0.0027408944442868233), res=(1000, 1000)),
    dict(id="58860488", center=(519.8158569335938, 501.40264892578125),
         focal=(1149.1407470703125, 1148.7989501953125),
         radial=(-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
         tangential=(0.0014843869721516967, -0.0007599993259645998), res=(1000, 1000)),
    dict(id="60457274", center=(514.9682006835938, 501.88201904296875),
         focal=(1145.5113525390625, 1144.77392578125),
         radial=(-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
         tangential=(-0.0005872055771760643, -0.0018133620033040643), res=(1000, 1002)),
)  # fmt: skip

# Per subject, per camera: (orientation quaternion [w, x, y, z], camera centre in world, mm).
EXTRINSICS: dict[str, tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]] = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}  # fmt: skip

# VideoPose3D metadata layout names -> joint_maps layouts (sh_* MPII detections: convention A).
DETECTION_LAYOUTS = {"h36m": "h36m17", "coco": "coco17", "mpii": "mpii16_sh"}


def camera_arrays(index: int) -> dict[str, np.ndarray]:
    """Pixel intrinsics (fx, fy, cx, cy), radial (3,), tangential (2,), image size (w, h)."""
    c = CAMERAS[index]
    return {
        "intrinsics": np.asarray(c["focal"] + c["center"], dtype=np.float64),
        "radial": np.asarray(c["radial"], dtype=np.float64),
        "tangential": np.asarray(c["tangential"], dtype=np.float64),
        "image_size": np.asarray(c["res"], dtype=np.float64),
    }


@functools.cache
def _jitted_projection():
    import jax

    from cpose_jax import geometry

    def f(world, q, t, intr, k, p):
        x_cam = geometry.world_to_camera(world, q, t)
        return x_cam, geometry.project_distorted(x_cam, intr, k, p)

    return jax.jit(f)


def project_sequence(world: np.ndarray, subject: str, cam: int) -> tuple[np.ndarray, np.ndarray]:
    """World `(T, J, 3)` metres -> (camera frame `(T, J, 3)` m, distorted 2D `(T, J, 2)` px).

    The library geometry (``world_to_camera``, ``project_distorted``) jitted once and run in
    float64 on fixed-size chunks of frames (``_common.jit_chunks``).
    """
    q, t_mm = EXTRINSICS[subject][cam]
    ca = camera_arrays(cam)
    t = np.asarray(t_mm, np.float64) / 1000.0
    x_cam, uv = jit_chunks(
        _jitted_projection(), [world], q, t, ca["intrinsics"], ca["radial"], ca["tangential"]
    )
    return x_cam, uv


def _seq(tree: Any, subject: str, action: str, path, what: str) -> Any:
    try:
        return tree[subject][action]
    except (KeyError, TypeError, IndexError):
        raise fail(path, f"{what} has no sequence {subject}/{action!r}") from None


def _as_2d_list(seq: Any, path, subject: str, action: str) -> list[np.ndarray]:
    if not isinstance(seq, list | tuple) or len(seq) != len(CAMERAS):
        raise fail(path, f"{subject}/{action!r}: expected a list of {len(CAMERAS)} camera arrays")
    return [numeric(a, path, f"{subject}/{action!r} camera {c}") for c, a in enumerate(seq)]


def convert(
    data_3d: str | Path,
    *,
    data_2d: str | Path | None = None,
    detections: str | Path | None = None,
    detections_layout: str | None = None,
    split: str | None = None,
    subjects: Sequence[str] | None = None,
    cameras: Sequence[int] | None = None,
    stride: int = 1,
    max_2d_discrepancy: float = 1.0,
) -> Converted:
    """Converts VideoPose3D Human3.6M files; see the module docstring."""
    path3 = Path(data_3d)
    pos3 = read_npz_object(path3, "positions_3d")
    if not isinstance(pos3, dict):
        raise fail(path3, "'positions_3d' must be a dict subject -> action -> (T, 32|17, 3)")
    missing_split: list[str] = []
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        if subjects:
            raise ValueError("give split or subjects, not both")
        missing_split = [s for s in SPLITS[split] if s not in pos3]
        subjects = [s for s in SPLITS[split] if s in pos3]
        if not subjects:
            raise fail(path3, f"none of the {split} subjects {SPLITS[split]} is in the file")
    subjects = list(subjects) if subjects else sorted(pos3)
    for s in subjects:
        if s not in EXTRINSICS:
            raise fail(
                path3, f"no camera extrinsics for subject {s!r} (known: {sorted(EXTRINSICS)})"
            )
        if s not in pos3:
            raise fail(path3, f"subject {s!r} not in the file (has: {sorted(pos3)})")
    cameras = list(range(len(CAMERAS))) if cameras is None else [int(c) for c in cameras]
    if any(not 0 <= c < len(CAMERAS) for c in cameras):
        raise ValueError(f"camera indices must be in 0..3, got {cameras}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")

    gt2d = det = None
    meta: dict[str, Any] = {"source": "h36m", "file_3d": str(path3)}
    if data_2d is not None:
        gt2d = read_npz_object(data_2d, "positions_2d")
        meta["file_2d"] = str(data_2d)
    det_layout = None
    if detections is not None:
        det = read_npz_object(detections, "positions_2d")
        meta["file_detections"] = str(detections)
        det_layout = detections_layout
        if det_layout is None:
            try:
                md = read_npz_object(detections, "metadata")
                name = md.get("layout_name", "h36m") if isinstance(md, dict) else "h36m"
            except ValueError:
                name = "h36m"  # e.g. PoseAug's files hold only positions_2d
            if name not in DETECTION_LAYOUTS:
                raise fail(detections, f"unknown metadata layout_name {name!r}")
            det_layout = DETECTION_LAYOUTS[name]
        meta["detections_layout"] = det_layout

    parts, dropped, discrepancy, trimmed = [], [], 0.0, 0
    has_conf = None
    for s in subjects:
        for action in sorted(pos3[s]):
            if (s, action) in CORRUPTED:
                dropped.append(f"{s}/{action}")
                continue
            world = numeric(pos3[s][action], path3, f"positions_3d[{s}][{action!r}]")
            if world.ndim != 3 or world.shape[1:] not in ((32, 3), (17, 3)):
                raise fail(path3, f"{s}/{action!r}: expected (T, 32|17, 3), got {world.shape}")
            if not np.all(np.isfinite(world)):
                raise fail(path3, f"{s}/{action!r}: non-finite 3D coordinates")
            if np.abs(world).max() > 100:
                raise fail(path3, f"{s}/{action!r}: coordinates look like mm, metres expected")
            if world.shape[1] == 32:
                world, _ = map_to_h36m17(world, source="h36m32")
            n_frames = world.shape[0]
            frames = np.arange(0, n_frames, stride)
            gt_seq = det_seq = None
            if gt2d is not None:
                gt_seq = _as_2d_list(_seq(gt2d, s, action, data_2d, "2D file"), data_2d, s, action)
            if det is not None:
                det_seq = _as_2d_list(
                    _seq(det, s, action, detections, "detections"), detections, s, action
                )
            for cam in cameras:
                x_cam, uv = project_sequence(world[frames], s, cam)
                gt = uv
                if gt_seq is not None:
                    g = gt_seq[cam]
                    if g.shape != (n_frames, 17, 2):
                        raise fail(
                            data_2d,
                            f"{s}/{action!r} camera {cam}: 2D shape {g.shape}, expected "
                            f"({n_frames}, 17, 2) to match the 3D",
                        )
                    g = g[frames].astype(np.float64)
                    d = float(np.abs(g - uv).max()) if g.size else 0.0
                    if not d <= max_2d_discrepancy:
                        raise fail(
                            data_2d,
                            f"{s}/{action!r} camera {cam}: 2D differs from the projected 3D by "
                            f"{d:.3f} px (> {max_2d_discrepancy}); wrong file or camera order?",
                        )
                    discrepancy = max(discrepancy, d)
                    gt = g
                ca = camera_arrays(cam)
                n = len(frames)
                part = {
                    "pose_3d": x_cam,
                    "intrinsics": np.tile(ca["intrinsics"], (n, 1)),
                    "image_size": np.tile(ca["image_size"], (n, 1)),
                    "subject": np.full(n, s),
                    "action": np.full(n, action),
                    "camera": np.full(n, CAMERAS[cam]["id"]),
                }
                if det_seq is None:
                    part["keypoints_2d"] = gt
                    part["confidence"] = np.ones((n, 17))
                else:
                    d2 = det_seq[cam]
                    if d2.ndim != 3 or d2.shape[-1] not in (2, 3) or d2.shape[0] < n_frames:
                        raise fail(
                            detections,
                            f"{s}/{action!r} camera {cam}: detections shape {d2.shape}; need "
                            f"(T>={n_frames}, J, 2|3)",
                        )
                    trimmed += int(d2.shape[0] > n_frames)
                    d2 = d2[:n_frames][frames].astype(np.float64)
                    seq_conf = d2.shape[-1] == 3
                    if has_conf is None:
                        has_conf = seq_conf
                    elif has_conf != seq_conf:
                        raise fail(detections, "mixes sequences with and without scores")
                    sc = clip_scores(d2[..., 2], meta) if seq_conf else None
                    try:
                        xy, conf = map_to_h36m17(d2[..., :2], sc, source=det_layout)
                    except ValueError as e:
                        raise fail(detections, f"{s}/{action!r} camera {cam}: {e}") from e
                    part["keypoints_2d"], part["confidence"] = xy, conf
                    part["keypoints_2d_gt"] = gt
                # float32 on disk (3e-5 px rounding at 1000 px) halves the size of a full split.
                for k in ("keypoints_2d", "keypoints_2d_gt", "pose_3d", "confidence"):
                    if k in part:
                        part[k] = part[k].astype(np.float32)
                parts.append(part)
    arrays = stack(parts, path3)
    meta.update(
        {
            "split": split,
            "subjects": subjects,
            "split_subjects_missing": missing_split,
            "cameras": [CAMERAS[c]["id"] for c in cameras],
            "stride": stride,
            "dropped_sequences": dropped,
            "keypoints_2d": "detections" if det is not None else "ground truth",
            "gt_2d": "data_2d file" if gt2d is not None else "projected 3D (distorted)",
            "max_2d_discrepancy_px": discrepancy,
            "detections_trimmed_sequences": trimmed,
            "detections_have_scores": bool(has_conf) if det is not None else None,
            "distortion": {
                c["id"]: {"radial_k": list(c["radial"]), "tangential_p": list(c["tangential"])}
                for c in CAMERAS
            },
            "ids": {"subject": "subject", "action": "action", "camera": "camera id"},
        }
    )
    return Converted(arrays, meta)


def main(argv: Sequence[str] | None = None) -> int:
    p = make_parser("h36m", __doc__)
    p.add_argument("--data-3d", required=True, help="data_3d_h36m.npz (positions_3d)")
    p.add_argument("--data-2d", help="data_2d_h36m_gt.npz (released GT 2D; optional)")
    p.add_argument("--detections", help="data_2d_h36m_<detector>.npz (2D detections)")
    p.add_argument("--detections-layout", choices=sorted(DETECTION_LAYOUTS.values()))
    g = p.add_mutually_exclusive_group()
    g.add_argument("--split", choices=sorted(SPLITS), help="train=S1,S5-S8; test=S9,S11")
    g.add_argument("--subjects", help="comma-separated subjects, e.g. S1,S5")
    p.add_argument("--cameras", help="comma-separated camera indices 0..3 (default all)")
    p.add_argument("--stride", type=int, default=1, help="keep every n-th frame")
    p.add_argument("--max-2d-discrepancy", type=float, default=1.0, help="px, for --data-2d")

    def run(a):
        cams = parse_list(a.cameras)
        return convert(
            a.data_3d,
            data_2d=a.data_2d,
            detections=a.detections,
            detections_layout=a.detections_layout,
            split=a.split,
            subjects=parse_list(a.subjects),
            cameras=[int(c) for c in cams] if cams else None,
            stride=a.stride,
            max_2d_discrepancy=a.max_2d_discrepancy,
        )

    return run_cli(p, run, argv)


if __name__ == "__main__":
    sys.exit(main())
