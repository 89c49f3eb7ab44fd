"""The synthetic world's cameras, per domain, and the views of world poses through them.

* ``lab``: the fixed ring of 4 Human3.6M-like cameras (``synthetic_sensors.RIGS['rig1']``:
  f ~ 1145 px, 1000x1000, 4-6 m), every pose seen by all four.
* ``rig2``: the 3DHP-like rig (``RIGS['rig2']``: 2048x2048 at f ~ 1500 px and one 1920x1080,
  2.5-5.5 m, low and high viewpoints), every pose seen by all four.
* ``phone``: 3DPW-like phone video, portrait 1080x1920 (70 %) or landscape, focal from a 52-60°
  field of view on the long side (f ~ 1660-1970 px), held 1-1.8 m high, person 2-7 m away in
  the central part of the frame.
* ``web``: YouTube-style landscape frames (1280x720, 1920x1080, 854x480, 640x480), focal from a
  50-80° field of view on the long side, people large (45-90 % of the image height) and
  central, camera 0.3-4 m high.
* ``stress``: random wild cameras (focal 500-2500 px log-uniform, common image sizes, 2-15 m,
  elevation mostly near eye level, person anywhere in the frame, at least 64 px tall).

Every camera but a rig's is drawn per pose and redrawn until it sees the whole body.
:func:`view` returns the camera-frame 3D and its exact 2D projection (``geometry.project``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cpose_jax.data import synthetic_body as body
from cpose_jax.data import synthetic_sensors as sensors

__all__ = ["DOMAINS", "RIG", "Views", "capture_radius", "view", "views_per_pose"]

DOMAINS = ("lab", "rig2", "phone", "web", "stress")
#: The domains filmed by a fixed rig (``synthetic_sensors.RIGS``): domain -> rig name.
RIG = {"lab": "rig1", "rig2": "rig2"}

#: Phone video: image sizes (w, h) and their weights (3DPW's phone has f = 1962 px).
_PHONE_SIZES = np.array([[1080.0, 1920.0], [1920.0, 1080.0]])
_PHONE_WEIGHTS = np.array([0.7, 0.3])
#: Web frames: image sizes (w, h) and their weights.
_WEB_SIZES = np.array([[1280.0, 720.0], [1920.0, 1080.0], [854.0, 480.0], [640.0, 480.0]])
_WEB_WEIGHTS = np.array([0.4, 0.3, 0.15, 0.15])


class Views(NamedTuple):
    """Samples of world poses seen through cameras, ``(N, ...)``.

    ``pose`` (N,) index of the world pose each sample shows; ``camera`` (N,) camera names
    (``rig1_c0`` .. for a rig, else the domain); ``centre`` (N, 3) world m; ``rotation``
    (N, 3, 3) world -> camera; ``intrinsics`` (N, 4) px; ``image_size`` (N, 2) px; ``pose_3d``
    (N, 17, 3) camera frame m; ``keypoints_2d_gt`` (N, 17, 2) px, the projection of ``pose_3d``.
    """

    pose: np.ndarray
    camera: np.ndarray
    centre: np.ndarray
    rotation: np.ndarray
    intrinsics: np.ndarray
    image_size: np.ndarray
    pose_3d: np.ndarray
    keypoints_2d_gt: np.ndarray


def views_per_pose(domain: str) -> int:
    """How many samples one world pose gives: a rig's camera count, else 1."""
    return len(sensors.RIGS[RIG[domain]]["intrinsics"]) if domain in RIG else 1


def capture_radius(domain: str) -> float:
    """Radius (m) around the origin where people stand: a rig's capture area, else 0 (the
    camera is placed around the person)."""
    return sensors.RIGS[RIG[domain]]["capture_radius"] if domain in RIG else 0.0


def view(rng, x_world, domain: str, num_samples: int | None = None) -> Views:
    """World poses ``(P, 17, 3)`` (z up, m) seen through the cameras of ``domain``.

    A rig shows every pose through each of its cameras (pose-major; the first ``num_samples``
    are kept, default all); any other domain draws one camera per pose from ``rng``.
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown camera domain {domain!r}; domains are {DOMAINS}")
    n_pose = x_world.shape[0]
    if domain in RIG:
        n_cam = views_per_pose(domain)
        n = n_pose * n_cam if num_samples is None else num_samples
        pose = np.repeat(np.arange(n_pose), n_cam)[:n]
        cam = np.tile(np.arange(n_cam), n_pose)[:n]
        centre, rot, intr, size = sensors.rig_cameras(RIG[domain], cam)
        camera = np.char.add(f"{RIG[domain]}_c", cam.astype(str))
    else:
        pose = np.arange(n_pose)
        if domain == "stress":
            centre, rot, intr, size = _wild_cameras(rng, x_world)
        else:
            centre, rot, intr, size = _aimed_cameras(rng, x_world, domain)
        camera = np.full(n_pose, domain)
    x_cam = _to_camera(x_world[pose], centre, rot)
    gt = sensors.project_px(x_cam, intr)
    return Views(pose, camera, centre, rot, intr, size, x_cam, gt)


def _to_camera(x_world, centre, rotation):
    return np.einsum("nij,nkj->nki", rotation, x_world - centre[:, None, :])


def _focal_from_fov(rng, wh, lo_deg, hi_deg):
    """Focal (px) from a horizontal field of view on the LONG image side, uniform in degrees."""
    fov = np.deg2rad(rng.uniform(lo_deg, hi_deg, wh.shape[0]))
    return 0.5 * wh.max(-1) / np.tan(0.5 * fov)


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
    """Stress-test cameras: one random camera per pose that sees the whole body, at least 64 px
    tall, from 0.2 m above the ground or more."""
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
