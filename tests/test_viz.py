"""cpose_jax.viz: figures of people (a synthetic world's detections, true 3D and true 2D as the
"reprojection") are written and not blank, with both body sides drawn in their colours; wrong
shapes raise clear errors. Library only: no trained model, no experiment code."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from cpose_jax import geometry, viz
from cpose_jax.data import schema, synthetic


def _has_colour(img: np.ndarray, hex_colour: str, tol: float = 0.08) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool(np.any(np.all(np.abs(img[..., :3] - rgb) < tol, axis=-1)))


def test_figures_of_people(tmp_path):
    sizes = {k: 8 for k in synthetic.DEFAULT_SIZES}
    world = synthetic.make_world(0, sizes=sizes, cache_dir=str(tmp_path / "world"))
    ds = schema.load_dataset(world["wild_test"])
    people = []
    for i in range(3):
        gt = np.asarray(ds["keypoints_2d_gt"][i])
        err = np.linalg.norm(gt - ds["keypoints_2d"][i], axis=-1).mean()
        people.append(
            {
                "keypoints_2d": ds["keypoints_2d"][i],
                "confidence": ds["confidence"][i],
                "pose_3d": np.asarray(geometry.root_relative(ds["pose_3d"][i])),
                "image_size": ds["image_size"][i],
                "reprojection": gt,
                "reprojection_error_px": float(err),
                "label": f"person {i}",
            }
        )
    path = viz.save_figure(viz.grid_figure(people), tmp_path / "people.png")
    img = imread(path)
    assert img.shape[0] > 600 and img.shape[1] > 1000  # 3 rows x 4 panels
    gray = img[..., :3].mean(-1)
    assert gray.std() > 0.05 and (gray < 0.5).mean() > 0.002  # drawn, not a blank page
    assert _has_colour(img, viz.RIGHT) and _has_colour(img, viz.LEFT)


def test_person_figure_without_camera_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.3, (17, 3))
    pose[0] = 0
    person = {"keypoints_2d": rng.uniform(0, 100, (17, 2)), "pose_3d": pose, "label": "x"}
    path = viz.save_figure(viz.person_figure(person), tmp_path / "sub" / "one.pdf")
    assert path.exists() and path.stat().st_size > 5_000
    fig = viz.grid_figure([person])
    ax = fig.axes[0]
    with pytest.raises(ValueError, match=r"\(17, 2\), got \(16, 2\)"):
        viz.draw_2d(ax, np.zeros((16, 2)))
    with pytest.raises(ValueError, match=r"\(17, 3\), got \(17, 2\)"):
        viz.draw_3d(fig.axes[1], np.zeros((17, 2)))
    with pytest.raises(ValueError, match="at least one person"):
        viz.grid_figure([])


def test_drawing_options():
    """The options the synthetic world's figures use: bones without dots, confidence dots,
    a crop around the points, a fixed 3D radius."""
    from matplotlib.figure import Figure

    rng = np.random.default_rng(1)
    kp = rng.uniform(100, 200, (17, 2))
    conf = np.linspace(0.0, 1.0, 17)  # joint 0 unseen
    fig = Figure()
    ax = fig.add_subplot(1, 2, 1)
    viz.draw_2d(ax, kp, ls="--", joints=False)
    assert not ax.collections and len(ax.lines) == 16  # 16 bones, no joint dots
    assert ax.lines[0].get_linestyle() == "--"
    dots = viz.draw_confidence(ax, kp, conf)
    assert len(dots.get_offsets()) == 16  # confidence 0 left out
    assert len(viz.draw_confidence(ax, kp, conf, only_seen=False).get_offsets()) == 17
    with pytest.raises(ValueError, match="do not match"):
        viz.draw_confidence(ax, kp, conf[:5])
    viz.frame_2d(ax, [kp], image_size=(1000, 500), crop=True)
    lo, hi = kp.min(0), kp.max(0)
    x0, x1 = ax.get_xlim()
    assert x0 < lo[0] and x1 > hi[0] and x1 - x0 < 200  # zoomed on the points, not the image
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # y down
    viz.frame_2d(ax, [kp], image_size=(1000, 500), crop=False)
    assert ax.get_xlim() == (0, 1000) and ax.get_ylim() == (500, 0)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    viz.draw_3d(ax3, rng.normal(0, 0.2, (17, 3)), radius=0.9, zoom=1.3)
    x0, x1 = ax3.get_xlim()
    assert x1 - x0 == pytest.approx(1.8)
