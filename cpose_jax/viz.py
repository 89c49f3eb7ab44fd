"""Matplotlib figures of predictions (paper Fig. 8 layout): input 2D, 3D skeleton from two
viewpoints, and the reprojection of the 3D through the predicted camera over the input.

Bones are drawn from a :class:`~cpose_jax.skeleton.Skeleton`; a bone takes the side of its child
joint: right = red, left = blue, centre = dark grey. Figures are built on
``matplotlib.figure.Figure`` (no pyplot state, no display needed).

* :func:`person_figure`: one person, four panels (input 2D | 3D front | 3D side | reprojection).
* :func:`grid_figure`: many people, one row of those panels each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from cpose_jax.skeleton import H36M17, Skeleton

__all__ = [
    "draw_2d",
    "draw_3d",
    "draw_confidence",
    "frame_2d",
    "grid_figure",
    "person_figure",
    "save_figure",
]

RIGHT, LEFT, CENTRE = "#d62728", "#1f77b4", "#404040"
REPROJ = "#2ca02c"


def _side_colours(skeleton: Skeleton) -> list[str]:
    """Colour per joint (the bone ending at a joint takes that joint's colour)."""
    right, left = set(skeleton.right_joints), set(skeleton.left_joints)
    return [
        RIGHT if j in right else LEFT if j in left else CENTRE for j in range(skeleton.num_joints)
    ]


def draw_2d(
    ax,
    keypoints_2d: np.ndarray,
    *,
    skeleton: Skeleton = H36M17,
    confidence: np.ndarray | None = None,
    colour: str | None = None,
    lw: float = 2.0,
    ls: str = "-",
    alpha: float = 1.0,
    label: str | None = None,
    min_confidence: float = 0.0,
    joints: bool = True,
) -> None:
    """Draws one 2D skeleton `(J, 2)` pixels (y down) on `ax`.

    Joints with `confidence <= min_confidence` (missing) and bones touching them are left out.
    `colour=None` colours bones by side. `joints=False` draws the bones only (no joint dots).
    """
    kp = np.asarray(keypoints_2d, np.float64)
    if kp.shape != (skeleton.num_joints, 2):
        raise ValueError(f"keypoints_2d must be ({skeleton.num_joints}, 2), got {kp.shape}")
    ok = np.all(np.isfinite(kp), -1)
    if confidence is not None:
        ok &= np.asarray(confidence) > min_confidence
    cols = _side_colours(skeleton)
    for i, (p, c) in enumerate(skeleton.bone_pairs):
        if ok[p] and ok[c]:
            ax.plot(
                kp[[p, c], 0],
                kp[[p, c], 1],
                color=colour or cols[c],
                lw=lw,
                ls=ls,
                alpha=alpha,
                solid_capstyle="round",
                label=label if i == 0 else None,
            )
    if joints:
        ax.scatter(
            kp[ok, 0], kp[ok, 1], s=4 * lw, c=colour or "k", zorder=3, alpha=alpha, linewidths=0
        )


def draw_confidence(
    ax,
    keypoints_2d: np.ndarray,
    confidence: np.ndarray,
    *,
    size: float = 14.0,
    only_seen: bool = True,
):
    """Dots at the 2D joints `(J, 2)` px coloured by `confidence (J,)` in [0, 1] (viridis);
    `only_seen=True` leaves out joints with confidence 0. Returns the scatter (for a colorbar)."""
    kp, conf = np.asarray(keypoints_2d), np.asarray(confidence)
    if kp.shape[:-1] != conf.shape:
        raise ValueError(f"keypoints_2d {kp.shape} and confidence {conf.shape} do not match")
    ok = conf > 0 if only_seen else np.ones(conf.shape, bool)
    return ax.scatter(
        kp[ok, 0], kp[ok, 1], c=conf[ok], cmap="viridis", vmin=0, vmax=1, s=size, zorder=4,
        linewidths=0,
    )  # fmt: skip


def draw_3d(
    ax,
    pose_3d: np.ndarray,
    *,
    skeleton: Skeleton = H36M17,
    elev: float = 10.0,
    azim: float = -80.0,
    radius: float | None = None,
    title: str | None = None,
    zoom: float = 1.0,
) -> None:
    """Draws a root-relative 3D pose `(J, 3)` metres, camera frame (x right, y down, z forward),
    on a 3D axis with up = image up, viewed from (elev, azim) degrees.

    The panel is a cube of half-side `radius` metres (default: fits the pose) around the pose's
    bounding box; a fixed `radius` keeps one scale across panels. `zoom` scales the drawn box.
    """
    x = np.asarray(pose_3d, np.float64)
    if x.shape != (skeleton.num_joints, 3):
        raise ValueError(f"pose_3d must be ({skeleton.num_joints}, 3), got {x.shape}")
    # Camera frame -> plot axes (x, z, -y): the plot's vertical axis is image-up.
    p = np.stack([x[:, 0], x[:, 2], -x[:, 1]], -1)
    p = p - p[:1]
    cols = _side_colours(skeleton)
    for par, c in skeleton.bone_pairs:
        ax.plot(*p[[par, c]].T, color=cols[c], lw=2.2, solid_capstyle="round")
    ax.scatter(*p.T, s=6, c="k", depthshade=False)
    # A cube around the pose's bounding box (the pose fills the panel at any size).
    lo, hi = p.min(0), p.max(0)
    ctr = 0.5 * (lo + hi)
    r = radius or max(0.3, 0.55 * float((hi - lo).max()))
    ax.set(xlim=(ctr[0] - r, ctr[0] + r), ylim=(ctr[1] - r, ctr[1] + r))
    ax.set(zlim=(ctr[2] - r, ctr[2] + r))
    ax.set(xticklabels=[], yticklabels=[], zticklabels=[])
    ax.set_xlabel("x", labelpad=-12, fontsize=7)
    ax.set_ylabel("depth", labelpad=-12, fontsize=7)
    ax.set_box_aspect((1, 1, 1), zoom=zoom)
    ax.view_init(elev=elev, azim=azim)
    # A faint floor square at the lowest joint helps reading the pose.
    z0 = p[:, 2].min()
    sq = np.array([[-r, -r], [r, -r], [r, r], [-r, r], [-r, -r]]) * 0.6 + ctr[:2]
    ax.plot(sq[:, 0], sq[:, 1], np.full(5, z0), color="0.75", lw=0.8)
    if title:
        ax.set_title(title, fontsize=9)


def frame_2d(
    ax, points: Sequence[np.ndarray], *, image_size: np.ndarray | None = None, crop: bool
) -> None:
    """Sets a 2D panel's limits (y down, equal aspect, no ticks): `crop=True` zooms on the finite
    `points` (arrays `(..., 2)` px), else the whole image `image_size (2,)` w, h px."""
    pts = np.concatenate([np.asarray(p).reshape(-1, 2) for p in points], 0)
    pts = pts[np.all(np.isfinite(pts), -1)]
    if crop and len(pts):
        lo, hi = pts.min(0), pts.max(0)
        ctr, half = 0.5 * (lo + hi), 0.6 * max(float((hi - lo).max()), 1.0)
        ax.set(xlim=(ctr[0] - half, ctr[0] + half), ylim=(ctr[1] + half, ctr[1] - half))
    elif image_size is not None:
        ax.set(xlim=(0, image_size[0]), ylim=(image_size[1], 0))
    ax.set(aspect="equal", xticks=[], yticks=[])


def _panels(fig, axes_row, person: dict, skeleton: Skeleton, *, crop: bool, titles: bool):
    kp = np.asarray(person["keypoints_2d"])
    conf = person.get("confidence")
    size = person.get("image_size")
    image = person.get("image")
    ax2d, ax_front, ax_side, ax_rep = axes_row
    for ax in (ax2d, ax_rep):
        if image is not None:
            ax.imshow(image)
        ax.set_facecolor("0.97")
    draw_2d(ax2d, kp, skeleton=skeleton, confidence=conf)
    if conf is not None:
        draw_confidence(ax2d, kp, conf)
    frame_2d(
        ax2d, [kp[np.asarray(conf) > 0] if conf is not None else kp], image_size=size, crop=crop
    )
    pose = person.get("pose_3d")
    if pose is not None:
        draw_3d(ax_front, pose, skeleton=skeleton, elev=8, azim=-90)
        draw_3d(ax_side, pose, skeleton=skeleton, elev=15, azim=-20)
    rep = person.get("reprojection")
    draw_2d(ax_rep, kp, skeleton=skeleton, confidence=conf, colour="0.55", lw=3.0, alpha=0.7)
    if rep is not None:
        draw_2d(ax_rep, np.asarray(rep), skeleton=skeleton, lw=1.6)
        err = person.get("reprojection_error_px")
        if err is not None:
            ax_rep.text(
                0.03, 0.03, f"mean error {err:.1f} px", transform=ax_rep.transAxes, fontsize=7,
                color="0.1", va="bottom",
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8),
            )  # fmt: skip
    frame_2d(
        ax_rep, [kp[np.asarray(conf) > 0] if conf is not None else kp], image_size=size, crop=crop
    )
    if titles:
        ax2d.set_title("input 2D (dots: confidence)", fontsize=9)
        ax_front.set_title("3D, front", fontsize=9)
        ax_side.set_title("3D, side", fontsize=9)
        ax_rep.set_title("reprojection (grey: input)", fontsize=9)
    label = person.get("label")
    if label:
        ax2d.set_ylabel(label, fontsize=8)


def grid_figure(
    people: Sequence[dict],
    *,
    skeleton: Skeleton = H36M17,
    crop: bool = True,
    panel_size: float = 2.6,
    title: str | None = None,
) -> Figure:
    """One row per person: input 2D | 3D front | 3D side | reprojection over the input.

    Each person is a dict with `keypoints_2d (J, 2)` px and optionally `confidence (J,)`,
    `pose_3d (J, 3)` root-relative metres (camera frame), `reprojection (J, 2)` px,
    `image_size (2,)` w, h px, `image` (an RGB array drawn under the 2D panels), `label` (str)
    and `reprojection_error_px` (float). `crop=True` zooms each 2D panel on the person.
    """
    if not people:
        raise ValueError("grid_figure needs at least one person")
    n = len(people)
    fig = Figure(figsize=(4 * panel_size, n * panel_size), layout="constrained")
    for i, person in enumerate(people):
        row = [
            fig.add_subplot(n, 4, 4 * i + 1),
            fig.add_subplot(n, 4, 4 * i + 2, projection="3d"),
            fig.add_subplot(n, 4, 4 * i + 3, projection="3d"),
            fig.add_subplot(n, 4, 4 * i + 4),
        ]
        _panels(fig, row, person, skeleton, crop=crop, titles=i == 0)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def person_figure(person: dict, *, skeleton: Skeleton = H36M17, crop: bool = True) -> Figure:
    """The four panels of one person (see :func:`grid_figure`)."""
    return grid_figure([person], skeleton=skeleton, crop=crop)


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Writes `fig` all or nothing (format from the suffix, e.g. .png / .pdf); creates the
    folder."""
    from cpose_jax import atomic_io

    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    atomic_io.write_files({path: atomic_io.figure_bytes(fig, fmt=fmt, dpi=dpi)})
    return path
