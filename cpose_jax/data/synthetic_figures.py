"""Figures of the synthetic world: every movement as a filmstrip, sample poses of each split."""

from __future__ import annotations

import numpy as np

from cpose_jax.data import synthetic_body as body
from cpose_jax.data import synthetic_motion as motion
from cpose_jax.data.schema import Dataset

__all__ = ["make_figure", "make_motion_figure"]


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
