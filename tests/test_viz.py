"""cpose_jax.viz: figures of the session's tiny model's predictions are written and not blank,
with both body sides drawn in their colours; wrong shapes raise clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread
from test_evaluate import trained_workdir

from cpose_jax import viz


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    return trained_workdir(tmp_path_factory)


def _has_colour(img: np.ndarray, hex_colour: str, tol: float = 0.08) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool(np.any(np.all(np.abs(img[..., :3] - rgb) < tol, axis=-1)))


def test_figures_of_predictions(trained, tmp_path):
    from cpose_jax.data import schema
    from cpose_jax.io_keypoints import Keypoints
    from experiments import evaluate, infer

    ds = schema.load_dataset(trained["world"] / "wild_test.npz")
    n = 5
    kp = Keypoints(
        ds["keypoints_2d"][:n],
        ds["confidence"][:n],
        ds["image_size"][:n],
        np.arange(n).astype(str),
        np.arange(n),
        {},
        "h36m17",
    )
    model = evaluate.load_model(trained["workdir"])
    out = infer.infer(model, kp, batch_size=8)
    paths = infer.write_figures(tmp_path, out, skeleton=model.skeleton, max_people=n, rows=3)
    assert [p.name for p in paths] == ["people_000.png", "people_001.png"]
    img = imread(paths[0])
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
